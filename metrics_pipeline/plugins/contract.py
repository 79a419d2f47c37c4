"""The rules a plugin's SQL must keep, checked as early as possible: when the package loads (its SQL
runs on empty tables holding exactly the columns it declares) and on every window it computes.

Every refusal names the plugin, the column and the rule, and is an author mistake: shown at once,
never retried (a fixed plugin has a new code version, which rebuilds its days).
"""

from __future__ import annotations

import re
from datetime import date

import duckdb

from metrics_pipeline.plugins import columns
from metrics_pipeline.plugins.spec import PERIODS, Column, MetricPlugin, PluginSpecError

FRAMEWORK_PARAMETERS = ("start", "end", "plugins")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_MISSING_COLUMN = re.compile(r'Referenced (?:column|table) "([^"]+)" not found')
_MISSING_KEY = re.compile(r'Could not find key "([^"]+)" in struct')
_SAMPLE_DAY = date(2024, 1, 1)
EXAMPLES = 3


class PluginRefused(Exception):
    """An author mistake found while computing: the plugin is skipped alone, never retried."""


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:300]


def parameters(plugin_name: str, sql: str, start: date, end: date, plugin_names: list[str]) -> dict:
    """The framework's values for the parameters `sql` names; any other `$name` is refused."""
    named = set(_PARAMETER.findall(sql))
    unknown = named - set(FRAMEWORK_PARAMETERS)
    if unknown:
        raise PluginRefused(f"plugin {plugin_name!r}: its SQL names ${', $'.join(sorted(unknown))}; "
                            f"only ${', $'.join(FRAMEWORK_PARAMETERS)} are bound")
    values = {"start": start, "end": end, "plugins": list(plugin_names)}
    return {name: values[name] for name in named}


def _returned(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, what: str, sql: str, table: str) -> list[str]:
    """The column names `sql` returns over the empty `table`, or a refusal naming the column it misses."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise PluginSpecError(f"plugin {plugin.name!r}: its {what} does not parse: {_first_line(error)}") from None
    if [s.type for s in statements] != [duckdb.StatementType.SELECT]:
        raise PluginSpecError(f"plugin {plugin.name!r}: its {what} must be one SELECT (rule: plugin SQL only reads)")
    try:
        result = con.execute(sql, parameters(plugin.name, sql, _SAMPLE_DAY, _SAMPLE_DAY, []))
        names = [d[0] for d in result.description]
        result.fetchall()
    except PluginRefused as refused:
        raise PluginSpecError(str(refused)) from None
    except duckdb.Error as error:
        text = str(error)
        missing = _MISSING_COLUMN.search(text) or _MISSING_KEY.search(text)
        if missing and table == "source_rows":
            name = missing.group(1)
            candidates = [p for p in columns.KNOWN if p == name or p.startswith(name + ".") or p.endswith("." + name)]
            known = (f"add {', '.join(map(repr, candidates[:3]))}{', ...' if len(candidates) > 3 else ''} to `requires`"
                     if candidates else "it is not a column of the download schema")
            raise PluginSpecError(
                f"plugin {plugin.name!r}: its {what} reads {name!r}, which `requires` does not name ({known}; rule: "
                f"source_rows holds day, plugin_name, downloads and the columns `requires` names)") from None
        if missing:
            raise PluginSpecError(f"plugin {plugin.name!r}: its {what} reads {missing.group(1)!r}, which {table} does "
                                  f"not have (rule: {table} holds the plugin's declared columns)") from None
        raise PluginSpecError(f"plugin {plugin.name!r}: its {what} does not run over {table}: {_first_line(error)}") from None
    return names


def _requires_returned(plugin: MetricPlugin, what: str, names: list[str], period: str | None,
                       declared: tuple[Column, ...], error: type[Exception] = PluginSpecError) -> None:
    if period and period not in names:
        raise error(f"plugin {plugin.name!r}: its {what} returns no {period!r} column (rule: every row names "
                              f"its {'UTC day' if period == 'day' else period}; it returned {names})")
    missing = [c.name for c in declared if c.name not in names]
    if missing:
        raise error(f"plugin {plugin.name!r}: its {what} returns no column {', '.join(map(repr, missing))} (rule: "
                              f"it selects every declared column by name; it returned {names})")


def _table_sql(table: str, period: str | None, declared: tuple[Column, ...]) -> str:
    dated = [f"{period} DATE"] if period else []
    return f"CREATE TABLE {table} ({', '.join(dated + [f'{c.name} {c.type.upper()}' for c in declared])})"


def check_declaration(plugin: MetricPlugin) -> MetricPlugin:
    """Load-time: `requires` names source columns, and the SQL, its checks and rollups run on empty
    tables holding only what they may read and return what they must; a PluginSpecError otherwise."""
    required = columns.expand(plugin.name, plugin.requires)
    with duckdb.connect() as con:
        con.execute(columns.empty_table_sql("source_rows", required))
        _requires_returned(plugin, "SQL", _returned(con, plugin, "SQL", plugin.sql, "source_rows"), "day", plugin.columns)
        con.execute(_table_sql("plugin_rows", "day", plugin.columns))
        for check in plugin.checks:
            what = f"check {check.name}"
            _requires_returned(plugin, what, _returned(con, plugin, what, check.sql, "plugin_rows"), "day", ())
        con.execute(_table_sql("daily_rows", "day", plugin.columns))
        for rollup in plugin.rollups:
            what = f"rollup {rollup.name}"
            _requires_returned(plugin, what, _returned(con, plugin, what, rollup.sql, "daily_rows"),
                               PERIODS[rollup.period], rollup.columns)
    return plugin


def shape(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, what: str, source: str, target: str,
          period: str | None, declared: tuple[Column, ...], first: date | None, last: date | None) -> None:
    """Create temp table `target` from the rows in `source` as the declared columns and types (text
    dimensions' NULL and '' as 'unknown'); refuse rows outside [first, last], NULL keys and duplicate keys."""
    _requires_returned(plugin, what, con.sql(f"SELECT * FROM {source}").columns, period, declared, PluginRefused)
    casts = [f"CAST({period} AS DATE) AS {period}"] if period else []
    for c in declared:
        cast = f"CAST({c.name} AS {c.type.upper()})"
        casts.append(f"{columns.normalized(cast, columns.TEXT) if not c.measure and c.type == 'varchar' else cast} AS {c.name}")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT {', '.join(casts)} FROM {source}")
    except duckdb.ConversionException as error:
        wrong = next((c for c in declared if _fails_cast(con, source, c)), None)
        found = f"values in column {wrong.name!r} that are not {wrong.type}" if wrong else _first_line(error)
        raise PluginRefused(f"plugin {plugin.name!r}: its {what} returned {found} (rule: each column converts to its "
                            f"declared type)") from None
    keys = ([period] if period else []) + [c.name for c in declared if not c.measure]
    _refuse_null_keys(con, plugin, what, target, period, [k for k in keys if k == period or next(
        c for c in declared if c.name == k).type != "varchar"])
    if period and first is not None:
        outside = con.execute(f"SELECT DISTINCT {period} FROM {target} WHERE {period} < ? OR {period} > ? ORDER BY 1 LIMIT ?",
                              [first, last, EXAMPLES]).fetchall()
        if outside:
            raise PluginRefused(
                f"plugin {plugin.name!r}: its {what} returned rows for {', '.join(str(r[0]) for r in outside)} outside its "
                f"window {first}..{last} (rule: {period} stays within $start (inclusive) and $end (exclusive))")
    if keys:
        found = con.execute(f"SELECT {', '.join(keys)}, count(*) FROM {target} GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchall()
        if found:
            shown = ", ".join(f"{k}={v}" if isinstance(v, date) else f"{k}={v!r}" for k, v in zip(keys, found[0], strict=False))
            raise PluginRefused(
                f"plugin {plugin.name!r}: its {what} returned {found[0][-1]} rows for the key ({shown}) (rule: one row "
                f"per {' and '.join(keys)}: group by every dimension; NULL and '' both count as 'unknown')")


def _refuse_null_keys(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, what: str, target: str, period: str | None,
                      nullable: list[str]) -> None:
    if not nullable:
        return
    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {k} IS NULL)' for k in nullable)} FROM {target}").fetchall()[0]
    for key, n in zip(nullable, counts, strict=True):
        if n:
            rule = ("every row names its period" if key == period else "dimensions are the key and never NULL; text ones "
                    "read NULL and empty as unknown, others need coalesce(...)")
            raise PluginRefused(f"plugin {plugin.name!r}: its {what} returned {n} row(s) with a NULL {key!r} (rule: {rule})")


def _fails_cast(con: duckdb.DuckDBPyConnection, source: str, column: Column) -> bool:
    try:
        con.execute(f"SELECT CAST({column.name} AS {column.type.upper()}) FROM {source}").fetchall()
    except duckdb.ConversionException:
        return True
    return False
