"""Finds the installed metric plugins through the `metrics_pipeline.plugins` entry points."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

from metrics_pipeline.plugins.spec import ENTRY_POINT_GROUP, MetricPlugin, PluginSpecError, validate


class PluginLoadWarning(UserWarning):
    """An installed plugin that could not be loaded; the rest of the pipeline loads without it."""


@dataclass(frozen=True)
class Installed:
    plugins: tuple[MetricPlugin, ...]
    refused: dict[str, str]  # entry point -> why it was left out


def installed_plugins() -> Installed:
    """Every plugin the current environment (sys.path) registers, sorted by name. A plugin that fails
    to import or declares an unusable model is left out with a warning, so one broken package never
    stops the code location from loading."""
    found: dict[str, MetricPlugin] = {}
    refused: dict[str, str] = {}
    # Built-ins first: a third-party plugin reusing a built-in's name is the one refused.
    ordered = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (not p.value.startswith("metrics_pipeline."), p.name, p.value))
    for point in ordered:
        origin = f"entry point {point.name} = {point.value}"
        try:
            loaded = point.load()
            plugin = validate(loaded() if callable(loaded) and not isinstance(loaded, MetricPlugin) else loaded, origin)
            if plugin.name in found and found[plugin.name] != plugin:
                raise PluginSpecError(f"{origin}: another installed plugin is already named {plugin.name!r}")
        except Exception as error:  # noqa: BLE001 - any failure of third-party code refuses that plugin only
            refused[point.value] = f"{type(error).__name__}: {error}"
            warnings.warn(f"metric plugin left out: {origin}: {error}", PluginLoadWarning, stacklevel=2)
            continue
        found[plugin.name] = plugin
    return Installed(tuple(found[name] for name in sorted(found)), refused)
