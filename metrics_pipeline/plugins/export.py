"""Export datasets for the installed plugins' models: `plugin_<name>_daily|monthly|total`.

Every identifier comes from a validated plugin declaration; filters and paging stay bound values.
"""

from __future__ import annotations

from metrics_pipeline.api.export import Dataset
from metrics_pipeline.plugins import store
from metrics_pipeline.plugins.loader import installed_plugins
from metrics_pipeline.plugins.spec import MetricPlugin

_GRAINS = {"daily": ("day", "day", "DAY"), "monthly": ("month", "month_start", "MONTH"), "total": (None, None, "TOTAL")}


def plugin_datasets(plugins: tuple[MetricPlugin, ...] | None = None) -> dict[str, Dataset]:
    """One dataset per plugin and grain, ordered by time first (the `order` parameter flips it)."""
    found = {}
    for plugin in installed_plugins().plugins if plugins is None else plugins:
        names = [c.name for c in plugin.columns]
        dims = tuple(c.name for c in plugin.dimensions)
        for grain in store.grains(plugin):
            alias, column, label = _GRAINS[grain]
            dated = (alias,) if alias else ()
            warehouse_date = [f"{column} AS {alias}"] if alias else []
            postgres_date = [f"period_start AS {alias}"] if alias else []
            dataset = Dataset(
                name=plugin.table(grain),
                columns=(*dated, *names),
                date_column=alias,
                order_by=(*dated, *dims),
                duckdb_sql=f"SELECT {', '.join(warehouse_date + names)} FROM {plugin.table(grain)}",
                postgres_sql=f"SELECT {', '.join(postgres_date + names)} FROM plugin_{plugin.name} WHERE granularity = '{label}'",
            )
            found[dataset.name] = dataset
    return found


def copy_plugin_tables(source, memory) -> None:
    """Copy the installed plugins' warehouse tables into the read API's DuckDB snapshot; a table no
    run has built yet is created empty, so its export answers with no rows."""
    present = {name for (name,) in source.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for plugin in installed_plugins().plugins:
        for grain in store.grains(plugin):
            table = plugin.table(grain)
            if table in present:
                memory.register("snapshot_rows", source.sql(f"SELECT * FROM {table}").to_arrow_table())
                memory.execute(f"CREATE TABLE {table} AS SELECT * FROM snapshot_rows")
                memory.unregister("snapshot_rows")
            else:
                columns = ", ".join(f"{name} {type_.upper()}" for name, type_ in store.table_columns(plugin, grain))
                memory.execute(f"CREATE TABLE {table} ({columns})")
