"""What every warehouse asset shares: owners, pool, column schema, freshness, metadata builders."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import dagster as dg

from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL

CONSUMES = "metrics/consumes"  # asset metadata: the warehouse tables whose changes a consumer follows

OWNERS = ["team:metrics"]

# The daily assets must be materialized between 12:00 and 14:00 UTC each day (the 13:00 run):
# otherwise the UI shows them as late.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 14 * * *", lower_bound_delta=timedelta(hours=2))

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def single_run_asset(**asset_args):
    """`dg.asset` whose partitioned ranges backfill in one run (BackfillPolicy.single_run)."""
    with warnings.catch_warnings():
        # Single-run backfills are beta in Dagster 1.13 and the only way to land a range in one run.
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        return dg.asset(backfill_policy=dg.BackfillPolicy.single_run(), **asset_args)


def warehouse_asset(
    *,
    group_name: str,
    columns: list[tuple[str, str, str]],
    partitions_def: dg.PartitionsDefinition | None = None,
    deps=None,
    kinds: frozenset[str] = frozenset({"duckdb"}),
    check_specs: list[dg.AssetCheckSpec] | None = None,
    freshness_policy: dg.FreshnessPolicy | None = None,
    consumes: tuple[str, ...] = (),
):
    """`dg.asset` for a table in the DuckDB warehouse: shared pool, kinds, owners, column schema;
    partitioned ones backfill a whole range in one run; `consumes` names the tables whose changes
    it follows (a change-log consumer, see changes.py)."""
    args = dict(
        partitions_def=partitions_def,
        deps=deps,
        pool=WAREHOUSE_POOL,
        kinds=set(kinds),
        group_name=group_name,
        owners=OWNERS,
        metadata={"dagster/column_schema": column_schema(*columns), **({CONSUMES: ",".join(consumes)} if consumes else {})},
        check_specs=check_specs,
        freshness_policy=freshness_policy,
    )
    return single_run_asset(**args) if partitions_def else dg.asset(**args)


def column_schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, type_, description) for name, type_, description in columns])


def window_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's partition window as UTC dates [start, end): one day, one month or a whole range."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def per_day_metadata(context: dg.AssetExecutionContext, figures: dict[date, dict[str, int]], zero: dict[str, int]) -> None:
    """Each day of a single-run range shows its own figures on its partition, not the range's."""
    for key in context.partition_keys:
        day = date.fromisoformat(key)
        context.add_asset_metadata(
            {"window_start": key, "window_end_exclusive": (day + timedelta(days=1)).isoformat(), **zero, **figures.get(day, {})},
            partition_key=key,
            asset_key=context.assets_def.key,
        )


def landing_metadata(batch) -> dict:
    """What a raw landing saw of its source and set aside (details in the `quarantine` table)."""
    files = batch.files
    return {
        "source_rows_in_window": sum(max(f.source_rows, 0) for f in batch.fingerprints),
        "rows_set_aside": sum(batch.quarantined.values()),
        "set_aside_reasons": dict(batch.quarantined),
        "quarantined_files": 0 if files is None else len(files.bad) + len(files.unplaced),
        "files_without_usable_rows": 0 if files is None else len(files.unusable),
        "duplicate_files": 0 if files is None else len(files.duplicates),
    }


def opening_metadata(batch, first_day: date) -> dict:
    """Where source rows before the first partition went: counted per month, never per day."""
    days = [f.day for f in batch.fingerprints]
    return {
        "first_partition_day": first_day.isoformat(),
        "source_rows_before_first_partition": sum(f.source_rows for f in batch.fingerprints),
        "days_before_first_partition": len(days),
        "earliest_day": min(days).isoformat() if days else "",
        "went_to": "MONTH and TOTAL values (opening balance); no DAY items",
        "quarantine_reasons": dict(batch.quarantined),
    }


def window_metadata(start: date, end: date, rows: int) -> dict:
    """A landing window's row count and bounds (each day's own figures are on its partition)."""
    return {
        "dagster/row_count": rows,
        "window_start": start.isoformat(),
        "window_end_exclusive": end.isoformat(),
    }
