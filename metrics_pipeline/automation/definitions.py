"""When things run: the main job, the 13:00 UTC schedule, the late-data and catch-up sensors."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.automation.jobs import daily_metrics_job, publish_job
from metrics_pipeline.automation.schedule import daily_metrics_schedule
from metrics_pipeline.automation.sensors import catch_up_sensor, late_data_sensor
from metrics_pipeline.resources.postgres import DSN_ENV_VAR


CATCH_UP_SETTING = "METRICS_CATCH_UP_SECONDS"  # how often the catch-up sensor looks (default 120)


def catch_up_interval(env: Mapping[str, str]) -> int:
    text = (env.get(CATCH_UP_SETTING) or "120").strip()
    if not text.isdigit() or not 30 <= int(text) <= 86400:
        raise ValueError(f"{CATCH_UP_SETTING} must be whole seconds from 30 to 86400, got {text!r}")
    return int(text)


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    catch_up = catch_up_sensor(bool(env.get(DSN_ENV_VAR)), bool(env.get("METRICS_DYNAMODB_STACK")), catch_up_interval(env))
    return dg.Definitions(
        jobs=[daily_metrics_job, publish_job],
        schedules=[daily_metrics_schedule],
        sensors=[late_data_sensor, catch_up],
    )
