"""Re-materializing any day, any number of times, in any order, leaves exactly the same tables."""

from metrics_pipeline.commits.assets import monthly_commits, raw_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

TABLES = ["raw_installs", "daily_installs", "monthly_installs", "raw_commits", "monthly_commits"]


def _write_history(scenario: Scenario) -> None:
    scenario.set_registry([("napari-foo", "https://github.com/org/foo"), ("napari-bar", "")])
    scenario.downloads.write(
        [
            Download("2024-02-28 10:00:00", "napari-foo", times=2),
            Download("2024-02-29 10:00:00", "napari_foo", times=3),
            Download("2024-02-29 11:00:00", "napari-bar"),
            Download("2024-03-01 00:00:00", "napari-foo", times=4),
            Download("2024-03-02 23:59:59", "napari-bar", times=5),
        ]
    )
    scenario.commits.write(
        [Commit("org/foo", f"{i:040x}", f"2024-0{2 + i // 3}-{27 + i % 3:02d} 09:00:00") for i in range(5)]
    )


def _tables(scenario: Scenario) -> dict:
    return {t: scenario.query(f"SELECT * EXCLUDE (ingestion_time) FROM {t} ORDER BY ALL" if t == "raw_commits" else f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


def _materialize(scenario: Scenario, first: str, last: str) -> None:
    assert scenario.materialize([raw_installs, daily_installs, raw_commits], first, last).success


def _roll_up(scenario: Scenario) -> None:
    assert scenario.materialize([monthly_installs, monthly_commits], "2024-02-01", "2024-03-01").success


def test_rerun_and_out_of_order_partitions_equal_one_clean_run(tmp_path):
    clean = Scenario(tmp_path / "clean")
    _write_history(clean)
    _materialize(clean, "2024-02-28", "2024-03-02")
    _roll_up(clean)
    expected = _tables(clean)
    assert expected["daily_installs"][1:3] == [
        (expected["daily_installs"][1][0], "napari-bar", 1),
        (expected["daily_installs"][2][0], "napari-foo", 3),
    ]
    assert sum(row[2] for row in expected["monthly_installs"]) == 15

    messy = Scenario(tmp_path / "messy")
    _write_history(messy)
    _materialize(messy, "2024-03-02", "2024-03-02")
    _roll_up(messy)
    _materialize(messy, "2024-02-29", "2024-02-29")
    _materialize(messy, "2024-02-29", "2024-02-29")
    _materialize(messy, "2024-02-28", "2024-03-01")
    _materialize(messy, "2024-03-01", "2024-03-01")
    _roll_up(messy)
    _roll_up(messy)
    assert _tables(messy) == expected


def test_a_failed_run_leaves_the_previous_partition_intact(scenario):
    _write_history(scenario)
    _materialize(scenario, "2024-02-29", "2024-02-29")
    before = scenario.query("SELECT * FROM raw_installs ORDER BY ALL")
    scenario.registry_path.write_text("not,a,registry\n")  # the next run fails on the registry
    assert not scenario.materialize([raw_installs], "2024-02-29", raise_on_error=False).success
    assert scenario.query("SELECT * FROM raw_installs ORDER BY ALL") == before


def test_each_day_of_a_range_run_shows_its_own_figures(tmp_path):
    scenario = Scenario(tmp_path)
    _write_history(scenario)
    result = scenario.materialize([raw_installs, daily_installs, raw_commits], "2024-02-28", "2024-03-02")
    shown = {
        (event.asset_key.to_user_string(), event.partition): {k: v.value for k, v in event.metadata.items()}
        for event in (e.materialization for e in result.get_asset_materialization_events())
    }
    assert {day: shown[("raw_installs", day)]["qualifying_downloads"] for day in ("2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02")} == {
        "2024-02-28": 2, "2024-02-29": 4, "2024-03-01": 4, "2024-03-02": 5,
    }
    assert shown[("raw_installs", "2024-02-29")]["check raw_installs_match_source"] == "passed"
    assert shown[("daily_installs", None)]["periods_refreshed"] == "all"  # its first run: everything landed
    assert shown[("raw_installs", "2024-02-29")]["window_start"] == "2024-02-29"
    # commits on 02-27, 02-28, 02-29, 03-27, 03-28: one each on the range's first two days, none after
    assert [shown[("raw_commits", day)]["dagster/row_count"] for day in ("2024-02-28", "2024-02-29", "2024-03-01")] == [1, 1, 0]
