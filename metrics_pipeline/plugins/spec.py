"""What a metric plugin declares: its model (columns), the SQL that fills one day, and whether it adds up.

A package registers a `MetricPlugin` (or a zero-argument callable returning one) under the entry
point group `metrics_pipeline.plugins`; the pipeline builds its assets, tables and export from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ENTRY_POINT_GROUP = "metrics_pipeline.plugins"
SOURCES = ("downloads", "commits", "events", "community")  # only "downloads" is implemented so far
IMPLEMENTED_SOURCES = ("downloads",)

# Warehouse (DuckDB) type -> Postgres type; a model may use only these.
TYPES = {"varchar": "text", "bigint": "int8", "double": "float8", "date": "date", "boolean": "boolean", "timestamp": "timestamp"}
NUMERIC_TYPES = ("bigint", "double")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COLUMN = re.compile(r"[a-z][a-z0-9_]{0,62}")
RESERVED_COLUMNS = {"day", "month_start", "granularity", "period_start", "period_key", "updated_at"}


class PluginSpecError(ValueError):
    """A plugin declaration the pipeline cannot build; the message names the plugin and the field."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of TYPES
    description: str
    measure: bool = False  # measures are summed by the rollups; other columns are dimensions (the key)


@dataclass(frozen=True)
class PluginCheck:
    """A check run after each day lands: `sql` (DuckDB, over `plugin_rows` = the day's rows just
    computed, with `$start`/`$end`) returns one integer, the number of bad rows; 0 passes."""

    name: str
    description: str
    sql: str
    blocking: bool = False


@dataclass(frozen=True)
class MetricPlugin:
    """A metric model. `sql` runs per UTC day over `source_rows` (that day's source rows, see
    `metrics_pipeline.plugins.rows`) with bound `$start`, `$end`, `$plugins`; it must select
    `day` and then every column of `columns`, by name."""

    name: str
    summary: str
    columns: tuple[Column, ...]
    sql: str
    source: str = "downloads"
    additive: bool = True
    checks: tuple[PluginCheck, ...] = ()
    requires: tuple[str, ...] = ()  # source_rows columns the SQL reads (checked against the source)
    description: str = ""  # longer text for the asset page; the summary is used when empty
    kinds: frozenset[str] = field(default_factory=lambda: frozenset({"duckdb"}))

    @property
    def dimensions(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.measure)

    @property
    def measures(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.measure)

    def table(self, grain: str) -> str:
        """Warehouse table of one grain (daily, monthly, total); the name was validated."""
        return f"plugin_{self.name}_{grain}"


def validate(plugin: object, origin: str) -> MetricPlugin:
    """The plugin if every identifier and type is usable; otherwise a PluginSpecError naming `origin`."""
    if not isinstance(plugin, MetricPlugin):
        raise PluginSpecError(f"{origin}: expected a MetricPlugin, got {type(plugin).__name__}")
    where = f"{origin} (plugin {plugin.name!r})"
    if not isinstance(plugin.name, str) or not _NAME.fullmatch(plugin.name):
        raise PluginSpecError(f"{where}: name must match {_NAME.pattern}")
    if plugin.source not in SOURCES:
        raise PluginSpecError(f"{where}: source {plugin.source!r} is not one of {SOURCES}")
    if not plugin.summary or "\n" in plugin.summary:
        raise PluginSpecError(f"{where}: summary must be one non-empty line")
    if not plugin.columns or not plugin.measures:
        raise PluginSpecError(f"{where}: columns must include at least one measure")
    seen = set()
    for column in plugin.columns:
        if not _COLUMN.fullmatch(column.name) or column.name in RESERVED_COLUMNS or column.name in seen:
            raise PluginSpecError(f"{where}: column {column.name!r} must match {_COLUMN.pattern}, be unique and not "
                                  f"one of {sorted(RESERVED_COLUMNS)}")
        seen.add(column.name)
        if column.type not in TYPES:
            raise PluginSpecError(f"{where}: column {column.name} has type {column.type!r}, not one of {sorted(TYPES)}")
        if column.measure and plugin.additive and column.type not in NUMERIC_TYPES:
            raise PluginSpecError(f"{where}: measure {column.name} of an additive plugin must be bigint or double")
    for check in plugin.checks:
        if not _COLUMN.fullmatch(check.name):
            raise PluginSpecError(f"{where}: check name {check.name!r} must match {_COLUMN.pattern}")
    return plugin
