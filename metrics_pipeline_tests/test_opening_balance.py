"""History before the first daily partition counts toward MONTH, TOTAL and LATEST, never DAY."""

from datetime import date, datetime

import dagster as dg
import psycopg

from metrics_pipeline.automation.late_data import find_late_days
from metrics_pipeline.commits.assets import latest_commits, monthly_commits, opening_commits, raw_commits, total_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, opening_installs, raw_installs, total_installs
from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.assets import postgres_github_activity, postgres_install_activity
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

SHA = "{:0>40}".format


def _history(scenario: Scenario) -> None:
    assert FIRST_DAY == date(2023, 1, 1)  # the tests' METRICS_START_DATE default
    scenario.set_registry(
        [("napari-foo", "https://github.com/org/foo"), ("napari-dormant", "https://github.com/org/dormant"), ("napari-bar", "")]
    )
    scenario.downloads.write(
        [
            Download("2020-02-29 12:00:00", "napari-bar", times=3),  # leap day, 34 months before
            Download("2020-07-15 10:00:00", "napari-foo", times=2),  # 30 months before
            Download("2020-07-31 23:59:59", "napari_foo"),
            Download("2020-08-01 00:00:00", "napari-foo"),
            Download("2021-03-03 08:00:00", "not-a-plugin", times=2),
            Download("2022-12-31 10:00:00", "napari-foo", ci=True, times=5),
            Download("2022-12-31 23:59:59", "napari-bar", times=4),  # the last instant before
            Download("2023-01-01 00:00:00", "napari-foo", times=6),  # the first partition
            Download("2023-01-02 12:00:00", "napari-bar", times=7),
        ]
    )
    scenario.commits.write(
        [
            Commit("org/foo", SHA("a1"), "2020-07-02 09:00:00"),
            Commit("org/foo", SHA("a1"), "2020-07-02 09:00:00"),  # the same commit twice counts once
            Commit("org/foo", SHA("a2"), "2022-12-31 23:00:00"),
            Commit("Org/Dormant", SHA("d1"), "2020-06-30 23:59:00"),
            Commit("Org/Dormant", SHA("d2"), "2021-01-05 10:00:00"),
            Commit("org/foo", SHA("a3"), "2023-01-02 09:00:00"),
        ]
    )


def _materialize_all(scenario: Scenario) -> dg.ExecuteInProcessResult:
    assert scenario.materialize([raw_installs, daily_installs, raw_commits], "2023-01-01", "2023-01-03").success
    assert scenario.materialize([monthly_installs, monthly_commits], "2023-01-01").success
    result = scenario.materialize([opening_installs, opening_commits, total_installs, total_commits, latest_commits])
    assert result.success
    return result


def test_rows_before_the_first_partition_count_toward_months_totals_and_latest(scenario, postgres_database):
    _history(scenario)
    result = _materialize_all(scenario)

    assert scenario.query("SELECT * FROM installs_by_month ORDER BY ALL") == [
        (date(2020, 2, 1), "napari-bar", 3),
        (date(2020, 7, 1), "napari-foo", 3),
        (date(2020, 8, 1), "napari-foo", 1),
        (date(2022, 12, 1), "napari-bar", 4),
        (date(2023, 1, 1), "napari-bar", 7),
        (date(2023, 1, 1), "napari-foo", 6),
    ]
    assert scenario.query("SELECT * FROM total_installs ORDER BY ALL") == [("napari-bar", 14), ("napari-foo", 10)]
    assert scenario.query("SELECT * FROM daily_installs ORDER BY ALL") == [
        (date(2023, 1, 1), "napari-foo", 6),
        (date(2023, 1, 2), "napari-bar", 7),
    ]
    assert scenario.query("SELECT month_start, plugin_name, repo, commit_count FROM commits_by_month ORDER BY ALL") == [
        (date(2020, 6, 1), "napari-dormant", "org/dormant", 1),
        (date(2020, 7, 1), "napari-foo", "org/foo", 1),
        (date(2021, 1, 1), "napari-dormant", "org/dormant", 1),
        (date(2022, 12, 1), "napari-foo", "org/foo", 1),
        (date(2023, 1, 1), "napari-foo", "org/foo", 1),
    ]
    assert scenario.query("SELECT * FROM total_commits ORDER BY ALL") == [
        ("napari-dormant", "org/dormant", 2),
        ("napari-foo", "org/foo", 3),
    ]
    assert scenario.query("SELECT * FROM latest_commits ORDER BY ALL") == [
        ("napari-dormant", "org/dormant", datetime(2021, 1, 5, 10)),  # dormant since before the partitions
        ("napari-foo", "org/foo", datetime(2023, 1, 2, 9)),
    ]
    opening = result.asset_materializations_for_node("opening_installs")[0].metadata
    assert opening["source_rows_before_first_partition"].value == 18  # every dated row, counted or not
    assert opening["qualifying_installs"].value == 11
    assert opening["earliest_day"].value == "2020-02-29"

    resources = {**scenario.resources(), "postgres": PostgresResource(dsn=postgres_database)}
    assert dg.materialize([postgres_install_activity, postgres_github_activity], resources=resources,
                          instance=scenario.instance).success
    with psycopg.connect(postgres_database) as connection:
        months = connection.execute(
            "SELECT plugin_name, period_start, install_count FROM install_activity WHERE granularity = 'MONTH' ORDER BY 1, 2"
        ).fetchall()
        commits = connection.execute(
            "SELECT plugin_name, granularity, period_start, commit_count FROM github_activity "
            "WHERE granularity <> 'LATEST' ORDER BY 1, 2, 3"
        ).fetchall()
    assert months == [
        ("napari-bar", date(2020, 2, 1), 3), ("napari-bar", date(2022, 12, 1), 4), ("napari-bar", date(2023, 1, 1), 7),
        ("napari-foo", date(2020, 7, 1), 3), ("napari-foo", date(2020, 8, 1), 1), ("napari-foo", date(2023, 1, 1), 6),
    ]
    assert commits == [
        ("napari-dormant", "MONTH", date(2020, 6, 1), 1), ("napari-dormant", "MONTH", date(2021, 1, 1), 1),
        ("napari-dormant", "TOTAL", None, 2),
        ("napari-foo", "MONTH", date(2020, 7, 1), 1), ("napari-foo", "MONTH", date(2022, 12, 1), 1),
        ("napari-foo", "MONTH", date(2023, 1, 1), 1), ("napari-foo", "TOTAL", None, 3),
    ]


def test_late_history_reruns_the_opening_balance_not_a_day(scenario):
    _history(scenario)
    _materialize_all(scenario)
    r = scenario.resources()
    cursor = find_late_days(None, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"]).cursor
    scenario.downloads.write([Download("2021-05-05 05:00:00", "napari-bar", times=2)])
    late = find_late_days(cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])
    assert (late.installs.days, late.installs.opening, late.commits.opening) == (set(), True, False)

    assert scenario.materialize([opening_installs, total_installs]).success
    assert scenario.query("SELECT install_count FROM total_installs WHERE plugin_name = 'napari-bar'") == [(16,)]
    again = find_late_days(late.cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])
    assert (again.installs.days, again.installs.opening) == (set(), False)
