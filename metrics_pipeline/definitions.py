"""Assembles the code location: assets, schedule, sensors and the configured resources."""

from __future__ import annotations

import os

import dagster as dg

from metrics_pipeline.automation.sensors import (
    daily_metrics_job,
    daily_metrics_schedule,
    late_data_sensor,
    monthly_rollups_job,
    publish_job,
    rollup_automation_sensor,
    totals_job,
)
from metrics_pipeline.commits import assets as commit_assets
from metrics_pipeline.installs import assets as install_assets
from metrics_pipeline.resources.selection import build_resources, landing_assets
from metrics_pipeline.sinks import SINK_ASSETS, SINK_CHECKS


@dg.definitions
def defs() -> dg.Definitions:
    landing = landing_assets(os.environ)
    commits = dg.load_assets_from_modules([commit_assets])
    if landing:  # raw_commits reads what the landing assets appended
        commits = dg.map_asset_specs(
            lambda spec: spec.merge_attributes(deps=[a.key for a in landing]) if spec.key.path == ["raw_commits"] else spec,
            commits,
        )
    return dg.Definitions(
        assets=[*dg.load_assets_from_modules([install_assets]), *commits, *landing, *SINK_ASSETS],
        asset_checks=SINK_CHECKS,
        jobs=[daily_metrics_job, monthly_rollups_job, totals_job, publish_job],
        schedules=[daily_metrics_schedule],
        sensors=[late_data_sensor, rollup_automation_sensor],
        resources=build_resources(os.environ),
        executor=dg.in_process_executor,
    )
