"""Freshness: the policy the daily assets carry (a missed 13:00 run shows in the UI) and a warning
check on the source itself, so a stalled upstream is reported even when our runs succeed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb

from metrics_pipeline.quality.settings import QualitySettings
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse



def newest_source_day(con: duckdb.DuckDBPyConnection, source: str) -> date | None:
    """The newest day for which the source had rows when its raw partition was last landed."""
    return con.execute(
        "SELECT max(day) FROM source_fingerprints WHERE source = ? AND source_rows > 0", [source]
    ).fetchall()[0][0]


def stall_result(newest: date | None, today: date, settings: QualitySettings) -> dg.AssetCheckResult:
    expected = today - timedelta(days=settings.stall_days)
    lag = None if newest is None else (today - newest).days
    return dg.AssetCheckResult(
        passed=newest is not None and newest >= expected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "newest_source_day": newest.isoformat() if newest else "none",
            "expected_at_least": expected.isoformat(),
            "days_behind": lag,
            "allowed_days_behind": settings.stall_days,
        },
    )


def _stall_check(asset: str, source: str):
    @dg.asset_check(
        asset=dg.AssetKey(asset),
        name=f"{source}_source_not_stalled",
        pool=WAREHOUSE_POOL,
        description=f"WARN: the {source} source's newest day with rows is at most METRICS_SOURCE_STALL_DAYS behind "
        "today (UTC); it runs with every landing, the schedule's included. What to do: check the upstream export "
        "or ingestion.",
    )
    def _check(quality_settings: QualitySettings, warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            newest = newest_source_day(con, source)
        return stall_result(newest, datetime.now(UTC).date(), quality_settings)

    return _check


STALL_CHECKS = [_stall_check("raw_installs", "installs"), _stall_check("raw_commits", "commits")]
