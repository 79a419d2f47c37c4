"""Late rows and registry additions re-run exactly the affected materialized days."""

import hashlib
import subprocess
import sys
import time
from datetime import date, datetime, timedelta

import dagster as dg

from metrics_pipeline.automation.late_data import contiguous_ranges, find_late_days
from metrics_pipeline.automation.sensors import late_data_sensor
from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs
from metrics_pipeline.landing.guards import ALLOW_DROP_TAG
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

DAY_ASSETS = [raw_installs, daily_installs, raw_commits]
ALLOW_DROP = {ALLOW_DROP_TAG: "true"}  # what the sensor tags removal runs with while the source is whole


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
    assert (late.installs.days, late.commits.days) == (set(), set())


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
    assert late.installs.days == {date(2024, 1, 11)}
    assert late.commits.days == set()

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-11").success
    assert scenario.query("SELECT install_count FROM daily_installs WHERE download_day = '2024-01-11'") == [(10,)]
    assert _late_days(scenario, late.cursor).installs.days == set()


def test_a_late_commit_file_reruns_its_author_day(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.commits.write([Commit("org/foo", "c" * 40, "2024-01-10 08:00:00")], as_csv=True)
    late = _late_days(scenario, cursor)
    assert (late.installs.days, late.commits.days) == (set(), {date(2024, 1, 10)})


def test_a_newly_registered_plugin_reruns_the_days_with_its_history(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.set_registry([("napari-foo", "https://github.com/org/foo"), ("napari-new", "https://github.com/Org/New")])
    late = _late_days(scenario, cursor)
    assert late.installs.days == {date(2024, 1, 10), date(2024, 1, 12)}
    assert late.commits.days == {date(2024, 1, 11)}

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-10", "2024-01-12").success
    assert scenario.materialize([raw_commits], "2024-01-11").success
    assert scenario.query("SELECT download_day, install_count FROM daily_installs WHERE plugin_name = 'napari-new' ORDER BY 1") == [
        (date(2024, 1, 10), 5),
        (date(2024, 1, 12), 6),
    ]
    assert scenario.query("SELECT repo FROM raw_commits WHERE plugin_name = 'napari-new'") == [("Org/New",)]
    assert _late_days(scenario, late.cursor).installs.days == set()


def test_a_dropped_plugin_reruns_the_days_that_held_it(scenario):
    _history(scenario)
    cursor = _late_days(scenario, None).cursor
    scenario.set_registry([])
    late = _late_days(scenario, cursor)
    assert late.installs.days == {date(2024, 1, 10), date(2024, 1, 11), date(2024, 1, 12)}
    assert late.commits.days == {date(2024, 1, 11)}


def _repository(scenario):
    return dg.Definitions(assets=[raw_installs, daily_installs, monthly_installs, raw_commits],
                          resources=scenario.resources()).get_repository_def()


def test_sensor_requests_one_range_run_per_run_of_stale_days_with_everything_downstream(scenario):
    _history(scenario)
    with dg.build_sensor_context(instance=scenario.instance, resources=scenario.resources(),
                                 repository_def=_repository(scenario)) as context:
        first = late_data_sensor(context)
    assert first.run_requests == []
    scenario.downloads.write([Download("2024-01-10 23:00:00", "napari-foo"), Download("2024-01-12 01:00:00", "napari-foo")])
    with dg.build_sensor_context(instance=scenario.instance, resources=scenario.resources(), cursor=first.cursor,
                                 repository_def=_repository(scenario)) as context:
        result = late_data_sensor(context)
    requested = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"], tuple(k.to_user_string() for k in r.asset_selection))
        for r in result.run_requests
    )
    assert requested == [  # the landing and, in the same run, what follows it
        ("2024-01-10", "2024-01-10", ("daily_installs", "monthly_installs", "raw_installs")),
        ("2024-01-12", "2024-01-12", ("daily_installs", "monthly_installs", "raw_installs")),
    ]
    assert {r.tags["metrics/trigger"] for r in result.run_requests} == {"late-data"}


def test_contiguous_ranges():
    days = {date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 5)}
    assert contiguous_ranges(days) == [(date(2024, 2, 28), date(2024, 3, 1)), (date(2024, 3, 5), date(2024, 3, 5))]


# Removals: rows that vanish leave no arrival time; recorded row counts find them.


def _split_history(scenario: Scenario) -> None:
    """Each day's downloads in a file of its own, landed and rolled up."""
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    for day, times in (("2024-01-10", 2), ("2024-01-11", 3), ("2024-01-12", 4)):
        scenario.downloads.write([Download(f"{day} 10:00:00", "napari-foo", times=times)])
    assert scenario.materialize(DAY_ASSETS, "2024-01-10", "2024-01-12").success


def test_a_deleted_file_reruns_its_days_at_once_and_they_empty(tmp_path):
    scenario = Scenario(tmp_path)
    _split_history(scenario)
    cursor = _late_days(scenario, None).cursor
    (scenario.downloads.directory / "batch-0002.parquet").unlink()  # the 2024-01-12 file
    late = _late_days(scenario, cursor)
    assert (late.installs.days, late.installs.reconciled) == ({date(2024, 1, 12)}, True)

    assert late.installs.drop_confirmed  # one file of three: the source as a whole is still there
    assert scenario.materialize([raw_installs, daily_installs], "2024-01-12", tags=ALLOW_DROP).success
    assert scenario.query("SELECT download_day, install_count FROM daily_installs ORDER BY 1") == [
        (date(2024, 1, 10), 2), (date(2024, 1, 11), 3),
    ]
    assert _late_days(scenario, late.cursor).installs.days == set()


def test_a_file_rewritten_with_fewer_rows_reruns_the_days_it_lost(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    scenario.downloads.write([Download("2024-01-10 10:00:00", "napari-foo", times=2), Download("2024-01-11 10:00:00", "napari-foo", times=3)])
    assert scenario.materialize(DAY_ASSETS, "2024-01-10", "2024-01-11").success
    cursor = _late_days(scenario, None).cursor
    scenario.downloads._seq = iter([0])  # rewrite batch-0000 in place: 01-10 shrinks, 01-11 vanishes
    scenario.downloads.write([Download("2024-01-10 10:00:00", "napari-foo")])
    late = _late_days(scenario, cursor)
    assert late.installs.days == {date(2024, 1, 10), date(2024, 1, 11)}

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-10", "2024-01-11", tags=ALLOW_DROP).success
    assert scenario.query("SELECT download_day, install_count FROM daily_installs") == [(date(2024, 1, 10), 1)]


def test_rows_deleted_in_snowflake_rerun_their_day_at_the_daily_reconciliation(tmp_path):
    scenario = Scenario(tmp_path, installs_kind="snowflake", commits_kind="snowflake")
    _split_history(scenario)
    r = scenario.resources()
    now = datetime(2030, 1, 1, 12)
    first = find_late_days(None, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"], now=now)
    with scenario.downloads.connection.connect() as con, con.cursor() as cur:
        cur.execute("DELETE FROM PYPI_DOWNLOADS WHERE CAST(timestamp AS DATE) = '2024-01-11'")
    soon = find_late_days(first.cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"],
                          now=now + timedelta(hours=1))
    assert (soon.installs.days, soon.installs.reconciled) == (set(), False)  # no arrival shows a deletion
    daily = find_late_days(soon.cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"],
                           now=now + timedelta(days=1))
    assert (daily.installs.days, daily.installs.reconciled) == ({date(2024, 1, 11)}, True)

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-11", tags=ALLOW_DROP).success
    assert scenario.query("SELECT download_day FROM daily_installs ORDER BY 1") == [(date(2024, 1, 10),), (date(2024, 1, 12),)]


def test_the_sensor_only_reads_the_warehouse_whatever_the_commits_source(tmp_path):
    scenario = Scenario(tmp_path, commits_kind="github")
    _history(scenario)
    resources = scenario.resources()  # the GitHub scenario writer lands what it serves here, before the look
    repository = dg.Definitions(assets=[raw_installs, daily_installs, monthly_installs, raw_commits],
                                resources=resources).get_repository_def()
    before = hashlib.sha1(scenario.warehouse_path.read_bytes()).hexdigest()
    with dg.build_sensor_context(instance=scenario.instance, resources=resources, repository_def=repository) as context:
        assert isinstance(late_data_sensor(context), dg.SensorResult)
    assert hashlib.sha1(scenario.warehouse_path.read_bytes()).hexdigest() == before

    # Another process reading the warehouse does not block a sensor that only reads.
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(scenario.warehouse_path)!r}, read_only=True); "
         "print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with dg.build_sensor_context(instance=scenario.instance, resources=resources, repository_def=repository) as context:
            assert isinstance(late_data_sensor(context), dg.SensorResult)
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
