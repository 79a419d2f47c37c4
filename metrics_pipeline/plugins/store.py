"""A plugin's warehouse tables and the SQL over them; identifiers come only from validated declarations."""

from __future__ import annotations

import re
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa

from metrics_pipeline.plugins.spec import MetricPlugin

GRAINS = {"daily": "day", "monthly": "month_start", "total": None}  # table grain -> its date column
FRAMEWORK_PARAMETERS = ("start", "end", "plugins")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_ARROW = {"varchar": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "date": pa.date32(),
          "boolean": pa.bool_(), "timestamp": pa.timestamp("us")}


def refused(message: str) -> dg.Failure:
    """A failure the plugin's own declaration or SQL causes: shown at once, not retried (a fix to the
    plugin changes its code version, which re-requests its days); other errors are retried."""
    return dg.Failure(message, allow_retries=False)


def grains(plugin: MetricPlugin) -> list[str]:
    return list(GRAINS) if plugin.additive else ["daily"]


def table_columns(plugin: MetricPlugin, grain: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a grain's table: its date column (if any), then the model's columns."""
    date_column = GRAINS[grain]
    return ([(date_column, "date")] if date_column else []) + [(c.name, c.type) for c in plugin.columns]


def ensure_tables(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin) -> None:
    """Create the plugin's tables; refuse (naming the table) when an existing one has another model."""
    for grain in grains(plugin):
        table, wanted = plugin.table(grain), table_columns(plugin, grain)
        found = con.execute(
            "SELECT column_name, lower(data_type) FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        if found and [name for name, _ in found] != [name for name, _ in wanted]:
            raise refused(
                f"warehouse table {table} holds columns {[n for n, _ in found]} but plugin {plugin.name!r} now declares "
                f"{[n for n, _ in wanted]}: drop the plugin's tables (DROP TABLE {table}) and backfill it"
            )
        if not found:
            keys = [GRAINS[grain]] if GRAINS[grain] else []
            keys += [c.name for c in plugin.dimensions]
            definition = ", ".join(
                f"{name} {type_.upper()}" + (" NOT NULL" if name in keys else "") for name, type_ in wanted
            )
            primary = f", PRIMARY KEY ({', '.join(keys)})" if keys else ""
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({definition}{primary})")


def bound_parameters(plugin: MetricPlugin, sql: str, start: date, end: date, plugin_names: list[str]) -> dict:
    """The framework's values for the parameters `sql` names; any other `$name` is refused."""
    named = set(_PARAMETER.findall(sql))
    unknown = named - set(FRAMEWORK_PARAMETERS)
    if unknown:
        raise refused(f"plugin {plugin.name!r}: its SQL names ${', $'.join(sorted(unknown))}; "
                         f"only ${', $'.join(FRAMEWORK_PARAMETERS)} are bound")
    values = {"start": start, "end": end, "plugins": list(plugin_names)}
    return {name: values[name] for name in named}


def shaped(plugin: MetricPlugin, result: pa.Table, day: date) -> pa.Table:
    """The SQL's result as the daily table's columns and types; rows of another day are an error."""
    wanted = table_columns(plugin, "daily")
    missing = [name for name, _ in wanted if name not in result.column_names]
    if missing:
        raise refused(f"plugin {plugin.name!r}: its SQL returned {result.column_names}, missing {missing}")
    try:
        shaped_rows = pa.table({name: result[name].cast(_ARROW[type_]) for name, type_ in wanted})
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise refused(f"plugin {plugin.name!r}: its SQL returned a column of the wrong type: {error}") from None
    others = {d for d in shaped_rows["day"].to_pylist() if d != day}
    if others:
        raise refused(f"plugin {plugin.name!r}: its SQL returned rows for {sorted(others)[:3]} in the partition of {day}")
    return shaped_rows


def rollup_sql(plugin: MetricPlugin, grain: str) -> str:
    """Monthly from daily, total from monthly: dimensions kept, measures summed."""
    dims = [c.name for c in plugin.dimensions]
    sums = [f"sum({c.name})::{c.type.upper()}" for c in plugin.measures]
    if grain == "monthly":
        return (f"SELECT CAST(date_trunc('month', day) AS DATE), {', '.join(dims + sums)} FROM {plugin.table('daily')} "
                "WHERE day >= $start AND day < $end GROUP BY ALL HAVING count(*) > 0")
    return f"SELECT {', '.join(dims + sums)} FROM {plugin.table('monthly')} GROUP BY ALL HAVING count(*) > 0"
