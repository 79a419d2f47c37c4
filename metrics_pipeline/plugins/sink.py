"""Each plugin's Postgres table `plugin_<name>`: every DAY (and MONTH, TOTAL when additive) row,
written like the other Postgres sinks (only changed rows, one transaction)."""

import dagster as dg

from metrics_pipeline.asset_conventions import OWNERS, SINK_AUTOMATION, column_schema
from metrics_pipeline.plugins import store
from metrics_pipeline.plugins.assets import GROUP, asset_key
from metrics_pipeline.plugins.spec import TYPES, MetricPlugin
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, transaction
from metrics_pipeline.sinks.postgres import PostgresTable, load_rows
from metrics_pipeline.sinks.quarantine import split_postgres_rows

_GRANULARITY = {"daily": ("DAY", "day"), "monthly": ("MONTH", "month_start"), "total": ("TOTAL", "NULL::DATE")}


def postgres_table(plugin: MetricPlugin) -> PostgresTable:
    dims = [c.name for c in plugin.dimensions]
    values = [c.name for c in plugin.measures]
    selects = [
        f"SELECT '{label}', {period}, {', '.join(dims + values)} FROM {plugin.table(grain)}"
        for grain, (label, period) in _GRANULARITY.items() if grain in store.grains(plugin)
    ]
    return PostgresTable(
        f"plugin_{plugin.name}",
        keys=(("granularity", "text"), ("period_start", "date"), *((c.name, TYPES[c.type]) for c in plugin.dimensions)),
        values=tuple((c.name, TYPES[c.type]) for c in plugin.measures),
        source_sql=" UNION ALL ".join(selects),
    )


def create_sql(plugin: MetricPlugin) -> str:
    """DDL of the plugin's Postgres table, from the validated model (not a migration: plugins come and go)."""
    table = postgres_table(plugin)
    keys = ["granularity", "period_key", *(c.name for c in plugin.dimensions)]
    columns = ", ".join(
        [f"{name} {type_} NOT NULL" for name, type_ in table.keys if name != "period_start"]
        + ["period_start date"] + [f"{name} {type_}" for name, type_ in table.values]
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, updated_at timestamptz NOT NULL DEFAULT now(), "
        "period_key date GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED, "
        f"PRIMARY KEY ({', '.join(keys)}))"
    )


def postgres_asset(plugin: MetricPlugin) -> dg.AssetsDefinition:
    table = postgres_table(plugin)

    @dg.asset(
        key=["postgres", table.name], deps=[asset_key(plugin, grain) for grain in store.grains(plugin)],
        group_name=GROUP, kinds={"postgres"}, owners=OWNERS, pool=WAREHOUSE_POOL, automation_condition=SINK_AUTOMATION,
        description=f"{plugin.summary}: Postgres table {table.name} (granularity DAY/MONTH/TOTAL, period_start).",
        metadata={"dagster/column_schema": column_schema(
            ("granularity", "text", "DAY, MONTH or TOTAL"), ("period_start", "date", "day or month start; NULL for TOTAL"),
            *((c.name, TYPES[c.type], c.description) for c in plugin.columns))},
    )
    def _postgres(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            with transaction(con):
                store.ensure_tables(con, plugin)
            rows = con.sql(table.source_sql).to_arrow_table().rename_columns(table.columns)
            rows, quarantine = split_postgres_rows(con, f"postgres:{table.name}", [n for n, _ in table.keys], rows)
        with postgres.connect() as connection:
            with connection.transaction():
                connection.execute(create_sql(plugin))
            return dg.MaterializeResult(metadata=load_rows(connection, table, rows) | quarantine)

    return _postgres
