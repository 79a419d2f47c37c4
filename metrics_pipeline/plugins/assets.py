"""Assets built for each installed plugin: `plugins/<name>/daily`, its monthly and total rollups.

The daily asset follows `raw_installs` day by day (so the late-data sensor's re-runs reach it) and
builds its own missing days, so a plugin installed later backfills only itself. Each day is one
transaction, oldest first: a failure or crash keeps every earlier day and leaves the failing day as
it was.
"""

import hashlib
from datetime import date, timedelta

import dagster as dg

from metrics_pipeline.asset_conventions import (
    DAILY_FRESHNESS,
    OWNERS,
    ROLLUP_AUTOMATION,
    column_schema,
    per_day_metadata,
    single_run_asset,
    window_dates,
    window_metadata,
)
from metrics_pipeline.landing.batch import iter_days
from metrics_pipeline.landing.fingerprints import record_fingerprints
from metrics_pipeline.landing.files import scratch_connection
from metrics_pipeline.partitions import DAILY, MONTHLY, days_of_month
from metrics_pipeline.plugins import store
from metrics_pipeline.plugins.store import refused
from metrics_pipeline.plugins.rows import PluginRowsSource
from metrics_pipeline.plugins.spec import IMPLEMENTED_SOURCES, MetricPlugin
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, replace_table, replace_window, transaction

GROUP = "plugins"
UPSTREAM = {"downloads": dg.AssetKey("raw_installs")}

# Days it has never built (all of them when the plugin is newly installed: unlike
# `since_last_handled`, this does fire on the first evaluation), every day when the plugin's model
# or SQL changed (its code version), and days whose raw landing re-ran (schedule, backfill, late
# data). Requested once per change, never while inputs run.
_REQUESTED_OR_UPDATED = dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated()
PLUGIN_DAY_AUTOMATION = (
    ((dg.AutomationCondition.missing().newly_true() | dg.AutomationCondition.code_version_changed())
     .since(_REQUESTED_OR_UPDATED)
     | dg.AutomationCondition.any_deps_updated().since_last_handled())
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("build missing days; rebuild on a new plugin version; follow the raw landing")


# Errors outside the plugin (a source file being written, Snowflake, a busy warehouse) are retried.
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


def code_version(plugin: MetricPlugin) -> str:
    """Changes whenever what the daily table holds would change: model, SQL, source or additivity."""
    declared = repr((plugin.columns, plugin.sql, plugin.source, plugin.additive, plugin.requires))
    return hashlib.sha256(declared.encode()).hexdigest()[:16]


def fingerprint_source(plugin: MetricPlugin) -> str:
    return f"plugin:{plugin.name}"


def asset_key(plugin: MetricPlugin, grain: str) -> dg.AssetKey:
    return dg.AssetKey(["plugins", plugin.name, grain])


def _args(plugin: MetricPlugin, grain: str, what: str) -> dict:
    return dict(
        key=asset_key(plugin, grain), group_name=GROUP, owners=OWNERS, pool=WAREHOUSE_POOL, kinds=set(plugin.kinds),
        description=f"{plugin.summary}: {what}.{(' ' + plugin.description) if plugin.description else ''}",
        metadata={"dagster/column_schema": column_schema(*(
            (name, type_, next((c.description for c in plugin.columns if c.name == name), "period"))
            for name, type_ in store.table_columns(plugin, grain)
        )), "plugin": plugin.name, "plugin_source": plugin.source},
    )


def _compute_day(scratch, plugin: MetricPlugin, day: date, plugin_names: list[str]):
    scratch.execute("CREATE OR REPLACE TEMP TABLE source_rows AS SELECT * FROM window_rows WHERE day = ?", [day])
    params = store.bound_parameters(plugin, plugin.sql, day, day + timedelta(days=1), plugin_names)
    try:
        result = scratch.sql(plugin.sql, params=params).to_arrow_table()
    except Exception as error:  # noqa: BLE001 - a plugin's SQL fails only its own partitions, visibly
        raise refused(f"plugin {plugin.name!r}: its SQL failed on {day}: {str(error).strip()[:500]}") from None
    return store.shaped(plugin, result, day)


def daily_asset(plugin: MetricPlugin) -> dg.AssetsDefinition:
    checks = [dg.AssetCheckSpec(c.name, asset=asset_key(plugin, "daily"), description=c.description, blocking=c.blocking)
              for c in plugin.checks]

    @single_run_asset(
        partitions_def=DAILY, deps=[UPSTREAM[plugin.source]] if plugin.source in UPSTREAM else [],
        automation_condition=PLUGIN_DAY_AUTOMATION, freshness_policy=DAILY_FRESHNESS, check_specs=checks,
        code_version=code_version(plugin), retry_policy=RETRY,
        **_args(plugin, "daily", "one row per day and dimension"),
    )
    def _daily(context: dg.AssetExecutionContext, plugin_rows: PluginRowsSource, registry: PluginRegistry,
               warehouse: DuckDBWarehouse):
        if plugin.source not in IMPLEMENTED_SOURCES:
            raise refused(f"plugin {plugin.name!r} reads source {plugin.source!r}, which the pipeline does not "
                             f"feed to plugins yet (implemented: {', '.join(IMPLEMENTED_SOURCES)})")
        plugin_rows.require(plugin.name, plugin.requires)
        start, end = window_dates(context)
        plugin_names = list(registry.load().plugin_names)
        batch = plugin_rows.fetch(start, end)
        fingerprints = {f.day: f for f in batch.fingerprints}
        figures, bad = {}, {c.name: 0 for c in plugin.checks}
        with scratch_connection([]) as scratch, warehouse.connect() as con:
            scratch.register("window_rows", batch.rows)
            with transaction(con):
                store.ensure_tables(con, plugin)
            for day in iter_days(start, end):  # oldest first; each day commits on its own
                if day in batch.incomplete:
                    context.log.warning(f"{day}: a quarantined source file could hold this day; left as it was")
                    continue
                rows = _compute_day(scratch, plugin, day, plugin_names)
                with transaction(con):
                    con.register("incoming", rows)
                    count = replace_window(con, plugin.table("daily"), "day", day, day + timedelta(days=1),
                                           "SELECT * FROM incoming")
                    con.unregister("incoming")
                    record_fingerprints(con, fingerprint_source(plugin), day, day + timedelta(days=1), [fingerprints[day]])
                con.register("plugin_rows", rows)
                for check in plugin.checks:
                    bad[check.name] += int(con.execute(check.sql, store.bound_parameters(
                        plugin, check.sql, day, day + timedelta(days=1), plugin_names)).fetchall()[0][0] or 0)
                con.unregister("plugin_rows")
                figures[day] = {"dagster/row_count": count, "source_rows": max(fingerprints[day].source_rows, 0)}
        per_day_metadata(context, figures, {"dagster/row_count": 0, "source_rows": 0})
        rows_total = sum(f["dagster/row_count"] for f in figures.values())
        return dg.MaterializeResult(
            metadata=window_metadata(start, end, rows_total) | {"incomplete_days_left_as_they_were": len(batch.incomplete)},
            check_results=[dg.AssetCheckResult(check_name=name, passed=count == 0, metadata={"bad_rows": count})
                           for name, count in bad.items()],
        )

    return _daily


def rollup_assets(plugin: MetricPlugin) -> list[dg.AssetsDefinition]:
    """Monthly (per month, from the month's days) and total (from the months), for additive plugins."""

    @single_run_asset(partitions_def=MONTHLY, deps=[days_of_month(asset_key(plugin, "daily"))], automation_condition=ROLLUP_AUTOMATION,
                      **_args(plugin, "monthly", "the month's days summed"))
    def _monthly(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
        start, end = window_dates(context)
        with warehouse.connect() as con:
            with transaction(con):
                store.ensure_tables(con, plugin)
            with transaction(con):
                rows = replace_window(con, plugin.table("monthly"), "month_start", start, end,
                                      store.rollup_sql(plugin, "monthly"), {"start": start, "end": end})
        return dg.MaterializeResult(metadata=window_metadata(start, end, rows))

    @dg.asset(deps=[asset_key(plugin, "monthly")], automation_condition=ROLLUP_AUTOMATION,
              **_args(plugin, "total", "every month summed"))
    def _total(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            with transaction(con):
                store.ensure_tables(con, plugin)
            rows = replace_table(con, plugin.table("total"), store.rollup_sql(plugin, "total"))
        return dg.MaterializeResult(metadata={"dagster/row_count": rows})

    return [_monthly, _total]


def plugin_assets(plugin: MetricPlugin) -> list[dg.AssetsDefinition]:
    return [daily_asset(plugin), *(rollup_assets(plugin) if plugin.additive else [])]
