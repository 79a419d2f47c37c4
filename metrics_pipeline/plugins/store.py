"""A plugin's warehouse tables: their shape from the declared model, migration when the model changed,
and the monthly/total rollups of additive plugins. Identifiers come only from validated declarations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from metrics_pipeline.plugins.spec import PERIODS, Column, MetricPlugin

GRAIN_DATES = {"daily": "day", "monthly": "month_start", "total": None}  # grain -> its date column


@dataclass(frozen=True)
class Table:
    """One warehouse table of a plugin: a grain (daily, monthly, total) or a declared rollup."""

    name: str
    part: str  # grain or rollup name: the asset key's last part
    date_column: str | None
    columns: tuple[Column, ...]

    @property
    def typed(self) -> list[tuple[str, str]]:
        """(name, DuckDB type): the date column (if any), then the declared columns."""
        return ([(self.date_column, "date")] if self.date_column else []) + [(c.name, c.type) for c in self.columns]

    @property
    def key(self) -> list[str]:
        return ([self.date_column] if self.date_column else []) + [c.name for c in self.columns if not c.measure]


def tables(plugin: MetricPlugin) -> list[Table]:
    """Every table the plugin's model fills, daily first."""
    found = [Table(plugin.table(grain), grain, GRAIN_DATES[grain], plugin.columns) for grain in plugin.grains]
    return found + [Table(plugin.table(r.name), r.name, PERIODS[r.period], r.columns) for r in plugin.rollups]


def stored_shapes(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(column, type) of each named table in the warehouse, in order (one catalog query; [] when absent)."""
    found: dict[str, list[tuple[str, str]]] = {name: [] for name in names}
    for table, name, type_ in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN "
            "(SELECT unnest(?::VARCHAR[])) AND table_schema = 'main' ORDER BY table_name, ordinal_position", [names]).fetchall():
        found[table].append((name, type_.lower()))
    return found


def stored_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return stored_shapes(con, [table])[table]


def current(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin) -> bool:
    """Every table of the plugin exists with the declared model's columns and types."""
    shapes = stored_shapes(con, [t.name for t in tables(plugin)])
    return all(shapes[t.name] == t.typed for t in tables(plugin))


def ensure_tables(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin) -> list[str]:
    """Create the plugin's tables; one holding another model (a column added, removed or retyped) is
    replaced empty, to be rebuilt in the same transaction. Returns the tables replaced."""
    replaced = []
    shapes = stored_shapes(con, [t.name for t in tables(plugin)])
    for table in tables(plugin):
        found = shapes[table.name]
        if found == table.typed:
            continue
        if found:
            con.execute(f"DROP TABLE {table.name}")
            replaced.append(table.name)
        definition = ", ".join(f"{name} {type_.upper()}" + (" NOT NULL" if name in table.key else "")
                               for name, type_ in table.typed)
        con.execute(f"CREATE TABLE {table.name} ({definition})")
    return replaced


def replace_days(con: duckdb.DuckDBPyConnection, table: str, column: str, first: date, last: date, rows) -> None:
    """Replace `table`'s rows with `column` in [first, last] by `rows` (an Arrow table or a reader streamed once,
    the table's columns in order)."""
    con.execute(f"DELETE FROM {table} WHERE {column} BETWEEN ? AND ?", [first, last])
    con.register("incoming_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")


def rollup_sql(plugin: MetricPlugin, grain: str) -> str:
    """Monthly from daily (days in [$start, $end)), total from monthly: dimensions kept, measures summed."""
    dims = [c.name for c in plugin.dimensions]
    sums = [f"sum({c.name})::{c.type.upper()}" for c in plugin.measures]
    if grain == "monthly":
        return (f"SELECT CAST(date_trunc('month', day) AS DATE), {', '.join(dims + sums)} FROM {plugin.table('daily')} "
                "WHERE day >= $start AND day < $end GROUP BY ALL")
    return f"SELECT {', '.join(dims + sums)} FROM {plugin.table('monthly')} GROUP BY ALL"
