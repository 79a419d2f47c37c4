"""Where metrics go: the DynamoDB (hub layout) and Postgres projections and their read-back checks."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.sinks.dynamodb import dynamodb_github_activity, dynamodb_install_activity
from metrics_pipeline.sinks.postgres import postgres_github_activity, postgres_install_activity
from metrics_pipeline.sinks.read_back import SINK_CHECKS
from metrics_pipeline.sinks.reconcile import sink_reconciliation_job, sink_reconciliation_schedule

SINK_ASSETS = [dynamodb_install_activity, dynamodb_github_activity, postgres_install_activity, postgres_github_activity]


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    return dg.Definitions(
        assets=SINK_ASSETS, asset_checks=SINK_CHECKS,
        jobs=[sink_reconciliation_job], schedules=[sink_reconciliation_schedule],
    )
