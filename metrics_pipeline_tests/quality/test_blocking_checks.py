"""Blocking (ERROR) checks: bad rows the counting rules exclude pass; a source or rollup that lands
wrong numbers fails exactly the affected partitions and stops what follows in the run."""

import duckdb

from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.quality.raw_checks import raw_commits_match_source, raw_installs_match_source
from metrics_pipeline.quality.rollup_checks import ROLLUP_CHECKS, daily_installs_match_raw
from metrics_pipeline_tests.quality.quality_helpers import LeakyInstallsSource, outcomes, passed, run
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

SHA = [f"{i:040x}" for i in range(1, 20)]
INSTALL_FIGURES = dict(null_values=0, untracked_plugin_rows=0, non_counted_installer_rows=0, non_positive_counts=0,
                       duplicate_keys=0, out_of_window_source_rows=0)


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
    result = run(scenario, [raw_installs, daily_installs, raw_installs_match_source, daily_installs_match_raw],
                 "2024-02-28", "2024-02-29")
    assert result.success
    found = outcomes(result)
    assert found[("raw_installs_match_source", "2024-02-28")] == (
        True, INSTALL_FIGURES | {"landed_downloads": 3, "source_downloads": 3})
    assert found[("raw_installs_match_source", "2024-02-29")] == (
        True, INSTALL_FIGURES | {"landed_downloads": 1, "source_downloads": 1})
    assert passed(result, "daily_installs_match_raw") == {"2024-02-28": True, "2024-02-29": True}


def test_a_source_returning_wrong_rows_fails_the_days_and_stops_the_daily_rollup(tmp_path):
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
    result = run(scenario, [raw_installs, daily_installs, raw_installs_match_source, daily_installs_match_raw],
                 "2024-03-10", "2024-03-11", installs_source=leaky)
    assert not result.success
    found = outcomes(result)
    assert found[("raw_installs_match_source", "2024-03-10")] == (False, INSTALL_FIGURES | {
        "untracked_plugin_rows": 1, "non_counted_installer_rows": 1, "duplicate_keys": 1,
        "out_of_window_source_rows": 1, "landed_downloads": 12, "source_downloads": 12})
    assert found[("raw_installs_match_source", "2024-03-11")] == (False, INSTALL_FIGURES | {
        "out_of_window_source_rows": 1, "landed_downloads": 2, "source_downloads": 2})
    # Blocking: daily_installs did not run, so its table keeps nothing of these days.
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == ["raw_installs"] * 2
    assert scenario.query("SELECT count(*) FROM daily_installs") == [(0,)]
    assert "daily_installs_match_raw" not in {name for name, _ in found}


def test_raw_commits_with_a_commit_on_two_days_and_an_untracked_repo_fail(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.commits.write([Commit("org/foo", SHA[0], "2024-01-30 10:00:00"), Commit("Org/Foo", SHA[1], "2024-01-31 23:59:59")])
    assert run(scenario, [raw_commits, raw_commits_match_source], "2024-01-30", "2024-01-31").success
    with duckdb.connect(str(scenario.warehouse_path)) as con:  # a landing bug: rows the source never had
        con.execute("INSERT INTO raw_commits VALUES ('2024-01-31', 'napari-foo', 'Org/Foo', ?, '1', '2024-01-31 08:00:00', 'm', NULL)", [SHA[0]])
        con.execute("INSERT INTO raw_commits VALUES ('2024-01-31', 'napari-old', 'Org/Old', ?, '1', '2024-02-01 01:00:00', 'm', NULL)", [SHA[2]])
    result = run(scenario, [raw_commits, raw_commits_match_source], "2024-01-30", "2024-01-31", checks_only=True)
    found = outcomes(result)
    base = dict(null_values=0, untracked_repo_rows=0, rows_outside_their_day=0, duplicate_commits=0,
                commits_also_on_another_day=0, out_of_window_source_rows=0)
    assert found[("raw_commits_match_source", "2024-01-30")] == (False, base | {
        "commits_also_on_another_day": 1, "landed_commits": 1, "source_commits": 1})
    assert found[("raw_commits_match_source", "2024-01-31")] == (False, base | {
        "untracked_repo_rows": 1, "rows_outside_their_day": 1, "commits_also_on_another_day": 1,
        "landed_commits": 3, "source_commits": 1})


def test_rollups_that_disagree_fail_naming_the_plugin_and_the_opening_balance_counts(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.downloads.write([Download("2024-01-31 10:00:00", "napari-foo", times=2),
                              Download("2024-02-01 10:00:00", "napari-foo", times=3)])
    scenario.commits.write([Commit("Org/Foo", SHA[0], "2024-01-31 10:00:00")])
    assert run(scenario, [raw_installs, daily_installs, raw_commits], "2024-01-31", "2024-02-01").success
    assert run(scenario, [monthly_installs, monthly_commits], "2024-01-01", "2024-02-01").success
    with duckdb.connect(str(scenario.warehouse_path)) as con:
        con.execute("INSERT INTO opening_installs VALUES ('2023-12-01', 'napari-foo', 10)")
        con.execute("INSERT INTO opening_commits VALUES ('2023-11-01', 'napari-foo', 'Org/Foo', 4, '2023-11-05 00:00:00')")
    totals = [total_installs, total_commits, latest_commits]
    checks = [c for c in ROLLUP_CHECKS if next(iter(c.check_keys)).name.startswith(("total", "latest"))]
    result = run(scenario, [*totals, *checks])
    assert result.success
    assert scenario.query("SELECT install_count FROM total_installs") == [(15,)]
    assert passed(result, "total_installs_match_months") == {None: True}
    assert passed(result, "total_commits_match_months") == {None: True}
    assert passed(result, "latest_commits_match_months") == {None: True}

    with duckdb.connect(str(scenario.warehouse_path)) as con:  # a rollup bug and a lost opening month
        con.execute("UPDATE monthly_installs SET install_count = 4 WHERE month_start = '2024-02-01'")
        con.execute("DELETE FROM opening_commits")
    monthly_checks = [c for c in ROLLUP_CHECKS if next(iter(c.check_keys)).name.startswith("monthly")]
    found = outcomes(run(scenario, [monthly_installs, monthly_commits, *monthly_checks], "2024-01-01", "2024-02-01",
                         checks_only=True))
    assert found[("monthly_installs_match_days", "2024-01-01")] == (True, {"differences": 0, "examples": ""})
    assert found[("monthly_installs_match_days", "2024-02-01")] == (
        False, {"differences": 1, "examples": "napari-foo: 4 (expected 3)"})
    assert found[("monthly_commits_match_raw", "2024-01-01")][0] is True
    found = outcomes(run(scenario, [*totals, *checks], checks_only=True))
    assert found[("total_installs_match_months", None)] == (
        False, {"differences": 1, "examples": "napari-foo: 15 (expected 16)"})
    assert found[("total_commits_match_months", None)] == (
        False, {"differences": 1, "examples": "napari-foo Org/Foo: 5 (expected 1)"})
    assert found[("latest_commits_match_months", None)] == (True, {"differences": 0, "examples": ""})


def test_the_raw_checks_agree_with_every_source_kind(scenario):
    """Files, Snowflake and the GitHub landing: the source's own recount equals what landed."""
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.downloads.write([Download("2024-02-29 23:59:59", "napari-foo", times=2), Download("2024-03-01 00:00:00", "napari-foo")])
    scenario.commits.write([Commit("org/foo", SHA[0], "2024-02-29 23:00:00"), Commit("Org/Foo", SHA[1], "2024-03-01 08:00:00")])
    result = run(scenario, [raw_installs, raw_commits, raw_installs_match_source, raw_commits_match_source],
                 "2024-02-29", "2024-03-01")
    assert result.success
    found = outcomes(result)
    assert {key: (ok, figures["landed_downloads"]) for key, (ok, figures) in found.items() if key[0].startswith("raw_installs")} == {
        ("raw_installs_match_source", "2024-02-29"): (True, 2), ("raw_installs_match_source", "2024-03-01"): (True, 1)}
    assert {key: (ok, figures["landed_commits"]) for key, (ok, figures) in found.items() if key[0].startswith("raw_commits")} == {
        ("raw_commits_match_source", "2024-02-29"): (True, 1), ("raw_commits_match_source", "2024-03-01"): (True, 1)}
