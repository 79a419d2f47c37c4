"""Blocking (ERROR) checks: bad rows the counting rules exclude pass; a source that returns wrong rows
fails the days it spoils, lands nothing and stops what follows in the run; a rollup that would
disagree with its inputs is left as it was."""

import duckdb

from metrics_pipeline import changes
from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline.installs.assets import DAILY_ROLLUP, daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.rollups import Rollup, refresh
from metrics_pipeline_tests.quality.quality_helpers import (
    LeakyInstallsSource,
    day_outcomes,
    failing_days,
    passed,
    run,
)
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

SHA = [f"{i:040x}" for i in range(1, 20)]
INSTALL_FIGURES = dict(null_values=0, untracked_plugin_rows=0, non_counted_installer_rows=0, non_positive_counts=0,
                       duplicate_keys=0, out_of_window_source_rows=0)
COMMIT_FIGURES = dict(null_values=0, untracked_repo_rows=0, rows_outside_their_day=0, duplicate_commits=0,
                      commits_also_on_another_day=0, out_of_window_source_rows=0)


def _figures(outcome: tuple[bool, dict], *names: str) -> tuple[bool, dict]:
    ok, figures = outcome
    return ok, {k: v for k, v in figures.items() if k in names}


def test_rows_the_rules_exclude_never_land_and_every_day_passes(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/napari-foo")])
    scenario.downloads.write([
        Download("2024-02-28 10:00:00", "napari-foo", times=2),  # duplicated rows: two downloads
        Download("2024-02-28 11:00:00", "napari-foo", installer=None),  # null installer: not counted
        Download("2024-02-28 12:00:00", "napari-foo", ci=None),  # null CI flag: counted
        Download("2024-02-28 13:00:00", "napari-foo", ci=True),  # CI: not counted
        Download("2024-02-29 00:00:00", "napari-foo"),  # first instant of the leap day
        Download("2024-03-01 00:00:00", "napari-foo", times=5),  # outside the window
        Download("2024-02-27 23:59:59", "napari-foo", times=7),  # outside the window
    ])
    result = run(scenario, [raw_installs, daily_installs], "2024-02-28", "2024-02-29")
    assert result.success
    names = [*INSTALL_FIGURES, "landed_downloads", "source_downloads"]
    found = {day: _figures(o, *names) for day, o in day_outcomes(result, "raw_installs", "raw_installs_match_source").items()}
    assert found == {
        "2024-02-28": (True, INSTALL_FIGURES | {"landed_downloads": 3, "source_downloads": 3}),
        "2024-02-29": (True, INSTALL_FIGURES | {"landed_downloads": 1, "source_downloads": 1}),
    }
    assert passed(result, "raw_installs_match_source") == {None: True}
    assert passed(result, "daily_installs_match_raw") == {None: True}
    assert scenario.query("SELECT * FROM daily_installs ORDER BY 1")[0][2] == 3


def test_a_source_returning_wrong_rows_fails_the_days_lands_nothing_and_stops_the_rollups(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", ""), ("napari-bar", "")])
    scenario.downloads.write([Download("2024-03-10 10:00:00", "napari-foo", times=4),
                              Download("2024-03-11 10:00:00", "napari-bar", times=2)])
    leaky = LeakyInstallsSource(directory=str(scenario.downloads.directory), installers=["pip"], extra_rows=[
        "2024-03-10,napari-foo,pip,4",  # the same key twice
        "2024-03-10,napari-gone,pip,1",  # not in the registry
        "2024-03-10,napari-bar,conda,3",  # an installer that does not count
        "2024-03-12,napari-bar,pip,9",  # a day outside the window
    ])
    result = run(scenario, [raw_installs, daily_installs], "2024-03-10", "2024-03-11", installs_source=leaky)
    assert not result.success
    assert failing_days(result, "raw_installs_match_source") == {
        "2024-03-10": INSTALL_FIGURES | {"untracked_plugin_rows": 1, "non_counted_installer_rows": 1, "duplicate_keys": 1,
                                         "out_of_window_source_rows": 1, "landed_downloads": 12, "source_downloads": 12},
        "2024-03-11": INSTALL_FIGURES | {"out_of_window_source_rows": 1, "landed_downloads": 2, "source_downloads": 2},
    }
    # Nothing half-checked landed, nothing was materialized, and daily_installs never ran.
    assert result.get_asset_materialization_events() == []
    assert scenario.query("SELECT count(*) FROM raw_installs") == [(0,)]
    assert scenario.query("SELECT count(*) FROM daily_installs") == [(0,)]
    assert passed(result, "daily_installs_match_raw") == {}


def test_a_commit_already_landed_on_another_day_fails_its_day_and_keeps_the_landed_rows(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.commits.write([Commit("org/foo", SHA[0], "2024-01-30 10:00:00"), Commit("Org/Foo", SHA[1], "2024-01-31 23:59:59")])
    first = run(scenario, [raw_commits], "2024-01-30", "2024-01-31")
    assert first.success
    assert {d: _figures(o, "landed_commits", "source_commits") for d, o in
            day_outcomes(first, "raw_commits", "raw_commits_match_source").items()} == {
        "2024-01-30": (True, {"landed_commits": 1, "source_commits": 1}),
        "2024-01-31": (True, {"landed_commits": 1, "source_commits": 1})}
    with duckdb.connect(str(scenario.warehouse_path)) as con:  # a landing bug elsewhere: SHA[0] on another day
        con.execute("INSERT INTO raw_commits VALUES ('2024-02-05', 'napari-foo', 'Org/Foo', ?, '1', '2024-02-05 08:00:00', 'm', NULL)", [SHA[0]])
    before = scenario.query("SELECT * FROM raw_commits ORDER BY ALL")
    again = run(scenario, [raw_commits], "2024-01-30", "2024-01-31")
    assert not again.success
    assert failing_days(again, "raw_commits_match_source") == {
        "2024-01-30": COMMIT_FIGURES | {"commits_also_on_another_day": 1, "landed_commits": 1, "source_commits": 1}}
    assert scenario.query("SELECT * FROM raw_commits ORDER BY ALL") == before


def test_a_rollup_that_would_disagree_with_its_inputs_is_left_as_it_was(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.downloads.write([Download("2024-01-31 10:00:00", "napari-foo", times=2),
                              Download("2024-02-01 10:00:00", "napari-foo", times=3)])
    assert run(scenario, [raw_installs], "2024-01-31", "2024-02-01").success
    warehouse = DuckDBWarehouse(path=str(scenario.warehouse_path))
    buggy = Rollup(DAILY_ROLLUP.table, DAILY_ROLLUP.inputs,
                   DAILY_ROLLUP.select_sql.replace("sum(download_count)::BIGINT", "sum(download_count)::BIGINT + 1"),
                   DAILY_ROLLUP.period_column, check_sql=DAILY_ROLLUP.check_sql)
    with warehouse.connect() as con:
        done = refresh(con, buggy)
        assert (done.passed, done.differences) == (False, 2)
        assert done.examples == "2024-01-31 napari-foo: 3 (expected 2); 2024-02-01 napari-foo: 4 (expected 3)"
        assert con.execute("SELECT count(*) FROM daily_installs").fetchall() == [(0,)]
        assert changes.cursor(con, "daily_installs") is None  # the changes stay pending
    result = run(scenario, [daily_installs, monthly_installs, total_installs])
    assert result.success
    assert scenario.query("SELECT month_start::VARCHAR, install_count FROM monthly_installs ORDER BY 1") == [
        ("2024-01-01", 2), ("2024-02-01", 3)]


def test_the_opening_balance_counts_toward_totals_and_the_checks_agree(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.downloads.write([Download("2024-01-31 10:00:00", "napari-foo", times=2),
                              Download("2024-02-01 10:00:00", "napari-foo", times=3)])
    scenario.commits.write([Commit("Org/Foo", SHA[0], "2024-01-31 10:00:00")])
    assert run(scenario, [raw_installs, daily_installs, raw_commits], "2024-01-31", "2024-02-01").success
    with duckdb.connect(str(scenario.warehouse_path)) as con:
        con.execute("INSERT INTO opening_installs VALUES ('2023-12-01', 'napari-foo', 10)")
        con.execute("INSERT INTO opening_commits VALUES ('2023-11-01', 'napari-foo', 'Org/Foo', 4, '2023-11-05 00:00:00')")
        changes.record(con, "opening_installs", [changes.WHOLE])
        changes.record(con, "opening_commits", [changes.WHOLE])
    result = run(scenario, [monthly_installs, monthly_commits, total_installs, total_commits, latest_commits])
    assert result.success
    assert scenario.query("SELECT install_count FROM total_installs") == [(15,)]
    assert scenario.query("SELECT commit_count, latest_commit_at::VARCHAR FROM total_commits JOIN latest_commits USING (plugin_name, repo)") == [
        (5, "2024-01-31 10:00:00")]
    for check in ("monthly_installs_match_days", "monthly_commits_match_raw", "total_installs_match_months",
                  "total_commits_match_months", "latest_commits_match_months"):
        assert passed(result, check) == {None: True}, check


def test_the_raw_checks_agree_with_every_source_kind(scenario):
    """Files, Snowflake and the GitHub landing: the source's own figures equal what landed."""
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.downloads.write([Download("2024-02-29 23:59:59", "napari-foo", times=2), Download("2024-03-01 00:00:00", "napari-foo")])
    scenario.commits.write([Commit("org/foo", SHA[0], "2024-02-29 23:00:00"), Commit("Org/Foo", SHA[1], "2024-03-01 08:00:00")])
    result = run(scenario, [raw_installs, raw_commits], "2024-02-29", "2024-03-01")
    assert result.success
    installs = day_outcomes(result, "raw_installs", "raw_installs_match_source")
    commits = day_outcomes(result, "raw_commits", "raw_commits_match_source")
    assert {day: (ok, f["landed_downloads"]) for day, (ok, f) in installs.items()} == {"2024-02-29": (True, 2), "2024-03-01": (True, 1)}
    assert {day: (ok, f["landed_commits"]) for day, (ok, f) in commits.items()} == {"2024-02-29": (True, 1), "2024-03-01": (True, 1)}
