"""Late rows and registry additions re-run exactly the affected materialized days."""

from datetime import date

import dagster as dg

from metrics_pipeline.automation.late_data import contiguous_ranges, find_late_days
from metrics_pipeline.automation.sensors import late_data_sensor
from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.installs.assets import daily_installs, raw_installs
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

DAY_ASSETS = [raw_installs, daily_installs, raw_commits]


def _late_days(scenario: Scenario, cursor):
    r = scenario.resources()
    return find_late_days(cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])


def _history(scenario: Scenario) -> None:
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    scenario.downloads.write(
        [
            Download("2024-01-10 10:00:00", "napari-foo", times=2),
            Download("2024-01-11 10:00:00", "napari-foo", times=3),
            Download("2024-01-12 10:00:00", "napari-foo", times=4),
            Download("2024-01-10 10:00:00", "napari-new", times=5),  # not registered yet
            Download("2024-01-12 10:00:00", "napari_new", times=6),
        ]
    )
    scenario.commits.write([Commit("org/foo", "a" * 40, "2024-01-11 09:00:00"), Commit("org/new", "b" * 40, "2024-01-11 09:30:00")])
    assert scenario.materialize(DAY_ASSETS, "2024-01-10", "2024-01-12").success


def test_first_look_finds_nothing_when_every_day_saw_its_rows(scenario):
    _history(scenario)
    late = _late_days(scenario, None)
    assert (late.installs, late.commits) == (set(), set())


def test_a_late_row_reruns_only_its_day_and_is_then_counted(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.downloads.write(
        [
            Download("2024-01-11 23:00:00", "napari-foo", times=7),  # late, for a materialized day
            Download("2024-01-20 10:00:00", "napari-foo"),  # a day never materialized: not ours
        ]
    )
    late = _late_days(scenario, cursor)
    assert late.installs == {date(2024, 1, 11)}
    assert late.commits == set()

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-11").success
    assert scenario.query("SELECT install_count FROM daily_installs WHERE download_day = '2024-01-11'") == [(10,)]
    assert _late_days(scenario, late.cursor).installs == set()


def test_a_late_commit_file_reruns_its_author_day(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.commits.write([Commit("org/foo", "c" * 40, "2024-01-10 08:00:00")], as_csv=True)
    late = _late_days(scenario, cursor)
    assert (late.installs, late.commits) == (set(), {date(2024, 1, 10)})


def test_a_newly_registered_plugin_reruns_the_days_with_its_history(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.set_registry([("napari-foo", "https://github.com/org/foo"), ("napari-new", "https://github.com/Org/New")])
    late = _late_days(scenario, cursor)
    assert late.installs == {date(2024, 1, 10), date(2024, 1, 12)}
    assert late.commits == {date(2024, 1, 11)}

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-10", "2024-01-12").success
    assert scenario.materialize([raw_commits], "2024-01-11").success
    assert scenario.query("SELECT download_day, install_count FROM daily_installs WHERE plugin_name = 'napari-new' ORDER BY 1") == [
        (date(2024, 1, 10), 5),
        (date(2024, 1, 12), 6),
    ]
    assert scenario.query("SELECT repo FROM raw_commits WHERE plugin_name = 'napari-new'") == [("Org/New",)]
    assert _late_days(scenario, late.cursor).installs == set()


def test_a_dropped_plugin_reruns_the_days_that_held_it(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.set_registry([])
    late = _late_days(scenario, cursor)
    assert late.installs == {date(2024, 1, 10), date(2024, 1, 11), date(2024, 1, 12)}
    assert late.commits == {date(2024, 1, 11)}


def test_sensor_requests_one_range_run_per_run_of_stale_days(scenario):
    _history(scenario)
    context = dg.build_sensor_context(instance=scenario.instance, resources=scenario.resources())
    first = late_data_sensor(context)
    assert first.run_requests == []
    scenario.downloads.write([Download("2024-01-10 23:00:00", "napari-foo"), Download("2024-01-12 01:00:00", "napari-foo")])
    context = dg.build_sensor_context(instance=scenario.instance, resources=scenario.resources(), cursor=first.cursor)
    result = late_data_sensor(context)
    requested = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"], tuple(k.to_user_string() for k in r.asset_selection))
        for r in result.run_requests
    )
    assert requested == [
        ("2024-01-10", "2024-01-10", ("raw_installs", "daily_installs")),
        ("2024-01-12", "2024-01-12", ("raw_installs", "daily_installs")),
    ]


def test_contiguous_ranges():
    days = {date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 5)}
    assert contiguous_ranges(days) == [(date(2024, 2, 28), date(2024, 3, 1)), (date(2024, 3, 5), date(2024, 3, 5))]
