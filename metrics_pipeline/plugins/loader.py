"""Finds the installed metric plugins through the `metrics_pipeline.plugins` entry points.

A plugin is checked when its package loads (identifiers, `requires`, and its SQL on empty tables:
`plugins/contract.py`), so an author mistake of that kind never reaches a run.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from metrics_pipeline.plugins import columns, store
from metrics_pipeline.plugins.contract import check_declaration
from metrics_pipeline.plugins.rows import SOURCE_KINDS, missing_columns_message, source_kind
from metrics_pipeline.plugins.sink import postgres_names
from metrics_pipeline.plugins.spec import ENTRY_POINT_GROUP, MetricPlugin, PluginSpecError, validate


class PluginLoadWarning(UserWarning):
    """An installed plugin that could not be loaded; the rest of the pipeline loads without it."""


@dataclass(frozen=True)
class Installed:
    plugins: tuple[MetricPlugin, ...]
    refused: dict[str, str]  # entry point value (or plugin name) -> why it was left out


def _names(plugin: MetricPlugin) -> set[str]:
    """Every table name the plugin's model takes, in the warehouse and Postgres."""
    return {t.name for t in store.tables(plugin)} | postgres_names(plugin)


@lru_cache(maxsize=256)
def _checked(plugin: MetricPlugin) -> MetricPlugin:
    """`check_declaration`, once per declaration: the API reloads the plugins with every snapshot."""
    return check_declaration(plugin)


def installed_plugins() -> Installed:
    """Every plugin the current environment (sys.path) registers, sorted by name. A plugin that fails
    to import, declares an unusable model or takes another plugin's table names is left out with a
    warning, so one broken package never stops the code location from loading."""
    found: dict[str, MetricPlugin] = {}
    refused: dict[str, str] = {}
    taken: dict[str, str] = {}
    # Built-ins first: a third-party plugin reusing a built-in's name is the one refused.
    ordered = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (not p.value.startswith("metrics_pipeline."), p.name, p.value))
    for point in ordered:
        origin = f"entry point {point.name} = {point.value}"
        try:
            loaded = point.load()
            plugin = validate(loaded() if callable(loaded) and not isinstance(loaded, MetricPlugin) else loaded, origin)
            if plugin.name in found:
                if found[plugin.name] == plugin:
                    continue
                raise PluginSpecError(f"{origin}: another installed plugin is already named {plugin.name!r}")
            if not point.value.startswith("metrics_pipeline."):  # built-ins are checked by the test suite
                _checked(plugin)
            clash = sorted(n for n in _names(plugin) if n in taken)
            if clash:
                raise PluginSpecError(f"{origin}: table {clash[0]} is already plugin {taken[clash[0]]!r}'s (rule: plugin "
                                      "and rollup names must not combine into another plugin's table names)")
        except Exception as error:  # noqa: BLE001 - any failure of third-party code refuses that plugin only
            refused[point.value] = f"{type(error).__name__}: {error}"
            warnings.warn(f"metric plugin left out: {origin}: {error}", PluginLoadWarning, stacklevel=2)
            continue
        found[plugin.name] = plugin
        taken |= dict.fromkeys(_names(plugin), plugin.name)
    return Installed(tuple(found[name] for name in sorted(found)), refused)


def usable_plugins(env: Mapping[str, str] = os.environ) -> Installed:
    """The installed plugins the configured source (METRICS_INSTALLS_SOURCE) can feed; the others are
    left out with a warning naming the plugin, the columns and the setting."""
    installed = installed_plugins()
    kind = source_kind(env)
    available = SOURCE_KINDS.get(kind)
    if available is None:
        return installed
    kept, refused = [], dict(installed.refused)
    for plugin in installed.plugins:
        missing = sorted(set(columns.expand(plugin.name, plugin.requires)) - available)
        if missing:
            message = missing_columns_message(plugin.name, kind, missing)
            refused[plugin.name] = message
            warnings.warn(f"metric plugin left out: {message}", PluginLoadWarning, stacklevel=2)
        else:
            kept.append(plugin)
    return Installed(tuple(kept), refused)
