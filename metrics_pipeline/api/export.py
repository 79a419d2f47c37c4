"""Bulk export: a fixed whitelist of datasets, each a constant query per backend; only values are bound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

PAGE_SIZE_MAX = 1000
# community_daily's metric columns (warehouse) = community_activity's (Postgres), in that order.
COMMUNITY_METRICS = (
    "issues_opened", "prs_opened", "issues_closed", "prs_merged", "prs_closed_unmerged", "open_issues", "open_prs",
    "awaiting_response", "response_median_hours", "response_p90_hours", "unanswered", "close_median_hours",
    "close_p90_hours", "issues_not_closed", "merge_median_hours", "merge_p90_hours", "prs_not_merged",
    "new_contributors", "returning_contributors",
)
COMMUNITY_SELECT = ", ".join(COMMUNITY_METRICS)


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: tuple[str, ...]
    date_column: str | None  # what start/stop filter; None: the dataset has no dates
    order_by: tuple[str, ...]
    duckdb_sql: str  # selects exactly `columns`
    postgres_sql: str


DATASETS = {d.name: d for d in (
    Dataset("daily_installs", ("day", "plugin_name", "install_count"), "day", ("plugin_name", "day"),
            "SELECT download_day AS day, plugin_name, install_count FROM daily_installs",
            "SELECT period_start AS day, plugin_name, install_count FROM install_activity WHERE granularity = 'DAY'"),
    Dataset("monthly_installs", ("month", "plugin_name", "install_count"), "month", ("plugin_name", "month"),
            "SELECT month_start AS month, plugin_name, install_count FROM installs_by_month",
            "SELECT period_start AS month, plugin_name, install_count FROM install_activity WHERE granularity = 'MONTH'"),
    Dataset("total_installs", ("plugin_name", "install_count"), None, ("plugin_name",),
            "SELECT plugin_name, install_count FROM total_installs",
            "SELECT plugin_name, install_count FROM install_activity WHERE granularity = 'TOTAL'"),
    Dataset("monthly_commits", ("month", "plugin_name", "repo", "commit_count"), "month", ("plugin_name", "repo", "month"),
            "SELECT month_start AS month, plugin_name, repo, commit_count FROM commits_by_month",
            "SELECT period_start AS month, plugin_name, repo, commit_count FROM github_activity WHERE granularity = 'MONTH'"),
    Dataset("total_commits", ("plugin_name", "repo", "commit_count"), None, ("plugin_name", "repo"),
            "SELECT plugin_name, repo, commit_count FROM total_commits",
            "SELECT plugin_name, repo, commit_count FROM github_activity WHERE granularity = 'TOTAL'"),
    Dataset("latest_commits", ("plugin_name", "repo", "latest_commit_at"), None, ("plugin_name", "repo"),
            "SELECT plugin_name, repo, latest_commit_at FROM latest_commits",
            "SELECT plugin_name, repo, latest_commit_at AT TIME ZONE 'UTC' AS latest_commit_at "
            "FROM github_activity WHERE granularity = 'LATEST'"),
    Dataset("community_daily", ("day", "plugin_name", "repo", *COMMUNITY_METRICS), "day", ("plugin_name", "repo", "day"),
            f"SELECT period_start AS day, plugin_name, repo, {COMMUNITY_SELECT} FROM community_daily",
            f"SELECT period_start AS day, plugin_name, repo, {COMMUNITY_SELECT} FROM community_activity WHERE granularity = 'DAY'"),
    Dataset("community_monthly", ("month", "plugin_name", "repo", *COMMUNITY_METRICS), "month", ("plugin_name", "repo", "month"),
            f"SELECT period_start AS month, plugin_name, repo, {COMMUNITY_SELECT} FROM community_monthly",
            f"SELECT period_start AS month, plugin_name, repo, {COMMUNITY_SELECT} FROM community_activity WHERE granularity = 'MONTH'"),
    Dataset("community_total", ("plugin_name", "repo", *COMMUNITY_METRICS), None, ("plugin_name", "repo"),
            f"SELECT plugin_name, repo, {COMMUNITY_SELECT} FROM community_total",
            f"SELECT plugin_name, repo, {COMMUNITY_SELECT} FROM community_activity WHERE granularity = 'TOTAL'"),
)}
TEXT_COLUMNS = frozenset({"plugin_name", "repo"})


@dataclass(frozen=True)
class ExportRequest:
    dataset: Dataset
    plugin: str | None = None  # PEP 503-normalized
    start: date | None = None  # inclusive
    stop: date | None = None  # inclusive


def statements(request: ExportRequest, dialect: str) -> tuple[str, str, list]:
    """(count SQL, page SQL without LIMIT/OFFSET, parameters); every identifier is a constant above."""
    dataset = request.dataset
    mark = "?" if dialect == "duckdb" else "%s"
    where, params = [], []
    if request.plugin is not None:
        where.append(f"plugin_name = {mark}")
        params.append(request.plugin)
    if request.start is not None:
        where.append(f"{dataset.date_column} >= {mark}")
        params.append(request.start)
    if request.stop is not None:
        where.append(f"{dataset.date_column} <= {mark}")
        params.append(request.stop)
    base = f"SELECT * FROM ({dataset.duckdb_sql if dialect == 'duckdb' else dataset.postgres_sql}) AS d"
    if where:
        base += " WHERE " + " AND ".join(where)
    # Byte order everywhere, so both SQL backends page identically.
    collate = ' COLLATE "C"' if dialect == "postgres" else ""
    order = ", ".join(c + (collate if c in TEXT_COLUMNS else "") for c in dataset.order_by)
    return f"SELECT count(*) FROM ({base}) AS c", f"{base} ORDER BY {order} LIMIT {mark} OFFSET {mark}", params
