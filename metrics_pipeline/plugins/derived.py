"""What the pipeline derives from a plugin's daily table after its days changed: the monthly and total
sums of an additive model, and the model's declared rollups (monthly distinct counts, running totals).
Runs in the plugin's transaction; returns what changed, for the change log."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from metrics_pipeline import changes
from metrics_pipeline.changes import WHOLE, Range
from metrics_pipeline.plugins import contract, store
from metrics_pipeline.plugins.compute import TRANSIENT
from metrics_pipeline.plugins.contract import PluginRefused
from metrics_pipeline.plugins.spec import PERIODS, MetricPlugin, PluginRollup


def _sums(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, months: list[Range]) -> dict[str, list[Range]]:
    monthly, total = plugin.table("monthly"), plugin.table("total")
    for first, last in months:
        con.execute(f"DELETE FROM {monthly} WHERE month_start BETWEEN ? AND ?", [first, last])
        con.execute(f"INSERT INTO {monthly} {store.rollup_sql(plugin, 'monthly')}",
                    {"start": first, "end": last + timedelta(days=1)})
    con.execute(f"DELETE FROM {total}")
    con.execute(f"INSERT INTO {total} {store.rollup_sql(plugin, 'total')}")
    return {monthly: months, total: [WHOLE]}


def _declared(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, rollup: PluginRollup, first: date, last: date,
              keep: tuple[date, date] | None) -> None:
    """Run `rollup` over `daily_rows` (the daily rows in `keep`, all when None) for [first, last] and
    replace those periods of its table."""
    daily, table, period = plugin.table("daily"), plugin.table(rollup.name), PERIODS[rollup.period]
    bounds = ("WHERE day BETWEEN ? AND ?", list(keep)) if keep else ("", [])
    con.execute(f"CREATE OR REPLACE TEMP TABLE daily_rows AS SELECT * FROM {daily} {bounds[0]}", bounds[1])
    what = f"rollup {rollup.name}"
    params = contract.parameters(plugin.name, rollup.sql, first, last + timedelta(days=1), [])
    try:
        result = con.sql(rollup.sql, params=params).to_arrow_table()
    except TRANSIENT:
        raise
    except duckdb.Error as error:
        raise PluginRefused(f"plugin {plugin.name!r}: its {what} failed on {first}..{last}: {str(error).strip()[:500]}") from None
    con.register("rollup_result", result)
    try:
        contract.shape(con, plugin, what, "rollup_result", "rollup_rows", period, rollup.columns,
                       first if period else None, last if period else None)
    finally:
        con.unregister("rollup_result")
    if period:
        con.execute(f"DELETE FROM {table} WHERE {period} BETWEEN ? AND ?", [first, last])
    else:
        con.execute(f"DELETE FROM {table}")
    con.execute(f"INSERT INTO {table} SELECT * FROM rollup_rows")
    con.execute("DROP TABLE rollup_rows")
    con.execute("DROP TABLE daily_rows")


def refresh(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, days: list[Range]) -> dict[str, list[Range]]:
    """Bring the plugin's derived tables up to date with its changed `days`; table -> changed periods."""
    if not days:
        return {}
    months = changes.whole_months(days)
    changed = _sums(con, plugin, months) if plugin.additive else {}
    newest = max(last for _, last in days)
    for rollup in plugin.rollups:
        table = plugin.table(rollup.name)
        if rollup.period == "month":
            for first, last in months:
                _declared(con, plugin, rollup, first, last, (first, last))
            changed[table] = months
        elif rollup.period == "day":
            first = min(first for first, _ in days)
            stored = con.execute(f"SELECT max(day) FROM {plugin.table('daily')}").fetchall()[0][0]
            last = max(newest, stored or newest)
            _declared(con, plugin, rollup, first, last, (date.min, last))
            changed[table] = [(first, last)]
        else:
            span = con.execute(f"SELECT min(day), max(day) FROM {plugin.table('daily')}").fetchall()[0]
            _declared(con, plugin, rollup, span[0] or days[0][0], span[1] or newest, None)
            changed[table] = [WHOLE]
    return changed
