"""Community activity: the GitHub landing (partition = fetch window), then daily, monthly and total
metrics per plugin repo, all computed in the warehouse by metrics.sql."""

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pyarrow as pa

from metrics_pipeline.asset_conventions import ROLLUP_AUTOMATION, warehouse_asset, window_dates, window_metadata
from metrics_pipeline.community.github_fetch import CommunityFetcher, fetch_all
from metrics_pipeline.community.landing import land
from metrics_pipeline.partitions import DAILY, MONTHLY, days_of_month, partitions_start_date
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, replace_table, replace_window, transaction

GROUP = "community"
# The 13:15 UTC community run must land by 15:00, else the UI shows these assets as late.
COMMUNITY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 15 * * *", lower_bound_delta=timedelta(hours=2))
METRICS_SQL = Path(__file__).with_name("metrics.sql").read_text()
METRIC_COLUMNS = [
    ("plugin_name", "varchar", "normalized plugin"), ("repo", "varchar", "owner/name as the registry spells it"),
    ("issues_opened", "bigint", "issues opened in the period"), ("prs_opened", "bigint", "PRs opened in the period"),
    ("issues_closed", "bigint", "issues whose current close is in the period"), ("prs_merged", "bigint", "PRs merged in the period"),
    ("prs_closed_unmerged", "bigint", "unmerged PRs whose current close is in the period"),
    ("open_issues", "bigint", "open issues at the period's end"), ("open_prs", "bigint", "open PRs at the period's end"),
    ("awaiting_response", "bigint", "open items at the end with no member comment, or a non-member's latest"),
    ("response_median_hours", "double", "items opened in the period: first non-author, non-bot response"),
    ("response_p90_hours", "double", "as above, 90th percentile (linear)"), ("unanswered", "bigint", "opened, no response yet"),
    ("close_median_hours", "double", "issues opened in the period: to their close"), ("close_p90_hours", "double", ""),
    ("issues_not_closed", "bigint", "issues opened in the period still open"),
    ("merge_median_hours", "double", "PRs opened in the period: to their merge"), ("merge_p90_hours", "double", ""),
    ("prs_not_merged", "bigint", "PRs opened in the period not merged"),
    ("new_contributors", "bigint", "non-bot authors whose first item in the repo is in the period"),
    ("returning_contributors", "bigint", "non-bot authors of items in the period with an earlier first item"),
]


def tracked_repos(registry: PluginRegistry) -> pa.Table:
    pairs = registry.load().plugin_repos
    return pa.table({"plugin_name": [n for n, _ in pairs], "repo": [r for _, r in pairs], "repo_key": [r.lower() for _, r in pairs]},
                    schema=pa.schema([("plugin_name", pa.string()), ("repo", pa.string()), ("repo_key", pa.string())]))


def compute(con, periods: list[tuple[datetime, datetime]], tracked: pa.Table) -> str:
    """Registers the inputs of metrics.sql; returns it (run it inside the caller's statement)."""
    con.register("periods", pa.table({"period_start": [p[0] for p in periods], "period_end": [p[1] for p in periods]},
                                     schema=pa.schema([("period_start", pa.timestamp("us")), ("period_end", pa.timestamp("us"))])))
    con.register("tracked", tracked)
    return METRICS_SQL


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


@warehouse_asset(
    group_name=GROUP,
    partitions_def=DAILY,
    kinds={"github", "duckdb"},
    freshness_policy=COMMUNITY_FRESHNESS,
    columns=[("community_issues", "table", "issues and PRs, latest state per GitHub id, raw JSON"),
             ("community_pull_requests", "table", "PR merge state"), ("community_events", "table", "timelines"),
             ("community_members", "table", "orgs' public members"), ("community_transfers", "table", "moved issues"),
             ("community_event_polls", "table", "ETags of conditional polls")],
)
def community_github(
    context: dg.AssetExecutionContext, github: GitHubApi, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Issues, PRs, timelines and members updated since the window's start (repos new here: their whole history)."""
    start, end = window_dates(context)
    since = datetime.combine(start, datetime.min.time(), timezone.utc)
    repos = {r.lower(): r for _, r in registry.load().plugin_repos}
    with warehouse.connect() as con:
        known = {row[0] for row in con.execute("SELECT repo_key FROM community_repos").fetchall()}
        etags = dict(con.execute("SELECT request, etag FROM community_event_polls").fetchall())
        open_items = con.execute(
            "SELECT repo_key, list(number ORDER BY number) FROM community_issues WHERE state = 'open' GROUP BY ALL").fetchall()
    gh, secrets = github.client()
    try:
        fetched = fetch_all(CommunityFetcher(gh, github.per_page, etags, secrets), list(repos.values()), since, known,
                            dict(open_items))
    finally:
        gh.close()
    activities, failed = fetched.activities, fetched.failures
    member_polls = {k: v for a in fetched.member_polls for k, v in a.polls.items()}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with warehouse.connect() as con:
        counts = land(con, activities, fetched.members, now, now.date(), date.fromisoformat(partitions_start_date()), member_polls)
    gone = sorted(repos[a.repo_key] for a in activities if a.gone)
    renamed = {repos[k]: n for k, n in fetched.names.items() if n and n.lower() != k}
    for repo in gone:
        context.log.warning(f"GitHub repo {repo} is gone (404); fix its registry entry")
    metadata = {
        "repos": len(repos),
        "changed_rows": dg.MetadataValue.json(counts),
        "items_fetched": sum(len(a.issues) for a in activities),
        "not_modified_polls": sum(a.not_modified for a in [*activities, *fetched.member_polls]),
        "full_history_repos": dg.MetadataValue.json(sorted(repos[a.repo_key] for a in activities if a.full_history and not (a.gone or a.error))),
        "gone_repos": dg.MetadataValue.json(gone),
        "renamed_repos": dg.MetadataValue.json(renamed),
        "failed": dg.MetadataValue.json(failed),
        "updated_since": since.isoformat(),
    }
    if failed:
        raise dg.Failure(description=f"{len(failed)} community fetches failed (the others landed): "
                         + "; ".join(f"{k}: {v}" for k, v in sorted(failed.items())), metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


@warehouse_asset(group_name=GROUP, partitions_def=DAILY, deps=[community_github], freshness_policy=COMMUNITY_FRESHNESS,
                 columns=[("period_start", "date", "UTC day"), *METRIC_COLUMNS])
def community_daily(context: dg.AssetExecutionContext, registry: PluginRegistry, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """DAY community metrics per plugin repo for the window's days; clears those days' dirty marks."""
    start, end = window_dates(context)
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    with warehouse.connect() as con, transaction(con):
        sql = compute(con, [(_midnight(d), _midnight(d + timedelta(days=1))) for d in days], tracked_repos(registry))
        rows = replace_window(con, "community_daily", "period_start", start, end, sql)
        con.execute("DELETE FROM community_dirty_days WHERE day >= ? AND day < ?", [start, end])
    return dg.MaterializeResult(metadata=window_metadata(start, end, rows))


def _months(start: date, end: date) -> list[tuple[datetime, datetime]]:
    months, month = [], start.replace(day=1)
    while month < end:
        following = (month + timedelta(days=32)).replace(day=1)
        months.append((_midnight(month), _midnight(following)))
        month = following
    return months


@warehouse_asset(group_name=GROUP, partitions_def=MONTHLY, deps=[days_of_month(community_daily)], automation_condition=ROLLUP_AUTOMATION,
                 columns=[("period_start", "date", "first day of the UTC month"), *METRIC_COLUMNS])
def community_monthly(context: dg.AssetExecutionContext, registry: PluginRegistry, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """MONTH metrics: counts over the month, backlogs at its end, medians over the month's items (never summed)."""
    start, end = window_dates(context)
    with warehouse.connect() as con, transaction(con):
        rows = replace_window(con, "community_monthly", "period_start", start, end,
                              compute(con, _months(start, end), tracked_repos(registry)))
    return dg.MaterializeResult(metadata=window_metadata(start, end, rows))


@warehouse_asset(group_name=GROUP, deps=[community_monthly], automation_condition=ROLLUP_AUTOMATION, columns=METRIC_COLUMNS)
def community_total(registry: PluginRegistry, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """TOTAL metrics over all history: backlogs now, medians over every item."""
    with warehouse.connect() as con:
        sql = compute(con, [(datetime(1970, 1, 1), datetime(9999, 1, 1))], tracked_repos(registry))
        rows = replace_table(con, "community_total", f"SELECT * EXCLUDE (period_start) FROM ({sql})")
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})
