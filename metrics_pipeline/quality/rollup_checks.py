"""Blocking checks on the rollups: each level equals the sum of the level below, counts are
positive, keys unique. A failure keeps the sinks on their previously published values."""


from datetime import date

import dagster as dg
import duckdb

from metrics_pipeline.partitions import DAILY, MONTHLY
from metrics_pipeline.quality.evaluations import Outcome, partition_evaluations, partitioned_check
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse

ERROR = dg.AssetCheckSeverity.ERROR
EXAMPLES = 5

# Each query compares a rollup (`got`) with what it must equal (`want`) in [$start, $end),
# returning (period, key, got, want) for every key where they differ, plus non-positive counts.
DAILY_VS_RAW = """
SELECT coalesce(d.download_day, r.download_day), coalesce(d.plugin_name, r.plugin_name), d.install_count, r.n
FROM (SELECT * FROM daily_installs WHERE download_day >= $start AND download_day < $end) d
FULL JOIN (
    SELECT download_day, plugin_name, sum(download_count) AS n FROM raw_installs
    WHERE download_day >= $start AND download_day < $end GROUP BY ALL HAVING sum(download_count) > 0
) r USING (download_day, plugin_name)
WHERE d.install_count IS DISTINCT FROM r.n OR d.install_count <= 0
"""
MONTHLY_VS_DAYS = """
SELECT coalesce(m.month_start, d.month_start), coalesce(m.plugin_name, d.plugin_name), m.install_count, d.n
FROM (SELECT * FROM monthly_installs WHERE month_start >= $start AND month_start < $end) m
FULL JOIN (
    SELECT CAST(date_trunc('month', download_day) AS DATE) AS month_start, plugin_name, sum(install_count) AS n
    FROM daily_installs WHERE download_day >= $start AND download_day < $end GROUP BY ALL
) d USING (month_start, plugin_name)
WHERE m.install_count IS DISTINCT FROM d.n OR m.install_count <= 0
"""
MONTHLY_COMMITS_VS_RAW = """
SELECT coalesce(m.month_start, r.month_start), coalesce(m.plugin_name, r.plugin_name) || ' ' || coalesce(m.repo, r.repo),
       m.commit_count::VARCHAR || ' @ ' || m.latest_commit_at::VARCHAR, r.n::VARCHAR || ' @ ' || r.latest::VARCHAR
FROM (SELECT * FROM monthly_commits WHERE month_start >= $start AND month_start < $end) m
FULL JOIN (
    SELECT CAST(date_trunc('month', commit_day) AS DATE) AS month_start, plugin_name, repo,
           count(DISTINCT sha) AS n, max(commit_author_date) AS latest
    FROM raw_commits WHERE commit_day >= $start AND commit_day < $end GROUP BY ALL
) r USING (month_start, plugin_name, repo)
WHERE m.commit_count IS DISTINCT FROM r.n OR m.latest_commit_at IS DISTINCT FROM r.latest OR m.commit_count <= 0
"""
TOTAL_INSTALLS_VS_MONTHS = """
SELECT NULL, coalesce(t.plugin_name, m.plugin_name), t.install_count, m.n
FROM total_installs t
FULL JOIN (SELECT plugin_name, sum(install_count) AS n FROM installs_by_month GROUP BY ALL) m USING (plugin_name)
WHERE t.install_count IS DISTINCT FROM m.n OR t.install_count <= 0
"""
TOTAL_COMMITS_VS_MONTHS = """
SELECT NULL, coalesce(t.plugin_name, m.plugin_name) || ' ' || coalesce(t.repo, m.repo), t.commit_count, m.n
FROM total_commits t
FULL JOIN (SELECT plugin_name, repo, sum(commit_count) AS n FROM commits_by_month GROUP BY ALL) m USING (plugin_name, repo)
WHERE t.commit_count IS DISTINCT FROM m.n OR t.commit_count <= 0
"""
LATEST_COMMITS_VS_MONTHS = """
SELECT NULL, coalesce(t.plugin_name, m.plugin_name) || ' ' || coalesce(t.repo, m.repo),
       t.latest_commit_at::VARCHAR, m.latest::VARCHAR
FROM latest_commits t
FULL JOIN (SELECT plugin_name, repo, max(latest_commit_at) AS latest FROM commits_by_month GROUP BY ALL) m
USING (plugin_name, repo)
WHERE t.latest_commit_at IS DISTINCT FROM m.latest
"""


def differences(con: duckdb.DuckDBPyConnection, sql: str, start: date | None = None, end: date | None = None) -> list[tuple]:
    params = {"start": start, "end": end} if start is not None else {}
    return con.execute(sql + " ORDER BY 1, 2", params).fetchall()


def _outcome(rows: list[tuple]) -> Outcome:
    examples = [f"{key}: {got} (expected {want})" for _, key, got, want in rows[:EXAMPLES]]
    return Outcome(not rows, {"differences": len(rows), "examples": "; ".join(examples)})


def _by_period(con, sql: str, keys: list[str], period_end) -> dict[str, Outcome]:
    periods = sorted(date.fromisoformat(k) for k in keys)
    rows = differences(con, sql, periods[0], period_end(periods[-1]))
    return {key: _outcome([r for r in rows if r[0] == date.fromisoformat(key)]) for key in keys}


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@partitioned_check(asset=dg.AssetKey("daily_installs"), partitions_def=DAILY, blocking=True, pool=WAREHOUSE_POOL)
def daily_installs_match_raw(context: dg.AssetCheckExecutionContext, warehouse: DuckDBWarehouse):
    """Every DAY value equals the day's landed downloads of that plugin, and is positive."""
    with warehouse.connect() as con:
        outcomes = _by_period(con, DAILY_VS_RAW, context.partition_keys, _next_day)
    yield from partition_evaluations(context, outcomes, ERROR)


@partitioned_check(asset=dg.AssetKey("monthly_installs"), partitions_def=MONTHLY, blocking=True, pool=WAREHOUSE_POOL)
def monthly_installs_match_days(context: dg.AssetCheckExecutionContext, warehouse: DuckDBWarehouse):
    """Every MONTH value equals the sum of that plugin's DAY values in the month."""
    with warehouse.connect() as con:
        outcomes = _by_period(con, MONTHLY_VS_DAYS, context.partition_keys, _next_month)
    yield from partition_evaluations(context, outcomes, ERROR)


@partitioned_check(asset=dg.AssetKey("monthly_commits"), partitions_def=MONTHLY, blocking=True, pool=WAREHOUSE_POOL)
def monthly_commits_match_raw(context: dg.AssetCheckExecutionContext, warehouse: DuckDBWarehouse):
    """Every MONTH commit count and latest time equals the month's landed commits of that repo."""
    with warehouse.connect() as con:
        outcomes = _by_period(con, MONTHLY_COMMITS_VS_RAW, context.partition_keys, _next_month)
    yield from partition_evaluations(context, outcomes, ERROR)


def _total_check(name: str, asset: str, sql: str, doc: str):
    @dg.asset_check(asset=dg.AssetKey(asset), name=name, blocking=True, pool=WAREHOUSE_POOL, description=doc)
    def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            outcome = _outcome(differences(con, sql))
        return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata, severity=ERROR)

    return _check


ROLLUP_CHECKS = [
    daily_installs_match_raw,
    monthly_installs_match_days,
    monthly_commits_match_raw,
    _total_check("total_installs_match_months", "total_installs", TOTAL_INSTALLS_VS_MONTHS,
                 "Every TOTAL equals the sum of the plugin's months, the opening balance included."),
    _total_check("total_commits_match_months", "total_commits", TOTAL_COMMITS_VS_MONTHS,
                 "Every repo's TOTAL equals the sum of its months, the opening balance included."),
    _total_check("latest_commits_match_months", "latest_commits", LATEST_COMMITS_VS_MONTHS,
                 "Every LATEST commit time equals the newest of the repo's monthly latest times."),
]
