"""Metric plugins: one step computing every installed plugin's model, and a Postgres sink each."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.plugins.assets import plugin_models
from metrics_pipeline.plugins.loader import usable_plugins
from metrics_pipeline.plugins.rows import rows_source_from
from metrics_pipeline.plugins.sink import postgres_asset


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    """Built from the entry points found now: installing or removing a plugin package changes the graph;
    a plugin the configured source cannot feed is left out with a warning."""
    plugins = usable_plugins(env).plugins
    assets = [plugin_models(plugins), *(postgres_asset(p) for p in plugins)] if plugins else []
    return dg.Definitions(assets=assets, resources={"plugin_rows": rows_source_from(env)})
