"""The late-data sensor (sources changed under landed days) and the catch-up sensor (a rollup,
plugin model or sink that failed or never ran is behind the change log). Each asks for as few runs
as possible: one per contiguous range of changed days, one for everything left behind."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import dagster as dg
import duckdb

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.automation.consumers import consumer_inputs, with_downstream
from metrics_pipeline.automation.jobs import TRIGGER_TAG, daily_metrics_job
from metrics_pipeline.automation.late_data import SourceLook, contiguous_ranges, find_late_days
from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.landing.guards import ALLOW_DROP_TAG
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

RAW_INSTALLS, RAW_COMMITS = dg.AssetKey("raw_installs"), dg.AssetKey("raw_commits")
OPENING = {"installs": dg.AssetKey("opening_installs"), "commits": dg.AssetKey("opening_commits")}
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]
RETRY_AFTER_SECONDS = (300, 900, 2700, 8100, 21600)  # a catch-up that failed is asked again after these


def _range_requests(graph, look: SourceLook, raw: dg.AssetKey, kind: str) -> list[dg.RunRequest]:
    """One run per contiguous range of stale days: the landing plus everything downstream of it. A
    removal may empty days only while the source as a whole still holds what was landed (otherwise
    the run fails naming the setting: a vanished source)."""
    allow = {ALLOW_DROP_TAG: "true"} if look.drop_confirmed else {}
    selection = with_downstream(graph, [raw])
    return [
        dg.RunRequest(
            run_key=f"late-{kind}-{first}-{last}",
            asset_selection=selection,
            tags={PARTITION_RANGE_START_TAG: first.isoformat(), PARTITION_RANGE_END_TAG: last.isoformat(),
                  TRIGGER_TAG: "late-data", **allow},
        )
        for first, last in contiguous_ranges(look.days)
    ]


def _opening_request(graph, stale: bool, kind: str) -> list[dg.RunRequest]:
    if not stale:
        return []
    return [dg.RunRequest(run_key=f"late-{kind}-opening", asset_selection=with_downstream(graph, [OPENING[kind]]),
                          tags={TRIGGER_TAG: "late-data"})]


@dg.sensor(
    name="late_data_sensor",
    job=daily_metrics_job,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-lands exactly the landed days (or the opening balance) whose source rows changed, additions "
    "and removals alike, and carries the change to the sinks in the same run.",
)
def late_data_sensor(
    context: dg.SensorEvaluationContext,
    installs_source: InstallsSource,
    commits_source: CommitsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
):
    graph = context.repository_def.asset_graph
    landed = tuple(context.instance.get_latest_materialization_event(OPENING[k]) is not None for k in ("installs", "commits"))
    try:
        late = find_late_days(context.cursor, installs_source, commits_source, registry, warehouse, landed)
    except WarehouseBusyError:
        return dg.SkipReason("warehouse busy with a run; will look again next tick")
    requests = [
        *_range_requests(graph, late.installs, RAW_INSTALLS, "installs"),
        *_range_requests(graph, late.commits, RAW_COMMITS, "commits"),
        *_opening_request(graph, late.installs.opening, "installs"),
        *_opening_request(graph, late.commits.opening, "commits"),
    ]
    # Run keys repeat when the same days turn stale again; the cursor digest keeps them unique.
    digest = hashlib.sha1(late.cursor.encode()).hexdigest()[:10]
    requests = [request.with_replaced_attrs(run_key=f"{request.run_key}-{digest}") for request in requests]
    if not requests:
        return dg.SensorResult(skip_reason="no landed day's source rows changed", cursor=late.cursor)
    return dg.SensorResult(run_requests=requests, cursor=late.cursor)


def _store_down(behind: list[str], postgres: PostgresResource | None, dynamodb: DynamoDBResource | None) -> list[str]:
    """Sinks among `behind` whose store does not answer yet: re-running them now would fail again."""
    down = []
    if postgres is not None and any(k.startswith("postgres/") for k in behind) and not postgres.answers():
        down.append("Postgres")
    if dynamodb is not None and any(k.startswith("dynamodb/") for k in behind) and not dynamodb.answers():
        down.append("DynamoDB")
    return down


def catch_up_sensor(with_postgres: bool, with_dynamodb: bool, interval_seconds: int = 120) -> dg.SensorDefinition:
    """The catch-up sensor; it pings the sink stores the deployment has before re-running their sinks."""
    keys = {"warehouse"} | ({"postgres"} if with_postgres else set()) | ({"dynamodb"} if with_dynamodb else set())

    @dg.sensor(
        name="catch_up_sensor",
        job=daily_metrics_job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="When a rollup, plugin model or sink is behind the change log (its step failed, its store was "
        "down, it is new) and nothing is running, one run brings everything behind up to date.",
        required_resource_keys=keys,
    )
    def _catch_up(context: dg.SensorEvaluationContext):
        return catch_up(context, context.resources.warehouse, getattr(context.resources, "postgres", None),
                        getattr(context.resources, "dynamodb", None))

    return _catch_up


def catch_up(
    context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse, postgres: PostgresResource | None,
    dynamodb: DynamoDBResource | None,
):
    graph = context.repository_def.asset_graph
    try:
        with warehouse.connect(read_only=True, lock_wait_seconds=5) as con:
            newest = changes.newest(con)
            behind = sorted(changes.lagging(con, consumer_inputs(graph))) if newest else []
    except WarehouseBusyError:
        return dg.SkipReason("warehouse busy with a run; will look again next tick")
    except duckdb.Error as error:
        if not Path(warehouse.path).exists() or "does not exist" in str(error):
            return dg.SkipReason("nothing landed yet")
        raise
    if not behind:
        return dg.SkipReason("every rollup, plugin model and sink is up to date")
    if context.instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT), limit=1):
        return dg.SkipReason(f"{len(behind)} behind, but a run is queued or in progress: it may catch them up")
    state = json.loads(context.cursor) if context.cursor else {}
    attempts = state.get("attempts", 0) if state.get("newest") == newest else 0
    wait = RETRY_AFTER_SECONDS[min(attempts, len(RETRY_AFTER_SECONDS)) - 1] if attempts else 0
    if time.time() - state.get("at", 0) < wait:
        return dg.SkipReason(f"{len(behind)} behind after {attempts} attempt(s); next attempt after {wait} s")
    down = _store_down(behind, postgres, dynamodb)
    if down:
        return dg.SkipReason(f"{_names(behind)} behind; waiting for {' and '.join(down)} to answer")
    context.update_cursor(json.dumps({"newest": newest, "attempts": attempts + 1, "at": time.time()}))
    return dg.RunRequest(
        run_key=f"catch-up-{newest}-{attempts + 1}",
        asset_selection=with_downstream(graph, [dg.AssetKey.from_user_string(name) for name in behind]),
        tags={TRIGGER_TAG: "catch-up", "metrics/behind": _names(behind)},
    )


def _names(names: list[str], limit: int = 200) -> str:
    text = ", ".join(names)
    return text if len(text) <= limit else text[: limit - 12] + f"… ({len(names)})"
