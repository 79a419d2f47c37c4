"""Commits: raw landing per UTC author day, then monthly, total and latest rollups, all in SQL.

Only `raw_commits[day]` is partitioned; the rollups recompute the periods whose inputs changed.
"""

from datetime import date

import dagster as dg
import pyarrow as pa

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import (
    DAILY_FRESHNESS,
    landing_metadata,
    opening_metadata,
    warehouse_asset,
    window_dates,
    window_metadata,
)
from metrics_pipeline.changes import WHOLE
from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.landing.fingerprints import record_fingerprints
from metrics_pipeline.landing.guards import drop_allowed, source_files_spec
from metrics_pipeline.landing.window import land_window, settle
from metrics_pipeline.partitions import DAILY, FIRST_DAY
from metrics_pipeline.quality.raw_checks import COMMITS_MATCH_CHECK, commit_outcomes
from metrics_pipeline.registry import PluginRegistry, guard_registry_shrink, previous_registry_count
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, transaction
from metrics_pipeline.rollups import Rollup, blocking_check, rollup_result

GROUP = "commits"
FINGERPRINT_SOURCE = "commits"

# Source rows -> registry plugins (repo matched case-insensitively, the registry's spelling
# kept); a (plugin, repo, sha) seen twice lands once, the earliest ingested copy winning.
LAND_COMMITS_SQL = """
SELECT CAST(c.commit_author_date AS DATE), r.plugin_name, r.repo, c.sha, c.author_id,
       c.commit_author_date, c.commit_message, c.ingestion_time
FROM incoming c JOIN registry_repos r ON lower(c.repo) = lower(r.repo)
WHERE c.commit_author_date >= $start AND c.commit_author_date < $end
  AND NOT list_contains($keep, CAST(c.commit_author_date AS DATE))
QUALIFY row_number() OVER (
    PARTITION BY r.plugin_name, r.repo, c.sha ORDER BY c.ingestion_time NULLS LAST, c.commit_author_date
) = 1
"""


def _registry_repos(repos: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {"plugin_name": [name for name, _ in repos], "repo": [repo for _, repo in repos]},
        schema=pa.schema([("plugin_name", pa.string()), ("repo", pa.string())]),
    )


@warehouse_asset(
    group_name=GROUP,
    partitions_def=DAILY,
    freshness_policy=DAILY_FRESHNESS,
    check_specs=[
        blocking_check(COMMITS_MATCH_CHECK, "raw_commits",
                       "Each landed day holds exactly the source's distinct commits of registry repos, each once, "
                       "on its author day. What to do: read failing_days; fix the source or registry, then re-run "
                       "the days (nothing of a failing run landed)."),
        source_files_spec("raw_commits"),
    ],
    columns=[
        ("commit_day", "date", "UTC day of commit_author_date"),
        ("plugin_name", "varchar", "normalized plugin whose repo this is"),
        ("repo", "varchar", "owner/name as the registry spells it"),
        ("sha", "varchar", "commit id, unique per plugin and repo"),
        ("author_id", "varchar", ""),
        ("commit_author_date", "timestamp", "UTC"),
        ("commit_message", "varchar", ""),
        ("ingestion_time", "timestamp", "when the source received the row (UTC)"),
    ],
)
def raw_commits(
    context: dg.AssetExecutionContext,
    commits_source: CommitsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
):
    """Commits to registry repos authored on the partition's UTC days, one row per commit."""
    start, end = window_dates(context)
    plugins = registry.load()
    guard_registry_shrink(previous_registry_count(context), plugins, drop_allowed(context), registry.max_drop_fraction)
    repos = plugins.plugin_repos
    batch = commits_source.commits(start, end, sorted({repo for _, repo in repos}))
    keep = batch.files.incomplete_days(start, end) if batch.files else set()
    with warehouse.connect() as con:
        con.register("incoming", batch.rows)
        con.register("registry_repos", _registry_repos(repos))
        landed = land_window(
            con, source=FINGERPRINT_SOURCE, table="raw_commits", column="commit_day", start=start, end=end,
            insert_sql=LAND_COMMITS_SQL, params={"start": start, "end": end}, batch=batch, keep=keep,
            resource=commits_source, drop_allowed=drop_allowed(context),
            check=lambda c: commit_outcomes(c, start, end, keep, list(repos)),
        )
        con.unregister("incoming")
        con.unregister("registry_repos")
    match, files = yield from settle(context, COMMITS_MATCH_CHECK, landed, batch, keep, start, end)
    yield dg.MaterializeResult(
        metadata=window_metadata(start, end, landed.rows)
        | landing_metadata(batch)
        | {"duplicate_rows_dropped": batch.rows.num_rows - landed.rows, "registry_repos": len(repos),
           "days_changed": changes.describe(changes.day_ranges(landed.changed)),
           "registry_plugins": len(plugins.plugins), **plugins.quarantine_metadata()},
    )
    yield match
    yield files


MONTHLY_ROLLUP = Rollup(
    table="monthly_commits",
    inputs=("raw_commits",),
    period_column="month_start",
    monthly=True,
    select_sql="""
        SELECT CAST(date_trunc('month', commit_day) AS DATE), plugin_name, repo,
               count(DISTINCT sha)::BIGINT, max(commit_author_date)
        FROM raw_commits r
        WHERE EXISTS (SELECT 1 FROM scope s WHERE r.commit_day BETWEEN s.first_day AND s.last_day)
        GROUP BY ALL
    """,
    check_sql="""
        SELECT coalesce(m.month_start, r.month_start) || ' ' || coalesce(m.plugin_name, r.plugin_name) || ' '
               || coalesce(m.repo, r.repo),
               m.commit_count::VARCHAR || ' @ ' || m.latest_commit_at::VARCHAR, r.n::VARCHAR || ' @ ' || r.latest::VARCHAR
        FROM (SELECT * FROM monthly_commits x WHERE EXISTS (
                SELECT 1 FROM scope s WHERE x.month_start BETWEEN s.first_day AND s.last_day)) m
        FULL JOIN (
            SELECT CAST(date_trunc('month', commit_day) AS DATE) AS month_start, plugin_name, repo,
                   count(DISTINCT sha) AS n, max(commit_author_date) AS latest
            FROM raw_commits x WHERE EXISTS (SELECT 1 FROM scope s WHERE x.commit_day BETWEEN s.first_day AND s.last_day)
            GROUP BY ALL
        ) r USING (month_start, plugin_name, repo)
        WHERE m.commit_count IS DISTINCT FROM r.n OR m.latest_commit_at IS DISTINCT FROM r.latest OR m.commit_count <= 0
    """,
)
TOTAL_ROLLUP = Rollup(
    table="total_commits",
    inputs=("monthly_commits", "opening_commits"),
    select_sql="SELECT plugin_name, repo, sum(commit_count)::BIGINT FROM commits_by_month GROUP BY ALL",
    check_sql="""
        SELECT coalesce(t.plugin_name, m.plugin_name) || ' ' || coalesce(t.repo, m.repo), t.commit_count, m.n
        FROM total_commits t
        FULL JOIN (SELECT plugin_name, repo, sum(commit_count) AS n FROM commits_by_month GROUP BY ALL) m
        USING (plugin_name, repo)
        WHERE t.commit_count IS DISTINCT FROM m.n OR t.commit_count <= 0
    """,
)
LATEST_ROLLUP = Rollup(
    table="latest_commits",
    inputs=("monthly_commits", "opening_commits"),
    select_sql="SELECT plugin_name, repo, max(latest_commit_at) FROM commits_by_month GROUP BY ALL",
    check_sql="""
        SELECT coalesce(t.plugin_name, m.plugin_name) || ' ' || coalesce(t.repo, m.repo),
               t.latest_commit_at::VARCHAR, m.latest::VARCHAR
        FROM latest_commits t
        FULL JOIN (SELECT plugin_name, repo, max(latest_commit_at) AS latest FROM commits_by_month GROUP BY ALL) m
        USING (plugin_name, repo)
        WHERE t.latest_commit_at IS DISTINCT FROM m.latest
    """,
)

MONTHLY_CHECK = "monthly_commits_match_raw"
TOTAL_CHECK = "total_commits_match_months"
LATEST_CHECK = "latest_commits_match_months"


@warehouse_asset(
    group_name=GROUP,
    deps=[raw_commits],
    consumes=MONTHLY_ROLLUP.inputs,
    check_specs=[blocking_check(MONTHLY_CHECK, "monthly_commits",
                                "Every MONTH commit count and latest time equals the month's landed commits of that "
                                "repo. What to do: re-run the month's days; if it fails again, report a bug.")],
    columns=[
        ("month_start", "date", "first day of the UTC calendar month"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("commit_count", "bigint", "distinct commits authored that month (> 0)"),
        ("latest_commit_at", "timestamp", "newest author date in the month (UTC)"),
    ],
)
def monthly_commits(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """MONTH commits per plugin repo for the months whose landed days changed."""
    return rollup_result(warehouse, MONTHLY_ROLLUP, MONTHLY_CHECK, "MONTH values differ from the landed commits.")


@warehouse_asset(
    group_name=GROUP,
    columns=[
        ("month_start", "date", "first day of the UTC calendar month"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("commit_count", "bigint", "distinct commits authored that month before the first partition"),
        ("latest_commit_at", "timestamp", "newest such author date in the month (UTC)"),
    ],
)
def opening_commits(
    commits_source: CommitsSource, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Commits before the first daily partition, per month: history counts toward MONTH, TOTAL, LATEST."""
    repos = registry.load().plugin_repos
    batch = commits_source.commits_before(FIRST_DAY, sorted({repo for _, repo in repos}))
    with warehouse.connect() as con, transaction(con):
        con.register("incoming", batch.rows)
        con.register("registry_repos", _registry_repos(repos))
        con.execute("DELETE FROM opening_commits")
        con.execute(
            """
            INSERT INTO opening_commits
            SELECT c.month_start, r.plugin_name, r.repo, sum(c.commit_count), max(c.latest_commit_at)
            FROM incoming c JOIN registry_repos r ON c.repo_key = lower(r.repo)
            GROUP BY ALL
            """
        )
        con.unregister("incoming")
        con.unregister("registry_repos")
        record_fingerprints(con, FINGERPRINT_SOURCE, date.min, FIRST_DAY, batch.fingerprints)
        changes.record(con, "opening_commits", [(WHOLE[0], FIRST_DAY)])
        rows = con.execute("SELECT count(*), coalesce(sum(commit_count), 0) FROM opening_commits").fetchall()[0]
    return dg.MaterializeResult(
        metadata=opening_metadata(batch, FIRST_DAY) | {"months_by_repo": rows[0], "commits": int(rows[1])}
    )


@warehouse_asset(
    group_name=GROUP,
    deps=[monthly_commits, opening_commits],
    consumes=TOTAL_ROLLUP.inputs,
    check_specs=[blocking_check(TOTAL_CHECK, "total_commits",
                                "Every repo's TOTAL equals the sum of its months, the opening balance included. "
                                "What to do: re-run; if it fails again, report a bug.")],
    columns=[
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("commit_count", "bigint", "all-time commits"),
    ],
)
def total_commits(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """TOTAL commits per plugin repo: every month, the opening balance's included."""
    return rollup_result(warehouse, TOTAL_ROLLUP, TOTAL_CHECK, "TOTAL values differ from the months.")


@warehouse_asset(
    group_name=GROUP,
    deps=[monthly_commits, opening_commits],
    consumes=LATEST_ROLLUP.inputs,
    check_specs=[blocking_check(LATEST_CHECK, "latest_commits",
                                "Every LATEST commit time equals the newest of the repo's monthly latest times. "
                                "What to do: re-run; if it fails again, report a bug.")],
    columns=[
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("latest_commit_at", "timestamp", "newest author date (UTC)"),
    ],
)
def latest_commits(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """LATEST commit time per plugin repo, from every month's maxima (opening balance included)."""
    return rollup_result(warehouse, LATEST_ROLLUP, LATEST_CHECK, "LATEST values differ from the months.")
