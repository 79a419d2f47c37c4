"""Installs: raw landing per UTC day, then daily, monthly and total rollups, all in SQL."""

from datetime import date

import dagster as dg

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
from metrics_pipeline.installs.sources import InstallsSource
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

GROUP = "installs"
FINGERPRINT_SOURCE = "installs"


@warehouse_asset(
    group_name=GROUP,
    partitions_def=DAILY,
    freshness_policy=DAILY_FRESHNESS,
    check_specs=[dg.AssetCheckSpec(SOURCE_FILES_CHECK, asset="raw_installs", description="no quarantined file could hold these days")],
    columns=[
        ("download_day", "date", "UTC day of the download"),
        ("plugin_name", "varchar", "PEP 503-normalized registry plugin"),
        ("installer_name", "varchar", "installer counted (default: pip)"),
        ("download_count", "bigint", "qualifying download rows"),
    ],
)
def raw_installs(
    context: dg.AssetExecutionContext,
    installs_source: InstallsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
) -> dg.MaterializeResult:
    """Qualifying downloads of registry plugins for the partition's UTC days, counted in the source."""
    start, end = window_dates(context)
    plugins = registry.load()
    guard_registry_shrink(previous_registry_count(context), plugins, drop_allowed(context), registry.max_drop_fraction)
    batch = installs_source.install_counts(start, end, plugins.plugin_names)
    keep = batch.files.incomplete_days(start, end) if batch.files else set()
    with warehouse.connect() as con, transaction(con):
        guard_vanishing_source(con, FINGERPRINT_SOURCE, installs_source, start, end, batch, drop_allowed(context), keep)
        con.register("incoming", batch.rows)
        rows = replace_window(
            con, "raw_installs", "download_day", start, end,
            "SELECT download_day, plugin_name, installer_name, download_count FROM incoming "
            "WHERE NOT list_contains($keep, download_day)",
            {"keep": sorted(keep)}, keep,
        )
        con.unregister("incoming")
        record_fingerprints(con, FINGERPRINT_SOURCE, start, end, batch.fingerprints, keep)
        record_quarantine(con, FINGERPRINT_SOURCE, batch)
        by_day = con.execute(
            "SELECT download_day, count(*), sum(download_count) FROM raw_installs "
            "WHERE download_day >= ? AND download_day < ? GROUP BY 1",
            [start, end],
        ).fetchall()
    landed = {day: (n, int(downloads)) for day, n, downloads in by_day}
    per_day_metadata(
        context,
        {
            f.day: dict(zip(("dagster/row_count", "qualifying_downloads"), landed.get(f.day, (0, 0)), strict=True))
            | {"source_rows_in_window": max(f.source_rows, 0)}
            for f in batch.fingerprints
        },
        {"dagster/row_count": 0, "qualifying_downloads": 0, "source_rows_in_window": 0},
    )
    return dg.MaterializeResult(
        metadata=window_metadata(start, end, rows)
        | landing_metadata(batch)
        | {
            "qualifying_downloads": int(sum(batch.rows.column("download_count").to_pylist())),
            "registry_plugins": len(plugins.plugins),
            **plugins.quarantine_metadata(),
        },
        check_results=files_check(context.asset_key, batch, keep),
    )


@warehouse_asset(
    group_name=GROUP,
    partitions_def=DAILY,
    deps=[raw_installs],
    freshness_policy=DAILY_FRESHNESS,
    columns=[
        ("download_day", "date", "UTC day"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "installs that day (> 0)"),
    ],
)
def daily_installs(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """DAY installs per plugin: the unit every larger period is summed from."""
    start, end = window_dates(context)
    with warehouse.connect() as con, transaction(con):
        rows = replace_window(
            con, "daily_installs", "download_day", start, end,
            """
            SELECT download_day, plugin_name, sum(download_count)::BIGINT
            FROM raw_installs
            WHERE download_day >= $start AND download_day < $end
            GROUP BY download_day, plugin_name
            HAVING sum(download_count) > 0
            """,
            {"start": start, "end": end},
        )
        by_day = con.execute(
            "SELECT download_day, count(*), sum(install_count) FROM daily_installs "
            "WHERE download_day >= ? AND download_day < ? GROUP BY 1",
            [start, end],
        ).fetchall()
    per_day_metadata(context, {day: {"dagster/row_count": n, "installs": int(i)} for day, n, i in by_day},
                     {"dagster/row_count": 0, "installs": 0})
    installs = sum(int(i) for _, _, i in by_day)
    return dg.MaterializeResult(metadata=window_metadata(start, end, rows) | {"installs": installs})


@warehouse_asset(
    group_name=GROUP,
    partitions_def=MONTHLY,
    deps=[days_of_month(daily_installs)],
    automation_condition=ROLLUP_AUTOMATION,
    columns=[
        ("month_start", "date", "first day of the UTC calendar month"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "installs that month (> 0)"),
    ],
)
def monthly_installs(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """MONTH installs per plugin, summed from the month's daily rollup (never from raw rows)."""
    start, end = window_dates(context)
    with warehouse.connect() as con, transaction(con):
        rows = replace_window(
            con, "monthly_installs", "month_start", start, end,
            """
            SELECT CAST(date_trunc('month', download_day) AS DATE), plugin_name, sum(install_count)::BIGINT
            FROM daily_installs
            WHERE download_day >= $start AND download_day < $end
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
        ("install_count", "bigint", "installs that month on days before the first partition (> 0)"),
    ],
)
def opening_installs(
    installs_source: InstallsSource, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Installs before the first daily partition, per month: history counts toward MONTH and TOTAL."""
    plugins = registry.load()
    batch = installs_source.install_counts_before(FIRST_DAY, plugins.plugin_names)
    with warehouse.connect() as con, transaction(con):
        con.register("incoming", batch.rows)
        con.execute("DELETE FROM opening_installs")
        con.execute("INSERT INTO opening_installs SELECT month_start, plugin_name, install_count FROM incoming")
        con.unregister("incoming")
        record_fingerprints(con, FINGERPRINT_SOURCE, date.min, FIRST_DAY, batch.fingerprints)
    installs = int(sum(batch.rows.column("install_count").to_pylist()))
    return dg.MaterializeResult(
        metadata=opening_metadata(batch, FIRST_DAY) | {"qualifying_installs": installs, "months": batch.rows.num_rows}
    )


@warehouse_asset(
    group_name=GROUP,
    deps=[monthly_installs, opening_installs],
    automation_condition=ROLLUP_AUTOMATION,
    columns=[
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "all-time installs (> 0)"),
    ],
)
def total_installs(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """TOTAL installs per plugin: every month, the opening balance's included."""
    with warehouse.connect() as con:
        rows = replace_table(
            con, "total_installs",
            "SELECT plugin_name, sum(install_count)::BIGINT FROM installs_by_month GROUP BY plugin_name",
        )
        installs = con.execute("SELECT coalesce(sum(install_count), 0) FROM total_installs").fetchall()[0][0]
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "installs": int(installs)})
