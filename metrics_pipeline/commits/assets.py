"""Commits: raw landing per UTC author day, then monthly, total and latest rollups, all in SQL."""

from datetime import date

import dagster as dg
import pyarrow as pa

from metrics_pipeline.asset_conventions import (
    DAILY_FRESHNESS,
    OPENING_AUTOMATION,
    ROLLUP_AUTOMATION,
    landing_metadata,
    opening_metadata,
    per_day_metadata,
    warehouse_asset,
    window_dates,
    window_metadata,
)
from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.landing.fingerprints import record_fingerprints
from metrics_pipeline.landing.guards import (
    SOURCE_FILES_CHECK,
    drop_allowed,
    files_check,
    guard_vanishing_source,
    record_quarantine,
)
from metrics_pipeline.partitions import DAILY, FIRST_DAY, MONTHLY, days_of_month
from metrics_pipeline.registry import PluginRegistry, guard_registry_shrink, previous_registry_count
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, replace_table, replace_window, transaction

GROUP = "commits"
FINGERPRINT_SOURCE = "commits"

# Source rows -> registry plugins (repo matched case-insensitively, the registry's spelling
# kept); a (plugin, repo, sha) seen twice lands once, the earliest ingested copy winning.
LAND_COMMITS_SQL = """
SELECT CAST(c.commit_author_date AS DATE), r.plugin_name, r.repo, c.sha, c.author_id,
       c.commit_author_date, c.commit_message, c.ingestion_time
FROM incoming c JOIN registry_repos r ON lower(c.repo) = lower(r.repo)
WHERE NOT list_contains($keep, CAST(c.commit_author_date AS DATE))
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
    check_specs=[dg.AssetCheckSpec(SOURCE_FILES_CHECK, asset="raw_commits", description="no quarantined file could hold these days")],
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
) -> dg.MaterializeResult:
    """Commits to registry repos authored on the partition's UTC days, one row per commit."""
    start, end = window_dates(context)
    plugins = registry.load()
    guard_registry_shrink(previous_registry_count(context), plugins, drop_allowed(context), registry.max_drop_fraction)
    repos = plugins.plugin_repos
    batch = commits_source.commits(start, end, sorted({repo for _, repo in repos}))
    keep = batch.files.incomplete_days(start, end) if batch.files else set()
    with warehouse.connect() as con, transaction(con):
        guard_vanishing_source(con, FINGERPRINT_SOURCE, commits_source, start, end, batch, drop_allowed(context), keep)
        con.register("incoming", batch.rows)
        con.register("registry_repos", _registry_repos(repos))
        rows = replace_window(con, "raw_commits", "commit_day", start, end, LAND_COMMITS_SQL, {"keep": sorted(keep)}, keep)
        con.unregister("incoming")
        con.unregister("registry_repos")
        record_fingerprints(con, FINGERPRINT_SOURCE, start, end, batch.fingerprints, keep)
        record_quarantine(con, FINGERPRINT_SOURCE, batch)
        by_day = dict(con.execute(
            "SELECT commit_day, count(*) FROM raw_commits WHERE commit_day >= ? AND commit_day < ? GROUP BY 1", [start, end]
        ).fetchall())
    per_day_metadata(
        context,
        {f.day: {"dagster/row_count": by_day.get(f.day, 0), "source_rows_in_window": max(f.source_rows, 0)} for f in batch.fingerprints},
        {"dagster/row_count": 0, "source_rows_in_window": 0},
    )
    return dg.MaterializeResult(
        metadata=window_metadata(start, end, rows)
        | landing_metadata(batch)
        | {"duplicate_rows_dropped": batch.rows.num_rows - rows, "registry_repos": len(repos),
           "registry_plugins": len(plugins.plugins), **plugins.quarantine_metadata()},
        check_results=files_check(context.asset_key, batch, keep),
    )


@warehouse_asset(
    group_name=GROUP,
    partitions_def=MONTHLY,
    deps=[days_of_month(raw_commits)],
    automation_condition=ROLLUP_AUTOMATION,
    columns=[
        ("month_start", "date", "first day of the UTC calendar month"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("commit_count", "bigint", "distinct commits authored that month (> 0)"),
        ("latest_commit_at", "timestamp", "newest author date in the month (UTC)"),
    ],
)
def monthly_commits(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """MONTH commits per plugin repo, from the month's landed commits only."""
    start, end = window_dates(context)
    with warehouse.connect() as con, transaction(con):
        rows = replace_window(
            con, "monthly_commits", "month_start", start, end,
            """
            SELECT CAST(date_trunc('month', commit_day) AS DATE), plugin_name, repo,
                   count(DISTINCT sha)::BIGINT, max(commit_author_date)
            FROM raw_commits
            WHERE commit_day >= $start AND commit_day < $end
            GROUP BY ALL
            """,
            {"start": start, "end": end},
        )
    return dg.MaterializeResult(metadata=window_metadata(start, end, rows))


@warehouse_asset(
    group_name=GROUP,
    automation_condition=OPENING_AUTOMATION,
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
        rows = con.execute("SELECT count(*), coalesce(sum(commit_count), 0) FROM opening_commits").fetchall()[0]
    return dg.MaterializeResult(
        metadata=opening_metadata(batch, FIRST_DAY) | {"months_by_repo": rows[0], "commits": int(rows[1])}
    )


@warehouse_asset(
    group_name=GROUP,
    deps=[monthly_commits, opening_commits],
    automation_condition=ROLLUP_AUTOMATION,
    columns=[
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("commit_count", "bigint", "all-time commits"),
    ],
)
def total_commits(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """TOTAL commits per plugin repo: every month, the opening balance's included."""
    with warehouse.connect() as con:
        rows = replace_table(
            con, "total_commits",
            "SELECT plugin_name, repo, sum(commit_count)::BIGINT FROM commits_by_month GROUP BY ALL",
        )
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@warehouse_asset(
    group_name=GROUP,
    deps=[monthly_commits, opening_commits],
    automation_condition=ROLLUP_AUTOMATION,
    columns=[
        ("plugin_name", "varchar", "normalized plugin"),
        ("repo", "varchar", "registry spelling"),
        ("latest_commit_at", "timestamp", "newest author date (UTC)"),
    ],
)
def latest_commits(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """LATEST commit time per plugin repo, from every month's maxima (opening balance included)."""
    with warehouse.connect() as con:
        rows = replace_table(
            con, "latest_commits",
            "SELECT plugin_name, repo, max(latest_commit_at) FROM commits_by_month GROUP BY ALL",
        )
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})
