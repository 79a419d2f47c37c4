"""Metric plugins: assets, rollups and a Postgres table for every plugin the environment registers."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.plugins.assets import plugin_assets
from metrics_pipeline.plugins.loader import installed_plugins
from metrics_pipeline.plugins.rows import rows_source_from
from metrics_pipeline.plugins.sink import postgres_asset


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    """Built from the entry points found now: installing or removing a plugin package changes the graph."""
    assets = []
    for plugin in installed_plugins().plugins:
        assets += [*plugin_assets(plugin), postgres_asset(plugin)]
    return dg.Definitions(assets=assets, resources={"plugin_rows": rows_source_from(env)})
