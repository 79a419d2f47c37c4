"""GET /metrics/{plugin}/community: its repo's community metrics by month (hub timeline rules), totals, freshness."""

from __future__ import annotations

from datetime import date, timedelta

from metrics_pipeline.api.backends.base import CommunityFacts, CommunityQuery
from metrics_pipeline.api.export import COMMUNITY_METRICS
from metrics_pipeline.api.timeline import add_months, month_ms

HOURS_DIGITS = 2  # hours are served to 0.01 h (36 s); export keeps full precision
UNAVAILABLE = (
    "community metrics are not in DynamoDB (METRICS_API_BACKEND=dynamodb): set METRICS_API_BACKEND to postgres "
    "or duckdb, or METRICS_API_EXPORT_BACKEND to postgres or duckdb to serve them from there"
)


def community_query(plugin: str, limit: int, today: date) -> CommunityQuery:
    """`limit` months ending with last month, as the hub endpoint's timelines."""
    last_month = add_months(today.replace(day=1), -1)
    if limit <= 0:
        return CommunityQuery(plugin, None, None)
    return CommunityQuery(plugin, add_months(last_month, -(limit - 1)), last_month)


def _metrics(values: tuple | None) -> dict:
    """Counts as ints (0 when absent); hours rounded, null when no item qualified."""
    out = {}
    for index, name in enumerate(COMMUNITY_METRICS):
        value = values[index] if values is not None else None
        if name.endswith("_hours"):
            out[name] = None if value is None else round(float(value), HOURS_DIGITS)
        else:
            out[name] = 0 if value is None else int(value)
    return out


def community_body(query: CommunityQuery, facts: CommunityFacts, today: date, stale_after_days: int) -> dict:
    """The repo is the one of the plugin's TOTAL row (the registry's current repo); without one, all zeros."""
    totals = sorted((row for row in facts.rows if row.kind == "TOTAL"), key=lambda row: row.repo)
    repo = totals[0].repo if totals else None
    months = {row.period_start: row.metrics for row in facts.rows if row.kind == "MONTH" and row.repo == repo}
    # A day that has not ended (UTC) is never complete, whatever a table holds.
    last_day = max((row.period_start for row in facts.rows if row.kind == "DAY" and row.repo == repo
                    and row.period_start < today), default=None)
    timeline = []
    if query.first_month is not None:
        month = query.first_month
        while month <= query.last_month:
            timeline.append({"timestamp": month_ms(month), **_metrics(months.get(month))})
            month = add_months(month, 1)
    yesterday = today - timedelta(days=1)
    return {
        "community": {"repo": repo, "timeline": timeline, "stats": _metrics(totals[0].metrics if totals else None)},
        "data_status": {"community": {
            "last_complete_day": last_day.isoformat() if last_day else None,
            "stale": last_day is None or (yesterday - last_day).days > stale_after_days,
        }},
    }
