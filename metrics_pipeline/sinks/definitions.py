"""Where metrics go: the DynamoDB (hub layout) and Postgres projections, their read-back checks
(in the sink step) and the daily full reconciliation."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.sinks.assets import SINK_ASSETS
from metrics_pipeline.sinks.reconcile import sink_reconciliation_job, sink_reconciliation_schedule


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    return dg.Definitions(assets=SINK_ASSETS, jobs=[sink_reconciliation_job], schedules=[sink_reconciliation_schedule])
