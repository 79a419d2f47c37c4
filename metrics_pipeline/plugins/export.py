"""Export datasets for the installed plugins' models: `plugin_<name>_daily|monthly|total` and
`plugin_<name>_<rollup>`.

Every identifier comes from a validated plugin declaration; filters and paging stay bound values.
A dataset reads the model it was started with: from the warehouse only a table holding that model
(otherwise none yet, so no rows), from Postgres the table named after that model's shape.
"""

from __future__ import annotations

from metrics_pipeline.api.export import Dataset
from metrics_pipeline.plugins import store
from metrics_pipeline.plugins.loader import usable_plugins
from metrics_pipeline.plugins.sink import postgres_table
from metrics_pipeline.plugins.spec import MetricPlugin

_ALIASES = {"day": "day", "month_start": "month", None: None}
_LABELS = {"day": "DAY", "month_start": "MONTH", None: "TOTAL"}


def plugin_datasets(plugins: tuple[MetricPlugin, ...] | None = None) -> dict[str, Dataset]:
    """One dataset per plugin table, ordered by time first (the `order` parameter flips it)."""
    found = {}
    for plugin in usable_plugins().plugins if plugins is None else plugins:
        for table in store.tables(plugin):
            names = [c.name for c in table.columns]
            dims = tuple(c.name for c in table.columns if not c.measure)
            alias = _ALIASES[table.date_column]
            dated = (alias,) if alias else ()
            warehouse_date = [f"{table.date_column} AS {alias}"] if alias else []
            postgres_date = [f"period_start AS {alias}"] if alias else []
            target = postgres_table(plugin, None if table.part in plugin.grains else table.part).name
            dataset = Dataset(
                name=table.name,
                columns=(*dated, *names),
                date_column=alias,
                order_by=(*dated, *dims),
                duckdb_sql=f"SELECT {', '.join(warehouse_date + names)} FROM {table.name}",
                postgres_sql=f"SELECT {', '.join(postgres_date + names)} FROM {target} "
                             f"WHERE granularity = '{_LABELS[table.date_column]}'",
            )
            found[dataset.name] = dataset
    return found


def copy_plugin_tables(source, memory, plugins: tuple[MetricPlugin, ...] | None = None) -> None:
    """Copy the installed plugins' warehouse tables into the read API's DuckDB snapshot; a table no run
    has built yet, or one still holding an earlier model, is created empty (its export has no rows)."""
    for plugin in usable_plugins().plugins if plugins is None else plugins:
        for table in store.tables(plugin):
            if store.stored_columns(source, table.name) == table.typed:
                memory.register("snapshot_rows", source.sql(f"SELECT * FROM {table.name}").to_arrow_table())
                memory.execute(f"CREATE TABLE {table.name} AS SELECT * FROM snapshot_rows")
                memory.unregister("snapshot_rows")
            else:
                columns = ", ".join(f"{name} {type_.upper()}" for name, type_ in table.typed)
                memory.execute(f"CREATE TABLE {table.name} ({columns})")
