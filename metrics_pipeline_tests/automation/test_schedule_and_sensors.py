"""One run per change set: the 13:00 schedule asks for yesterday's whole graph once; the catch-up
sensor brings whatever fell behind up to date in one run; a sink never publishes ahead of its rollups."""

from datetime import datetime, timezone

import dagster as dg
import pytest

from metrics_pipeline import changes
from metrics_pipeline.automation.jobs import daily_metrics_job
from metrics_pipeline.automation.schedule import daily_metrics_schedule
from metrics_pipeline.automation.sensors import catch_up
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, opening_installs, raw_installs, total_installs
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.assets import dynamodb_install_activity, postgres_install_activity
from metrics_pipeline_tests.scenario import Download, Scenario

INSTALLS = [raw_installs, daily_installs, monthly_installs, opening_installs, total_installs]
SINKS = [dynamodb_install_activity, postgres_install_activity]


def _definitions(scenario: Scenario, **resources) -> dg.Definitions:
    """The installs graph; sink resources point nowhere unless a test gives real ones (not opened otherwise)."""
    unused = {"dynamodb": DynamoDBResource(stack="unused", endpoint_url="http://127.0.0.1:9"),
              "postgres": PostgresResource(dsn="postgresql://127.0.0.1:9/unused")}
    return dg.Definitions(assets=[*INSTALLS, *SINKS], jobs=[daily_metrics_job], schedules=[daily_metrics_schedule],
                          resources=scenario.resources() | unused | resources)


@pytest.mark.parametrize(
    "tick, partition",
    [
        (datetime(2024, 3, 1, 13, 0, tzinfo=timezone.utc), "2024-02-29"),
        (datetime(2025, 1, 1, 13, 0, tzinfo=timezone.utc), "2024-12-31"),
        (datetime(2024, 7, 15, 13, 0, tzinfo=timezone.utc), "2024-07-14"),
    ],
)
def test_the_daily_tick_at_13_utc_asks_for_yesterday_in_one_run_of_the_whole_graph(tmp_path, tick, partition):
    definitions = _definitions(Scenario(tmp_path))
    with dg.instance_for_test() as instance:
        schedule = definitions.resolve_schedule_def(daily_metrics_schedule.name)
        assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 13 * * *", "UTC")
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                            repository_def=definitions.get_repository_def())
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == partition
    assert request.tags["metrics/trigger"] == "schedule"
    assert sorted(k.to_user_string() for k in request.asset_selection) == sorted(
        a.key.to_user_string() for a in [*INSTALLS, *SINKS])


def test_a_day_that_landed_asks_for_nothing(tmp_path, dynamodb_endpoint, dynamodb_stack, postgres_database):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-02-29 10:00:00", "napari-foo", times=2)])
    definitions = _definitions(scenario, dynamodb=DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint),
                               postgres=PostgresResource(dsn=postgres_database))
    tick = datetime(2024, 3, 1, 13, 0, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        def evaluate():
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                                repository_def=definitions.get_repository_def())
            return daily_metrics_schedule.evaluate_tick(context)

        (request,) = evaluate().run_requests
        job = definitions.resolve_job_def("daily_metrics_job")
        result = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                        asset_selection=list(request.asset_selection), tags=request.tags)
        assert result.success
        assert scenario.query("SELECT install_count FROM total_installs") == [(2,)]
        again = evaluate()
        assert not again.run_requests and "already landed" in again.skip_message
        assert len(instance.get_run_records()) == 1


def _catch_up(scenario: Scenario, definitions: dg.Definitions, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=definitions.get_repository_def())
    return catch_up(context, scenario.resources()["warehouse"], None, None), context.cursor


def test_a_sink_never_publishes_ahead_of_its_rollups_and_catch_up_runs_them_once(
    tmp_path, dynamodb_endpoint, dynamodb_stack, postgres_database,
):
    """The race a UI backfill of the landing used to start: the total ran before the month and the
    sinks published anyway. Now the sinks refuse while a rollup is behind, and one run catches up."""
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-01-31 10:00:00", "napari-foo"), Download("2024-02-01 10:00:00", "napari-foo", times=2)])
    sinks = {"dynamodb": DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint),
             "postgres": PostgresResource(dsn=postgres_database)}
    definitions = _definitions(scenario, **sinks)
    with dg.instance_for_test() as instance:
        scenario.instance = instance
        assert scenario.materialize([opening_installs]).success
        assert scenario.materialize([raw_installs], "2024-01-31", "2024-02-01").success  # a backfill of the landing only

        early = dg.materialize([dynamodb_install_activity], resources=scenario.resources() | sinks, instance=instance,
                               raise_on_error=False)
        assert not early.success
        (failure,) = [e for e in early.all_events if e.event_type_value == "STEP_FAILURE"]
        message = failure.event_specific_data.error.message
        assert "not publishing: daily_installs, monthly_installs, total_installs not yet up to date" in message

        request, cursor = _catch_up(scenario, definitions, instance)
        assert isinstance(request, dg.RunRequest) and request.tags["metrics/trigger"] == "catch-up"
        assert sorted(k.to_user_string() for k in request.asset_selection) == [
            "daily_installs", "dynamodb/install_activity", "monthly_installs", "postgres/install_activity", "total_installs"]
        result = definitions.resolve_job_def("daily_metrics_job").execute_in_process(
            instance=instance, asset_selection=list(request.asset_selection), tags=request.tags)
        assert result.success
        order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
        assert order.index("monthly_installs") < order.index("total_installs") < order.index("dynamodb/install_activity")
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["total_installs_match_months"] and checks["monthly_installs_match_days"]
        item = sinks["dynamodb"].client().get_item(
            TableName=sinks["dynamodb"].table_name("install-activity"),
            Key={"plugin_name": {"S": "napari-foo"}, "type_timestamp": {"S": "TOTAL:"}})["Item"]
        assert item["install_count"] == {"N": "3"}

        skip, _ = _catch_up(scenario, definitions, instance, cursor)
        assert isinstance(skip, dg.SkipReason) and "up to date" in skip.skip_message


def test_a_catch_up_that_failed_is_asked_again_only_after_a_pause(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-01-31 10:00:00", "napari-foo")])
    definitions = _definitions(scenario)
    with dg.instance_for_test() as instance:
        scenario.instance = instance
        assert scenario.materialize([raw_installs], "2024-01-31").success
        first, cursor = _catch_up(scenario, definitions, instance)
        assert isinstance(first, dg.RunRequest) and first.run_key.endswith("-1")
        again, cursor = _catch_up(scenario, definitions, instance, cursor)  # that run failed: not again at once
        assert isinstance(again, dg.SkipReason) and "after 1 attempt" in again.skip_message
        with scenario.resources()["warehouse"].connect() as con:  # something new changed: asked at once
            changes.record(con, "raw_installs", [(changes.WHOLE[0], changes.WHOLE[0])])
        fresh, _ = _catch_up(scenario, definitions, instance, cursor)
        assert isinstance(fresh, dg.RunRequest)
