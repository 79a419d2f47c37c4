"""Runs of plugin assets on a scenario, with the files source's plugin rows resource."""

from __future__ import annotations

import dagster as dg

from metrics_pipeline.plugins.rows import FilePluginRows
from metrics_pipeline_tests.scenario import Scenario


def resources(scenario: Scenario, **extra) -> dict:
    if scenario.installs_kind == "files":
        extra = {"plugin_rows": FilePluginRows(directory=str(scenario.downloads.directory), installers=scenario.installers)} | extra
    return scenario.resources() | extra


def run(scenario: Scenario, assets, first: str | None = None, last: str | None = None, raise_on_error: bool = True,
        **extra):
    """One run of `assets` over [first, last] (a single-run backfill), on the scenario's instance."""
    from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    tags = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first} if first else {}
    return dg.materialize(assets, resources=resources(scenario, **extra), instance=scenario.instance, tags=tags,
                          raise_on_error=raise_on_error)
