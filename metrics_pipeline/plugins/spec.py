"""What a metric plugin declares: its model (columns), the SQL that fills a window of days, its rollups.

A package registers a `MetricPlugin` (or a zero-argument callable returning one) under the entry
point group `metrics_pipeline.plugins`; the pipeline builds its assets, tables and export from it.
Identifiers are checked here; what the SQL reads and returns is checked when the package loads
(`plugins/contract.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

ENTRY_POINT_GROUP = "metrics_pipeline.plugins"
SOURCES = ("downloads", "commits", "events", "community")  # only "downloads" is implemented so far
IMPLEMENTED_SOURCES = ("downloads",)

# Warehouse (DuckDB) type -> Postgres type; a model may use only these.
TYPES = {"varchar": "text", "bigint": "int8", "double": "float8", "date": "date", "boolean": "boolean", "timestamp": "timestamp"}
NUMERIC_TYPES = ("bigint", "double")
GRAINS = ("daily", "monthly", "total")
PERIODS = {"month": "month_start", "day": "day", "all": None}  # rollup period -> its date column
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COLUMN = re.compile(r"[a-z][a-z0-9_]{0,62}")
_ROLLUP = re.compile(r"[a-z][a-z0-9_]{0,19}")
# Postgres names are at most 63 bytes: plugin_<name>_<rollup>__<8 hex> must fit.
MAX_NAME_AND_ROLLUP = 44
RESERVED_COLUMNS = {"day", "month_start", "granularity", "period_start", "period_key", "updated_at"}


class PluginSpecError(ValueError):
    """A plugin declaration the pipeline cannot build; the message names the plugin, the field and the rule."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of TYPES
    description: str
    measure: bool = False  # measures are summed by the rollups; other columns are dimensions (the key)


@dataclass(frozen=True)
class PluginCheck:
    """A check over each window just computed: `sql` (DuckDB, over `plugin_rows`, the window's rows,
    with `$start`/`$end`) selects the bad rows with their `day`; a day without bad rows passes."""

    name: str
    description: str
    sql: str
    blocking: bool = False  # a failing blocking check leaves the plugin's tables as they were


@dataclass(frozen=True)
class PluginRollup:
    """A table the pipeline derives from the plugin's own daily table (`daily_rows`) with bound
    `$start`/`$end`: `month` rows (`month_start` + columns, e.g. a monthly distinct count) for the
    months whose days changed; `day` rows (`day` + columns, e.g. running totals) from the first
    changed day on, reading every earlier day; `all` (columns only), recomputed whole."""

    name: str
    summary: str
    columns: tuple[Column, ...]  # non-measures are the key (with the period column)
    sql: str
    period: str = "month"  # one of PERIODS


@dataclass(frozen=True)
class MetricPlugin:
    """A metric model. `sql` runs once per contiguous window of days over `source_rows` (the window's
    download rows of registry plugins, grouped, with a `downloads` count and the columns `requires`
    names) with bound `$start` (first day) and `$end` (day after the last); it returns `day` and
    every column of `columns`, by name, one row per day and dimensions."""

    name: str
    summary: str
    columns: tuple[Column, ...]
    sql: str
    source: str = "downloads"
    additive: bool = True
    checks: tuple[PluginCheck, ...] = ()
    requires: tuple[str, ...] = ()  # source columns the SQL reads besides day, plugin_name, downloads
    description: str = ""  # longer text for the asset page; the summary is used when empty
    kinds: frozenset[str] = field(default_factory=lambda: frozenset({"duckdb"}))
    rollups: tuple[PluginRollup, ...] = ()

    @property
    def dimensions(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.measure)

    @property
    def measures(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.measure)

    @property
    def grains(self) -> tuple[str, ...]:
        return GRAINS if self.additive else ("daily",)

    def table(self, grain: str) -> str:
        """Warehouse table of a grain (daily, monthly, total) or rollup; the names were validated."""
        return f"plugin_{self.name}_{grain}"

    def rollup(self, name: str) -> PluginRollup:
        return next(r for r in self.rollups if r.name == name)


def _columns(where: str, columns: tuple[Column, ...], additive: bool) -> None:
    seen = set()
    for column in columns:
        if not isinstance(column, Column):
            raise PluginSpecError(f"{where}: columns must be Column(...), got {type(column).__name__}")
        if not _COLUMN.fullmatch(column.name) or column.name in RESERVED_COLUMNS or column.name in seen:
            raise PluginSpecError(f"{where}: column {column.name!r} must match {_COLUMN.pattern}, be unique and not "
                                  f"one of {sorted(RESERVED_COLUMNS)}")
        seen.add(column.name)
        if column.type not in TYPES:
            raise PluginSpecError(f"{where}: column {column.name} has type {column.type!r}, not one of {sorted(TYPES)}")
        if column.measure and additive and column.type not in NUMERIC_TYPES:
            raise PluginSpecError(f"{where}: measure {column.name} of an additive plugin must be bigint or double")
    if not any(c.measure for c in columns):
        raise PluginSpecError(f"{where}: columns must include at least one measure")


def validate(plugin: object, origin: str) -> MetricPlugin:
    """The plugin if every identifier and type is usable; otherwise a PluginSpecError naming `origin`."""
    if not isinstance(plugin, MetricPlugin):
        raise PluginSpecError(f"{origin}: expected a MetricPlugin, got {type(plugin).__name__}")
    where = f"{origin} (plugin {plugin.name!r})"
    try:  # lists given for tuples are accepted; the declaration stays hashable
        plugin = replace(plugin, columns=tuple(plugin.columns), checks=tuple(plugin.checks), requires=tuple(plugin.requires),
                         rollups=tuple(replace(r, columns=tuple(r.columns)) if isinstance(r, PluginRollup) else r
                                       for r in plugin.rollups), kinds=frozenset(plugin.kinds))
    except TypeError as error:
        raise PluginSpecError(f"{where}: columns, checks, requires, rollups and kinds must be sequences: {error}") from None
    if not isinstance(plugin.name, str) or not _NAME.fullmatch(plugin.name):
        raise PluginSpecError(f"{where}: name must match {_NAME.pattern}")
    if plugin.source not in SOURCES:
        raise PluginSpecError(f"{where}: source {plugin.source!r} is not one of {SOURCES}")
    if not plugin.summary or "\n" in plugin.summary:
        raise PluginSpecError(f"{where}: summary must be one non-empty line")
    if not plugin.columns:
        raise PluginSpecError(f"{where}: columns must include at least one measure")
    _columns(where, plugin.columns, plugin.additive)
    if not all(isinstance(name, str) for name in plugin.requires):
        raise PluginSpecError(f"{where}: requires must be column names (text), e.g. ('details.cpu',)")
    for check in plugin.checks:
        if not _COLUMN.fullmatch(check.name):
            raise PluginSpecError(f"{where}: check name {check.name!r} must match {_COLUMN.pattern}")
    if len({c.name for c in plugin.checks}) != len(plugin.checks):
        raise PluginSpecError(f"{where}: check names must be unique")
    seen = set()
    for rollup in plugin.rollups:
        name = getattr(rollup, "name", rollup)
        why = ("must be a PluginRollup" if not isinstance(rollup, PluginRollup) else
               f"name must match {_ROLLUP.pattern}" if not isinstance(name, str) or not _ROLLUP.fullmatch(name) else
               f"name must not be one of {list(GRAINS)} or another rollup's" if name in GRAINS or name in seen else
               f"name and the plugin's together must be at most {MAX_NAME_AND_ROLLUP} characters (Postgres names are "
               "at most 63 bytes)" if len(plugin.name) + len(name) > MAX_NAME_AND_ROLLUP else None)
        if why:
            raise PluginSpecError(f"{where}: rollup {name!r}: {why}")
        seen.add(rollup.name)
        if rollup.period not in PERIODS:
            raise PluginSpecError(f"{where}: rollup {rollup.name} has period {rollup.period!r}, not one of {list(PERIODS)}")
        if not rollup.summary or "\n" in rollup.summary:
            raise PluginSpecError(f"{where}: rollup {rollup.name}: summary must be one non-empty line")
        _columns(f"{where}: rollup {rollup.name}", rollup.columns, additive=False)
    return plugin
