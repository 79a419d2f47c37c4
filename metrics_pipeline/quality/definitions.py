"""The quality domain: blocking and warning checks, the alert sensor, the restatement log."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.quality.alerts import alert_webhook_from, quality_alert_sensor
from metrics_pipeline.quality.anomaly import daily_installs_anomalies
from metrics_pipeline.quality.freshness import STALL_CHECKS
from metrics_pipeline.quality.settings import quality_settings_from
from metrics_pipeline.quality.sink_agreement import sinks_agree
from metrics_pipeline.quality.unmatched import UNMATCHED_CHECKS
from metrics_pipeline.resources.postgres import DSN_ENV_VAR

CHECKS = [daily_installs_anomalies, *UNMATCHED_CHECKS, *STALL_CHECKS, sinks_agree]


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    assets = []
    if env.get(DSN_ENV_VAR):
        from metrics_pipeline.quality.restatement_sink import postgres_restatements

        assets.append(postgres_restatements)
    return dg.Definitions(
        assets=assets,
        asset_checks=CHECKS,
        sensors=[quality_alert_sensor],
        resources={"quality_settings": quality_settings_from(env), "alert_webhook": alert_webhook_from(env)},
    )
