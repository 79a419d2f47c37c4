"""Blocking checks on the landed days: what landed is exactly what the source counts for each day.

Each runs with its raw asset (also over a backfilled range) and fails a day when its rows hold
nulls, times outside the day, untracked plugins or repos, non-counted installers, duplicate
keys, or a count that differs from the source's own count for the window.
"""


from datetime import date, timedelta

import dagster as dg
import duckdb
import pyarrow as pa

from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.partitions import DAILY
from metrics_pipeline.quality.evaluations import Outcome, partition_evaluations, partitioned_check
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse

ERROR = dg.AssetCheckSeverity.ERROR

INSTALL_FAULTS_SQL = """
SELECT download_day,
       count(*) FILTER (WHERE plugin_name IS NULL OR installer_name IS NULL OR download_count IS NULL),
       count(*) FILTER (WHERE NOT list_contains($plugins, plugin_name)),
       count(*) FILTER (WHERE NOT list_contains($installers, installer_name)),
       count(*) FILTER (WHERE download_count <= 0),
       count(*) - count(DISTINCT (plugin_name, installer_name)),
       coalesce(sum(download_count), 0)
FROM raw_installs WHERE download_day >= $start AND download_day < $end
GROUP BY download_day
"""

COMMIT_FAULTS_SQL = """
SELECT commit_day,
       count(*) FILTER (WHERE plugin_name IS NULL OR repo IS NULL OR sha IS NULL OR commit_author_date IS NULL),
       count(*) FILTER (WHERE NOT list_contains($pairs, plugin_name || ' ' || repo)),
       count(*) FILTER (WHERE CAST(commit_author_date AS DATE) IS DISTINCT FROM commit_day),
       count(*) - count(DISTINCT (plugin_name, repo, sha)),
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM raw_commits o
           WHERE o.plugin_name = r.plugin_name AND o.repo = r.repo AND o.sha = r.sha AND o.commit_day <> r.commit_day)),
       count(*)
FROM raw_commits r WHERE commit_day >= $start AND commit_day < $end
GROUP BY commit_day
"""

# The source's rows for the window, counted as the landing counts them: one per (plugin, repo, sha).
SOURCE_COMMITS_SQL = """
SELECT CAST(c.commit_author_date AS DATE) AS day, count(DISTINCT (r.plugin_name, r.repo, c.sha))
FROM source_rows c JOIN registry_repos r ON lower(c.repo) = lower(r.repo)
WHERE c.sha IS NOT NULL
GROUP BY ALL
"""


def _window(keys: list[str]) -> tuple[date, date]:
    days = sorted(date.fromisoformat(k) for k in keys)
    return days[0], days[-1] + timedelta(days=1)


def _outside(days: list, start: date, end: date) -> int:
    """Source rows the source returned for the window although their day lies outside it."""
    return sum(1 for d in days if d is None or not start <= d < end)


def install_outcomes(
    keys: list[str], source: InstallsSource, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dict[str, Outcome]:
    start, end = _window(keys)
    plugins = registry.load().plugin_names
    installers = list(getattr(source, "installers", None) or getattr(source, "download_types", None) or [])
    batch = source.install_counts(start, end, plugins)  # before opening the warehouse: a source may read it
    source_days = batch.rows.column("download_day").to_pylist()
    outside = _outside(source_days, start, end)
    by_source: dict[date, int] = {}
    for d, n in zip(source_days, batch.rows.column("download_count").to_pylist(), strict=True):
        by_source[d] = by_source.get(d, 0) + n
    with warehouse.connect() as con:
        found = {
            row[0]: row[1:]
            for row in con.execute(
                INSTALL_FAULTS_SQL, {"start": start, "end": end, "plugins": plugins, "installers": installers}
            ).fetchall()
        }
    outcomes = {}
    for key in keys:
        day = date.fromisoformat(key)
        nulls, untracked, not_counted, non_positive, duplicates, landed = found.get(day, (0, 0, 0, 0, 0, 0))
        figures = {
            "null_values": nulls, "untracked_plugin_rows": untracked, "non_counted_installer_rows": not_counted,
            "non_positive_counts": non_positive, "duplicate_keys": duplicates,
            "out_of_window_source_rows": outside,
            "landed_downloads": int(landed), "source_downloads": int(by_source.get(day, 0)),
        }
        passed = landed == by_source.get(day, 0) and not (nulls or untracked or not_counted or non_positive or duplicates or outside)
        outcomes[key] = Outcome(passed, figures)
    return outcomes


def commit_outcomes(
    keys: list[str], source: CommitsSource, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dict[str, Outcome]:
    start, end = _window(keys)
    pairs = registry.load().plugin_repos
    # Before opening the warehouse: the GitHub source reads its landing table from it.
    batch = source.commits(start, end, sorted({repo for _, repo in pairs}))
    outside = _outside(
        [None if t is None else t.date() for t in batch.rows.column("commit_author_date").to_pylist()], start, end
    )
    scratch = duckdb.connect()
    try:
        scratch.register("source_rows", batch.rows)
        scratch.register("registry_repos", pa.table({"plugin_name": [p for p, _ in pairs], "repo": [r for _, r in pairs]},
                                                    schema=pa.schema([("plugin_name", pa.string()), ("repo", pa.string())])))
        by_source = dict(scratch.execute(SOURCE_COMMITS_SQL).fetchall())
    finally:
        scratch.close()
    with warehouse.connect() as con:
        found = {
            row[0]: row[1:]
            for row in con.execute(
                COMMIT_FAULTS_SQL, {"start": start, "end": end, "pairs": [f"{p} {r}" for p, r in pairs]}
            ).fetchall()
        }
    outcomes = {}
    for key in keys:
        day = date.fromisoformat(key)
        nulls, untracked, off_day, duplicates, elsewhere, landed = found.get(day, (0, 0, 0, 0, 0, 0))
        figures = {
            "null_values": nulls, "untracked_repo_rows": untracked, "rows_outside_their_day": off_day,
            "duplicate_commits": duplicates, "commits_also_on_another_day": elsewhere,
            "out_of_window_source_rows": outside,
            "landed_commits": landed, "source_commits": int(by_source.get(day, 0)),
        }
        passed = landed == by_source.get(day, 0) and not (nulls or untracked or off_day or duplicates or elsewhere or outside)
        outcomes[key] = Outcome(passed, figures)
    return outcomes


@partitioned_check(asset=dg.AssetKey("raw_installs"), partitions_def=DAILY, blocking=True, pool=WAREHOUSE_POOL)
def raw_installs_match_source(
    context: dg.AssetCheckExecutionContext, installs_source: InstallsSource, registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
):
    """Each landed day holds exactly the source's qualifying downloads: no nulls, untracked
    plugins, non-counted installers, duplicate keys or rows from outside the day."""
    outcomes = install_outcomes(context.partition_keys, installs_source, registry, warehouse)
    yield from partition_evaluations(context, outcomes, ERROR)


@partitioned_check(asset=dg.AssetKey("raw_commits"), partitions_def=DAILY, blocking=True, pool=WAREHOUSE_POOL)
def raw_commits_match_source(
    context: dg.AssetCheckExecutionContext, commits_source: CommitsSource, registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
):
    """Each landed day holds exactly the source's distinct commits of registry repos, each once,
    on its author day."""
    outcomes = commit_outcomes(context.partition_keys, commits_source, registry, warehouse)
    yield from partition_evaluations(context, outcomes, ERROR)


RAW_CHECKS = [raw_installs_match_source, raw_commits_match_source]
