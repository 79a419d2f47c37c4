"""The hub's response rules: month windows, zero-filled timelines, the 31-day installs window, status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from metrics_pipeline.api.backends.base import PluginFacts, PluginQuery

WINDOW_DAYS = 30  # installs_in_last_30_days: today - 30 .. today, both ends included
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def plugin_query(plugin: str, limit: int, today: date, installs: bool = True, commits: bool = True) -> PluginQuery:
    last_month = add_months(today.replace(day=1), -1)
    first_month = add_months(last_month, -(limit - 1)) if limit > 0 else None
    return PluginQuery(
        plugin=plugin, first_month=first_month, last_month=last_month if limit > 0 else None,
        window_start=today - timedelta(days=WINDOW_DAYS), window_end=today, installs=installs, commits=commits,
    )


def month_ms(month: date) -> int:
    return (datetime(month.year, month.month, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)


def datetime_ms(value: datetime) -> int:
    """Milliseconds since the epoch (naive = UTC), rounded half away from zero as DuckDB's epoch_ms
    rounds them for the DynamoDB sink, so every backend gives the same number."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    micros = (aware - EPOCH) // timedelta(microseconds=1)
    return (abs(micros) + 500) // 1000 * (1 if micros >= 0 else -1)


def _months(query: PluginQuery) -> list[date]:
    if query.first_month is None:
        return []
    months, month = [], query.first_month
    while month <= query.last_month:
        months.append(month)
        month = add_months(month, 1)
    return months


def usage(query: PluginQuery, facts: PluginFacts) -> dict:
    timeline = [{"timestamp": month_ms(m), "installs": facts.monthly_installs.get(m, 0)} for m in _months(query)]
    return {"timeline": timeline,
            "stats": {"total_installs": facts.total_installs, "installs_in_last_30_days": facts.installs_in_window}}


def maintenance(query: PluginQuery, facts: PluginFacts) -> dict:
    timeline = [{"timestamp": month_ms(m), "commits": facts.monthly_commits.get(m, 0)} for m in _months(query)]
    latest = facts.latest_commit_ms
    if latest is None and facts.latest_commit_at is not None:
        latest = datetime_ms(facts.latest_commit_at)
    return {"timeline": timeline, "stats": {"total_commits": facts.total_commits, "latest_commit_timestamp": latest}}


def data_status(query: PluginQuery, facts: PluginFacts, today: date, stale_after_days: int) -> dict:
    """Last complete day per source and whether it is older than yesterday by more than allowed."""
    yesterday = today - timedelta(days=1)
    status = {}
    for source, wanted in (("installs", query.installs), ("commits", query.commits)):
        if not wanted:
            continue
        day = facts.last_complete_day.get(source)
        entry = {
            "last_complete_day": day.isoformat() if day else None,
            "stale": day is None or (yesterday - day).days > stale_after_days,
        }
        if source == "commits":
            held_from = facts.commit_months_from
            complete = query.first_month is None or held_from is None or query.first_month >= held_from
            entry["timeline_complete"] = complete
            if not complete:
                entry["note"] = (
                    f"this backend holds monthly commits from {held_from:%Y-%m} only (DynamoDB keeps 15 months); "
                    "earlier months read as 0: the postgres or duckdb backend serves longer timelines"
                )
        status[source] = entry
    return status
