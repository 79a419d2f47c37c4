"""When things run: the jobs, the 13:00 UTC schedule, the late-data and rollup automation sensors."""

from __future__ import annotations

from collections.abc import Mapping

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


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    return dg.Definitions(
        jobs=[daily_metrics_job, monthly_rollups_job, totals_job, publish_job],
        schedules=[daily_metrics_schedule],
        sensors=[late_data_sensor, rollup_automation_sensor],
    )
