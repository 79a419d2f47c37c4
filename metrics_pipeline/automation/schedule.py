"""The 13:00 UTC schedule: yesterday, the whole graph, one run; nothing when it already landed."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from metrics_pipeline.automation.consumers import partitioned_keys
from metrics_pipeline.automation.jobs import TRIGGER_TAG, daily_metrics_job

# Built once, then re-run only when the late-data sensor finds rows before the first partition changed.
OPENING_ASSETS = (dg.AssetKey("opening_installs"), dg.AssetKey("opening_commits"))


def _landed(instance: dg.DagsterInstance, key: dg.AssetKey, day: str) -> bool:
    found = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1)
    return bool(found.records)


def day_request(context, day: str, trigger: str) -> dg.RunRequest | dg.SkipReason:
    """The run for `day`: every asset, opening balances only while never built; a skip when every
    daily asset already landed that day (later changes to it are the late-data sensor's)."""
    graph = context.repository_def.asset_graph
    daily = partitioned_keys(graph)
    missing = [k for k in daily if not _landed(context.instance, k, day)]
    if not missing:
        return dg.SkipReason(f"{day} already landed for every daily asset; changes to it re-run through the late-data sensor")
    built = {k for k in OPENING_ASSETS if graph.has(k) and context.instance.get_latest_materialization_event(k)}
    selection = [n.key for n in graph.asset_nodes if n.is_materializable and n.key not in built]
    return dg.RunRequest(run_key=f"{trigger}-{day}", partition_key=day, asset_selection=selection,
                         tags={TRIGGER_TAG: trigger})


@dg.schedule(
    name="daily_metrics_schedule",
    job=daily_metrics_job,
    cron_schedule="0 13 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Yesterday (UTC) from landing to sinks in one run; skipped when it already landed.",
)
def daily_metrics_schedule(context: dg.ScheduleEvaluationContext):
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return day_request(context, day, "schedule")
