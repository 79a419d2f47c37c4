"""Each plugin's Postgres tables, written like the other Postgres sinks (the periods its model changed,
only changed rows, one transaction per table): `plugin_<name>` (DAY, and MONTH, TOTAL when additive)
and `plugin_<name>_<rollup>` per declared rollup.

A table's rows live in `<name>__<shape>`, named after its columns and types, with the stable name a
view of it. A model change gets a new table, filled whole before the view moves and the old one is
dropped: a reader sees the old model or the new one, and the export (which reads the model it was
started with) finds its own columns or no table yet (503), never a missing column.

Each table is read back in the sink's step (row counts and sums of the numeric measures per granularity,
a blocking check) and repaired whole by sink_reconciliation_job (`reconcile_plugins`).
"""


import hashlib

import dagster as dg
import psycopg

from metrics_pipeline.asset_conventions import CONSUMES, OWNERS, column_schema
from metrics_pipeline.plugins import store
from metrics_pipeline.plugins.assets import GROUP, asset_key, built
from metrics_pipeline.plugins.spec import TYPES, Column, MetricPlugin
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, bind
from metrics_pipeline.sinks import postgres as pg
from metrics_pipeline.sinks.read_back import (
    Aggregate, ReadBack, compare_postgres, published_rows_sql, read_back_result, read_back_spec,
)
from metrics_pipeline.sinks.reconcile import Repaired
from metrics_pipeline.sinks.scope import SinkFeed, SinkScope, in_days, in_months

_GRANULARITY = {"day": ("DAY", in_days), "month_start": ("MONTH", in_months), None: ("TOTAL", None)}


def _stable_name(plugin: MetricPlugin, rollup: str | None = None) -> str:
    return plugin.table(rollup) if rollup else f"plugin_{plugin.name}"


def _physical(name: str, shape: tuple) -> str:
    return f"{name}__{hashlib.sha256(repr((name, shape)).encode()).hexdigest()[:8]}"


def _select(table: str, period: str | None, declared: tuple[Column, ...]) -> str:
    label, scope = _GRANULARITY[period]
    names = [c.name for c in declared if not c.measure] + [c.name for c in declared if c.measure]
    return (f"SELECT '{label}', {period or 'NULL::DATE'}, {', '.join(names)} FROM {table} "
            f"WHERE {scope(period) if scope else '$totals'}")


def _table(name: str, consumer: str, parts: list[store.Table], declared: tuple[Column, ...]) -> pg.PostgresTable:
    """The warehouse tables `parts` published into one Postgres table, a granularity each."""
    keys = (("granularity", "text"), ("period_start", "date"), *((c.name, TYPES[c.type]) for c in declared if not c.measure))
    values = tuple((c.name, TYPES[c.type]) for c in declared if c.measure)
    periods = {period: tuple(t.name for t in parts if t.date_column == period) for period in _GRANULARITY}
    return pg.PostgresTable(
        _physical(name, (keys, values, [_GRANULARITY[t.date_column][0] for t in parts])), keys=keys, values=values,
        source_sql=" UNION ALL ".join(_select(t.name, t.date_column, declared) for t in parts),
        feed=SinkFeed(consumer, days=periods["day"], months=periods["month_start"], totals=periods[None]),
    )


def postgres_tables(plugin: MetricPlugin) -> dict[str, pg.PostgresTable]:
    """Stable name -> the Postgres table of the model: rollups first, the plugin's own table last
    (its cursor is the sink asset's, so it moves only when every table was published)."""
    main = _stable_name(plugin)
    grains = [t for t in store.tables(plugin) if t.part in plugin.grains]
    found = {t.name: _table(t.name, f"postgres/{main}/{t.part}", [t], t.columns)
             for t in store.tables(plugin) if t.part not in plugin.grains}
    found[main] = _table(main, f"postgres/{main}", grains, plugin.columns)
    return found


def postgres_table(plugin: MetricPlugin, rollup: str | None = None) -> pg.PostgresTable:
    return postgres_tables(plugin)[_stable_name(plugin, rollup)]


def postgres_names(plugin: MetricPlugin) -> set[str]:
    return {name for stable, table in postgres_tables(plugin).items() for name in (stable, table.name)}


def create_sql(table: pg.PostgresTable) -> str:
    """DDL of a plugin's Postgres table, from the validated model."""
    keys = ["granularity", "period_key", *(name for name, _ in table.keys[2:])]
    columns = ", ".join([f"{name} {type_} NOT NULL" for name, type_ in table.keys if name != "period_start"]
                        + ["period_start date"] + [f"{name} {type_}" for name, type_ in table.values])
    return (f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, updated_at timestamptz NOT NULL DEFAULT now(), "
            "period_key date GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED, "
            f"PRIMARY KEY ({', '.join(keys)}))")


def _exists(connection: psycopg.Connection, name: str) -> str | None:
    """The relation kind of `name` in the current schema ('r' table, 'v' view), None when absent."""
    row = connection.execute("SELECT c.relkind::text FROM pg_class c WHERE c.relname = %s "
                             "AND c.relnamespace = current_schema()::regnamespace", [name]).fetchone()
    return row[0] if row else None


def _point_view(connection: psycopg.Connection, stable: str, table: pg.PostgresTable) -> None:
    """Make `stable` a view of the table just published and drop the model's other versions (call in a
    transaction)."""
    kind = _exists(connection, stable)
    if kind == "v" and table.name in (connection.execute(
            "SELECT definition FROM pg_views WHERE viewname = %s AND schemaname = current_schema()", [stable]).fetchone()[0]):
        return
    if kind:
        connection.execute(f"DROP {'VIEW' if kind == 'v' else 'TABLE'} {stable}")
    connection.execute(f"CREATE VIEW {stable} AS SELECT * FROM {table.name}")
    older = connection.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ %s AND tablename <> %s",
        [f"^{stable}__[0-9a-f]{{8}}$", table.name]).fetchall()
    for (name,) in older:
        connection.execute(f"DROP TABLE {name}")


def _reset_cursor(warehouse: DuckDBWarehouse, consumer: str) -> None:
    with warehouse.connect() as con:
        con.execute("DELETE FROM change_cursors WHERE consumer = ?", [consumer])


def publish_plugin(plugin: MetricPlugin, warehouse: DuckDBWarehouse, postgres: PostgresResource,
                   incremental: bool = True) -> tuple[dict, dict[str, SinkScope]]:
    """Publish every table of the plugin (the periods its model changed, or with `incremental=False`
    every row); a table new to Postgres (a new model) is filled whole. Returns each table's figures
    and the scope it published."""
    published, scopes = {}, {}
    for stable, table in postgres_tables(plugin).items():
        with postgres.connect() as connection, connection.transaction():
            new = _exists(connection, table.name) is None
            connection.execute(create_sql(table))
        if new:
            _reset_cursor(warehouse, table.feed.consumer)
        published[stable], scopes[stable] = pg.publish_scoped(table, warehouse, postgres, incremental=incremental)
        with postgres.connect() as connection, connection.transaction():
            _point_view(connection, stable, table)
    return published, scopes


def read_back_check(plugin: MetricPlugin) -> str:
    return f"postgres_{_stable_name(plugin)}_read_back"


def check_plugin(plugin: MetricPlugin, warehouse: DuckDBWarehouse, postgres: PostgresResource,
                 scopes: dict[str, SinkScope] | None = None) -> dg.AssetCheckResult:
    """Each of the plugin's tables: rows and sums of its numeric measures per granularity equal the warehouse's
    (less rows the sink refused), within the periods in `scopes` (default: every period)."""
    numeric = (TYPES["bigint"], TYPES["double"])
    compared = []
    with warehouse.connect() as con, postgres.connect() as connection:
        for stable, table in postgres_tables(plugin).items():
            scope = (scopes or {}).get(stable, SinkScope.everything())
            where, where_params = pg.in_scope(scope)
            with scope.registered(con) as params:
                compared += compare_postgres(con, connection, [ReadBack(
                    Aggregate(table.name, "granularity", tuple(n for n, type_ in table.values if type_ in numeric)),
                    f"({published_rows_sql(table)}) AS d",
                    bind(table.source_sql, params) | {"refusing": f"postgres:{table.name}"},
                    store_where="" if scope == SinkScope.everything() else where,
                    store_params=() if scope == SinkScope.everything() else where_params, label=stable)])
    described = {stable: scope.describe() for stable, scope in (scopes or {}).items()}
    return read_back_result(read_back_check(plugin), "Postgres", compared,
                            scope="; ".join(f"{stable}: {d}" for stable, d in described.items()) or "everything")


def published_rows(plugin: MetricPlugin, warehouse: DuckDBWarehouse) -> int:
    """Rows the plugin's Postgres tables hold once published (its `dagster/row_count`): the warehouse's
    tables' rows less those the sink refused, counted without scanning the store's history."""
    with warehouse.connect() as con:
        return sum(con.execute("SELECT " + " + ".join(f"(SELECT count(*) FROM {name})" for name in table.feed.inputs)
                               + " - (SELECT count(*) FROM sink_quarantine WHERE sink = ?)",
                               [f"postgres:{table.name}"]).fetchone()[0]
                   for table in postgres_tables(plugin).values())


def reconcile_plugins(plugins: tuple[MetricPlugin, ...], warehouse: DuckDBWarehouse,
                      postgres: PostgresResource) -> list[Repaired]:
    """Every installed plugin whose model is built: each table made equal to the warehouse (a full diff)."""
    repaired = []
    for plugin in plugins:
        with warehouse.connect() as con:
            if not built(con, plugin):  # its sink waits for plugin_models as well
                dg.get_dagster_logger().info(f"plugin_{plugin.name}: not reconciled, plugin_models has not built its model yet")
                continue
        published, _ = publish_plugin(plugin, warehouse, postgres, incremental=False)
        repairs = {name: {"desired_rows": p["desired_rows"], "repaired_rows": p["written"], "deleted_extra": p["deleted"]}
                   for name, p in published.items()}
        repaired.append((dg.AssetKey(["postgres", _stable_name(plugin)]), repairs, check_plugin(plugin, warehouse, postgres)))
    return repaired


def postgres_asset(plugin: MetricPlugin) -> dg.AssetsDefinition:
    stable = _stable_name(plugin)
    inputs = [t.name for t in store.tables(plugin)]

    @dg.asset(
        key=["postgres", stable], deps=[asset_key(plugin, t.part) for t in store.tables(plugin)],
        group_name=GROUP, kinds={"postgres"}, owners=OWNERS, pool=WAREHOUSE_POOL, output_required=False,
        check_specs=[read_back_spec(read_back_check(plugin), dg.AssetKey(["postgres", stable]),
                                    "Row counts and sums of the numeric measures per granularity, in each of the plugin's "
                                    "tables, equal the warehouse's.")],
        description=f"{plugin.summary}: Postgres table {stable} (granularity DAY/MONTH/TOTAL, period_start)"
                    + (f" and {', '.join(_stable_name(plugin, r.name) for r in plugin.rollups)}" if plugin.rollups else "")
                    + ". Waits (no materialization) until plugin_models built the current model.",
        metadata={"dagster/column_schema": column_schema(
            ("granularity", "text", "DAY, MONTH or TOTAL"), ("period_start", "date", "day or month start; NULL for TOTAL"),
            *((c.name, TYPES[c.type], c.description) for c in plugin.columns)), CONSUMES: ",".join(inputs)},
    )
    def _postgres(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, postgres: PostgresResource):
        with warehouse.connect() as con:
            ready = built(con, plugin)
        if not ready:
            context.log.info(f"{stable}: plugin_models has not built model {plugin.name!r} as now declared; nothing published")
            yield dg.AssetCheckResult(check_name=read_back_check(plugin), passed=True, metadata={"read_back": "not run"},
                                      description="Nothing published, nothing read back: waiting for plugin_models to "
                                      "build the model as now declared.")
            return
        published, scopes = publish_plugin(plugin, warehouse, postgres)
        main = published.pop(stable)
        check = check_plugin(plugin, warehouse, postgres, scopes)
        yield dg.MaterializeResult(metadata=main | {f"{name}: written": p["written"] for name, p in published.items()}
                                   | {"dagster/row_count": published_rows(plugin, warehouse)}, check_results=[check])

    return _postgres
