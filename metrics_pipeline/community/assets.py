"""Community activity: the GitHub landing (partition = fetch window), then daily, monthly and total
metrics per plugin repo for the periods that changed, all computed in the warehouse by metrics.sql."""

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pyarrow as pa

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import warehouse_asset, window_dates
from metrics_pipeline.community.github_fetch import CommunityFetcher, fetch_all
from metrics_pipeline.community.landing import land
from metrics_pipeline.landing.batch import iter_days
from metrics_pipeline.partitions import DAILY, partitions_start_date
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, replace_table, transaction

GROUP = "community"
# The 13:00 UTC run must land them by 15:00, else the UI shows these assets as late.
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
        # The window's own days get their metrics (backlogs at the day's end) even without activity.
        con.executemany("INSERT INTO community_dirty_days SELECT ?, ? WHERE ? NOT IN (SELECT day FROM community_dirty_days)",
                        [[d, now, d] for d in iter_days(start, end)])
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


def _today() -> date:
    return datetime.now(timezone.utc).date()


@warehouse_asset(group_name=GROUP, deps=[community_github], freshness_policy=COMMUNITY_FRESHNESS,
                 columns=[("period_start", "date", "UTC day (days that have ended)"), *METRIC_COLUMNS])
def community_daily(registry: PluginRegistry, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """DAY community metrics per plugin repo for every ended day a landing marked (its window, late
    closes, first responses, transfers); today's marks wait until the day has ended."""
    today = _today()
    with warehouse.connect() as con, transaction(con):
        days = [row[0] for row in con.execute(
            "SELECT day FROM community_dirty_days WHERE day < ? ORDER BY day", [today]).fetchall()]
        sql = compute(con, [(_midnight(d), _midnight(d + timedelta(days=1))) for d in days], tracked_repos(registry))
        ranges = changes.day_ranges(days)
        with changes.scope(con, ranges):
            con.execute("DELETE FROM community_daily c WHERE EXISTS "
                        "(SELECT 1 FROM scope s WHERE c.period_start BETWEEN s.first_day AND s.last_day)")
            con.execute(f"INSERT INTO community_daily {sql}")
        rows = con.execute("SELECT count(*) FROM community_daily WHERE list_contains(?, period_start)", [days]).fetchall()[0][0]
        con.execute("DELETE FROM community_dirty_days WHERE day < ?", [today])
        changes.record(con, "community_daily", ranges)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "days": changes.describe(ranges)})


def _months(ranges: list[changes.Range]) -> list[tuple[datetime, datetime]]:
    months = []
    for first, last in changes.whole_months(ranges):
        month = first
        while month <= last:
            following = (month + timedelta(days=32)).replace(day=1)
            months.append((_midnight(month), _midnight(following)))
            month = following
    return months


@warehouse_asset(group_name=GROUP, deps=[community_daily], consumes=("community_daily",),
                 columns=[("period_start", "date", "first day of the UTC month"), *METRIC_COLUMNS])
def community_monthly(registry: PluginRegistry, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """MONTH metrics for the months whose days changed: counts over the month, backlogs at its end,
    medians over the month's items (never summed)."""
    with warehouse.connect() as con, transaction(con):
        todo = changes.pending(con, "community_monthly", ["community_daily"])
        if todo.first_run:
            found = con.execute("SELECT min(period_start), max(period_start) FROM community_daily").fetchall()[0]
            ranges = [] if found[0] is None else [tuple(found)]
        else:
            ranges = todo.ranges()
        months = _months(ranges)
        ranges = changes.whole_months(ranges)
        with changes.scope(con, ranges):
            con.execute("DELETE FROM community_monthly c WHERE EXISTS "
                        "(SELECT 1 FROM scope s WHERE c.period_start BETWEEN s.first_day AND s.last_day)")
            if months:
                con.execute(f"INSERT INTO community_monthly {compute(con, months, tracked_repos(registry))}")
        changes.record(con, "community_monthly", ranges)
        changes.advance(con, todo)
    return dg.MaterializeResult(metadata={"months": changes.describe(ranges)})


@warehouse_asset(group_name=GROUP, deps=[community_monthly], consumes=("community_monthly",), columns=METRIC_COLUMNS)
def community_total(registry: PluginRegistry, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """TOTAL metrics over all history: backlogs now, medians over every item."""
    with warehouse.connect() as con:
        todo = changes.pending(con, "community_total", ["community_monthly"])
        sql = compute(con, [(datetime(1970, 1, 1), datetime(9999, 1, 1))], tracked_repos(registry))
        rows = replace_table(con, "community_total", f"SELECT * EXCLUDE (period_start) FROM ({sql})")
        with transaction(con):
            changes.record(con, "community_total", [changes.WHOLE])
            changes.advance(con, todo)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})
