"""The 13:00 UTC schedule targets yesterday; monthly and total rollups follow daily changes."""

from datetime import datetime, timezone

import dagster as dg
import pytest

from metrics_pipeline.automation.sensors import daily_metrics_schedule
from metrics_pipeline.definitions import defs
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline_tests.scenario import Download


@pytest.mark.parametrize(
    "tick, partition",
    [
        (datetime(2024, 3, 1, 13, 0, tzinfo=timezone.utc), "2024-02-29"),
        (datetime(2025, 1, 1, 13, 0, tzinfo=timezone.utc), "2024-12-31"),
        (datetime(2024, 7, 15, 13, 0, tzinfo=timezone.utc), "2024-07-14"),
    ],
)
def test_the_daily_tick_at_13_utc_materializes_yesterday(tick, partition):
    schedule = defs().resolve_schedule_def(daily_metrics_schedule.name)
    assert schedule.cron_schedule == "0 13 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert [r.partition_key for r in result.run_requests] == [partition]


def test_a_changed_day_requests_its_month_then_the_totals(scenario):
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-02-10 10:00:00", "napari-foo")])
    assets = dg.Definitions(
        assets=[raw_installs, daily_installs, monthly_installs, total_installs], resources=scenario.resources()
    )
    baseline = dg.evaluate_automation_conditions(defs=assets, instance=scenario.instance)
    assert baseline.total_requested == 0

    assert scenario.materialize([raw_installs, daily_installs], "2024-02-10").success
    after_daily = dg.evaluate_automation_conditions(defs=assets, instance=scenario.instance, cursor=baseline.cursor)
    requested = {
        key.to_user_string(): sorted(after_daily.get_requested_partitions(key))
        for key in [monthly_installs.key]
        if after_daily.get_num_requested(key)
    }
    assert requested == {"monthly_installs": ["2024-02-01"]}
    assert after_daily.get_num_requested(total_installs.key) == 0

    assert scenario.materialize([monthly_installs], "2024-02-01").success
    after_monthly = dg.evaluate_automation_conditions(defs=assets, instance=scenario.instance, cursor=after_daily.cursor)
    assert after_monthly.get_num_requested(total_installs.key) == 1
    assert after_monthly.get_num_requested(monthly_installs.key) == 0
