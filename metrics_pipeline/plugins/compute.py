"""One plugin over one window of days, in a scratch DuckDB holding `window_rows` (what the source read
for every plugin of the run): its own `source_rows`, its SQL once, the result held to the contract,
its checks. The pipeline step and `python -m metrics_pipeline.plugins run` both use it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from metrics_pipeline.changes import Range
from metrics_pipeline.plugins import columns, contract, store
from metrics_pipeline.plugins.contract import PluginRefused
from metrics_pipeline.plugins.spec import MetricPlugin

STREAM_ROWS = 100_000  # rows held in memory at once on their way from the scratch DuckDB to the warehouse
TRANSIENT = (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.InterruptException)


def windows(ranges: Iterable[Range], skipped: set[date]) -> Iterator[Range]:
    """Contiguous runs of days of `ranges` without the `skipped` days."""
    for first, last in ranges:
        start = None
        day = first
        while day <= last:
            if day in skipped:
                if start is not None:
                    yield start, day - timedelta(days=1)
                start = None
            elif start is None:
                start = day
            day += timedelta(days=1)
        if start is not None:
            yield start, last


def required(plugin: MetricPlugin) -> tuple[str, ...]:
    return columns.expand(plugin.name, plugin.requires)


def _source_rows(scratch: duckdb.DuckDBPyConnection, plugin: MetricPlugin, first: date, last: date) -> None:
    """`source_rows`: the window's rows of `window_rows` with only the plugin's columns (a view, so the
    plugin's SQL reads them in its own pass)."""
    paths = [p for p in required(plugin) if p != "downloads"]
    scratch.execute("CREATE OR REPLACE TEMP TABLE plugin_window AS SELECT $first::DATE AS first_day, $last::DATE AS last_day",
                    {"first": first, "last": last})
    scratch.execute(
        f"CREATE OR REPLACE TEMP VIEW source_rows AS SELECT {columns.select_list(paths, lambda path: path)}, downloads "
        "FROM window_rows WHERE day BETWEEN (SELECT first_day FROM plugin_window) AND (SELECT last_day FROM plugin_window)")


def _run_sql(scratch: duckdb.DuckDBPyConnection, plugin: MetricPlugin, what: str, sql: str, first: date, last: date,
             plugin_names: list[str], into: str | None = None) -> pa.Table | None:
    """The SQL's rows as Arrow, or into the scratch table `into`; a SQL error is the author's."""
    params = contract.parameters(plugin.name, sql, first, last + timedelta(days=1), plugin_names)
    try:
        relation = scratch.sql(sql, params=params)
        if into is None:
            return relation.to_arrow_table()
        scratch.execute(f"DROP TABLE IF EXISTS {into}")
        relation.create(into)
        return None
    except TRANSIENT:
        raise
    except duckdb.Error as error:
        raise PluginRefused(f"plugin {plugin.name!r}: its {what} failed on {first}..{last}: "
                            f"{str(error).strip()[:500]}") from None


def compute_window(scratch: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection, plugin: MetricPlugin,
                   first: date, last: date, plugin_names: list[str]) -> int:
    """The plugin's daily rows for [first, last] replace those days of its daily table in `con`, streamed
    from the scratch table `plugin_rows` (left for its checks); returns their count."""
    _source_rows(scratch, plugin, first, last)
    _run_sql(scratch, plugin, "SQL", plugin.sql, first, last, plugin_names, into="plugin_result")
    contract.shape(scratch, plugin, "SQL", "plugin_result", "plugin_rows", "day", plugin.columns, first, last)
    with scratch.table("plugin_rows").to_arrow_reader(STREAM_ROWS) as rows:
        store.replace_days(con, plugin.table("daily"), "day", first, last, rows)
    return scratch.execute("SELECT count(*) FROM plugin_rows").fetchall()[0][0]


def check_window(scratch: duckdb.DuckDBPyConnection, plugin: MetricPlugin, first: date, last: date,
                 plugin_names: list[str]) -> dict[str, dict[date, int]]:
    """Bad rows per check and day of the window (0 for a day without any), over `plugin_rows`."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    found: dict[str, dict[date, int]] = {}
    for check in plugin.checks:
        bad = _run_sql(scratch, plugin, f"check {check.name}", check.sql, first, last, plugin_names)
        if "day" not in bad.column_names:
            raise PluginRefused(f"plugin {plugin.name!r}: its check {check.name} returned no 'day' column (rule: a check "
                                "selects the bad rows with their day)")
        try:
            bad_days = bad["day"].cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise PluginRefused(f"plugin {plugin.name!r}: its check {check.name} returned a 'day' that is not a date "
                                "(rule: a check selects the bad rows with their day)") from None
        counts = {c["values"]: c["counts"] for c in pc.value_counts(bad_days).to_pylist()}
        found[check.name] = {day: counts.get(day, 0) for day in days}
    return found
