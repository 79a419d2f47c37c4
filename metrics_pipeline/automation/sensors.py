"""The schedule, the late-data sensor and the rollup automation sensor."""

import hashlib

import dagster as dg

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.automation.late_data import SourceLook, contiguous_ranges, find_late_days
from metrics_pipeline.commits.assets import opening_commits, raw_commits
from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.installs.assets import daily_installs, opening_installs, raw_installs
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.landing.guards import ALLOW_DROP_TAG
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

INSTALL_DAY_ASSETS = [raw_installs.key, daily_installs.key]
COMMIT_DAY_ASSETS = [raw_commits.key]

daily_metrics_job = dg.define_asset_job(
    "daily_metrics_job",
    # upstream(depth=1) adds a landing asset (e.g. github_commits) where the source has one
    selection=dg.AssetSelection.assets(*INSTALL_DAY_ASSETS, *COMMIT_DAY_ASSETS).upstream(depth=1),
    description="Land and roll up one or more UTC days; monthly and total rollups follow by automation.",
)

monthly_rollups_job = dg.define_asset_job(
    "monthly_rollups_job",
    selection=dg.AssetSelection.assets("monthly_installs", "monthly_commits"),
    description="Recompute monthly rollups for one or more months (automation normally does this).",
)

totals_job = dg.define_asset_job(
    "totals_job",
    selection=dg.AssetSelection.assets(
        "opening_installs", "opening_commits", "total_installs", "total_commits", "latest_commits"
    ),
    description="Rebuild the opening balance (history before the first partition), then all-time totals "
    "and latest commits (automation normally does this).",
)

publish_job = dg.define_asset_job(
    "publish_job",
    selection=dg.AssetSelection.groups("sinks"),
    description="Project the rollups into DynamoDB and Postgres, writing only what changed.",
)

# At 13:00 UTC the newest daily partition is yesterday's (DAILY has end_offset=0).
daily_metrics_schedule = dg.build_schedule_from_partitioned_job(
    daily_metrics_job,
    name="daily_metrics_schedule",
    hour_of_day=13,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

rollup_automation_sensor = dg.AutomationConditionSensorDefinition(
    "rollup_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


def _range_requests(look: SourceLook, asset_keys, kind: str) -> list[dg.RunRequest]:
    """One run per contiguous range; a removal may empty days only while the source as a whole
    still holds what was landed (otherwise the runs fail naming the setting: a vanished source)."""
    requests: list[dg.RunRequest] = []
    allow = {ALLOW_DROP_TAG: "true"} if look.drop_confirmed else {}
    for first, last in contiguous_ranges(look.days):
        start, end = first.isoformat(), last.isoformat()
        requests.append(
            dg.RunRequest(
                run_key=f"late-{kind}-{start}-{end}",
                asset_selection=asset_keys,
                tags={PARTITION_RANGE_START_TAG: start, PARTITION_RANGE_END_TAG: end, "metrics/reason": "late-data", **allow},
            )
        )
    return requests


def _opening_request(stale: bool, asset_key: dg.AssetKey, kind: str) -> list[dg.RunRequest]:
    return [dg.RunRequest(run_key=f"late-{kind}-opening", asset_selection=[asset_key], tags={"metrics/reason": "late-data"})] if stale else []


@dg.sensor(
    name="late_data_sensor",
    target=dg.AssetSelection.assets(*INSTALL_DAY_ASSETS, *COMMIT_DAY_ASSETS, opening_installs, opening_commits),
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes exactly the landed days (or the opening balance) whose source rows changed, "
    "additions and removals alike.",
)
def late_data_sensor(
    context: dg.SensorEvaluationContext,
    installs_source: InstallsSource,
    commits_source: CommitsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
):
    landed = tuple(
        context.instance.get_latest_materialization_event(key) is not None
        for key in (opening_installs.key, opening_commits.key)
    )
    try:
        late = find_late_days(context.cursor, installs_source, commits_source, registry, warehouse, landed)
    except WarehouseBusyError:
        return dg.SkipReason("warehouse busy with a run; will look again next tick")
    requests = [
        *_range_requests(late.installs, INSTALL_DAY_ASSETS, "installs"),
        *_range_requests(late.commits, COMMIT_DAY_ASSETS, "commits"),
        *_opening_request(late.installs.opening, opening_installs.key, "installs"),
        *_opening_request(late.commits.opening, opening_commits.key, "commits"),
    ]
    # Run keys repeat when the same days turn stale again; the cursor digest keeps them unique.
    digest = hashlib.sha1(late.cursor.encode()).hexdigest()[:10]
    requests = [request.with_replaced_attrs(run_key=f"{request.run_key}-{digest}") for request in requests]
    return dg.SensorResult(run_requests=requests, cursor=late.cursor)
