"""When things run: the main job, the 13:00 UTC schedule, the late-data and catch-up sensors."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.automation.jobs import daily_metrics_job, publish_job
from metrics_pipeline.automation.schedule import daily_metrics_schedule
from metrics_pipeline.automation.sensors import catch_up_sensor, late_data_sensor
from metrics_pipeline.resources.postgres import DSN_ENV_VAR


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    return dg.Definitions(
        jobs=[daily_metrics_job, publish_job],
        schedules=[daily_metrics_schedule],
        sensors=[late_data_sensor, catch_up_sensor(bool(env.get(DSN_ENV_VAR)), bool(env.get("METRICS_DYNAMODB_STACK")))],
    )
