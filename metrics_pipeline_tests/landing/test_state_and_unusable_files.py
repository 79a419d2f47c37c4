"""Pipeline state survives a fresh container: what each file held lives beside the warehouse, not in a
per-machine cache, so a file damaged after a cold start still spoils only its own days. A file with
no usable day at all is quarantined and counted."""

import shutil
from datetime import date

import duckdb

from metrics_pipeline import changes
from metrics_pipeline.automation.late_data import find_late_days
from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.landing.catalog import catalog_dir
from metrics_pipeline.landing.guards import ALLOW_DROP_TAG, SOURCE_FILES_CHECK
from metrics_pipeline_tests.scenario import Download, Scenario

CHAIN = [raw_installs, daily_installs, monthly_installs, total_installs]


def _fresh_container(scenario: Scenario, tmp_path, monkeypatch) -> Scenario:
    """A new process on the same volume: no cache, no Dagster history, the same warehouse and files."""
    empty = tmp_path / "empty-cache"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    fresh = Scenario(scenario.root)
    fresh.set_registry([("napari-foo", "")])
    return fresh


def test_a_month_damaged_after_a_cold_start_keeps_its_days_and_raises_one_error(tmp_path, monkeypatch):
    scenario = Scenario(tmp_path / "volume")
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download(f"2024-03-{d:02d} 10:00:00", "napari-foo", times=d) for d in (1, 15, 31)])
    march = scenario.downloads.directory / "file_downloads-2024-03.parquet"
    (scenario.downloads.directory / "batch-0000.parquet").rename(march)
    scenario.downloads.write([Download("2024-04-02 10:00:00", "napari-foo", times=7)])
    assert scenario.materialize(CHAIN, "2024-03-01", "2024-04-30").success
    r = scenario.resources()
    cursor = find_late_days(None, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"]).cursor
    assert list(catalog_dir(str(scenario.warehouse_path)).glob("downloads-*.json"))  # beside the warehouse
    before = scenario.query("SELECT * FROM daily_installs ORDER BY ALL")
    assert before == [(date(2024, 3, 1), "napari-foo", 1), (date(2024, 3, 15), "napari-foo", 15),
                      (date(2024, 3, 31), "napari-foo", 31), (date(2024, 4, 2), "napari-foo", 7)]

    good = march.read_bytes()
    march.write_bytes(good[: len(good) // 2])  # truncated by a failed copy
    shutil.rmtree(tmp_path / "empty-cache", ignore_errors=True)
    fresh = _fresh_container(scenario, tmp_path, monkeypatch)
    r = fresh.resources()
    late = find_late_days(cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])
    assert late.installs.days == {date(2024, 3, 1), date(2024, 3, 15), date(2024, 3, 31)}  # re-run, not emptied:
    newest = _newest_change(fresh)
    result = fresh.materialize(CHAIN, "2024-03-01", "2024-03-31", tags={ALLOW_DROP_TAG: "true"}, raise_on_error=False)
    assert not result.success  # the blocking check stops this run's rollups
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == SOURCE_FILES_CHECK]
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["incomplete_days"].value == "2024-03-01..2024-03-31"
    assert check.metadata["quarantined_files"].value[0].startswith(f"{march}: ")
    assert check.description.startswith("1 quarantined file(s): days 2024-03-01..2024-03-31 keep their previous values; "
                                        f"{march.name}: ")
    assert [e.check_name for e in result.get_asset_check_evaluations() if not e.passed] == [SOURCE_FILES_CHECK]
    assert fresh.query("SELECT * FROM daily_installs ORDER BY ALL") == before  # nothing deleted
    assert _newest_change(fresh) == newest  # nothing changed, so no sink has anything to delete

    march.write_bytes(good)  # repaired: the days are picked up again
    late = find_late_days(late.cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])
    assert late.installs.days == {date(2024, 3, d) for d in range(1, 32)}
    assert fresh.materialize(CHAIN, "2024-03-01", "2024-03-31").success
    assert fresh.query("SELECT * FROM daily_installs ORDER BY ALL") == before


def _newest_change(scenario: Scenario) -> int:
    with duckdb.connect(str(scenario.warehouse_path), read_only=True) as con:
        return changes.newest(con)


def test_a_file_without_one_usable_day_is_quarantined_and_counted(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    (scenario.commits.directory / "only-bad.csv").write_text(
        "repo,sha,author_id,commit_author_date,commit_message,repo_url,ingestion_time\n"
        f"org/foo,{'a' * 40},1,not-a-date,m,,\n"
    )
    result = scenario.materialize([raw_commits], "2024-04-01")
    assert result.success  # no day is affected: nothing to hold back
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("raw_commits")[0].metadata.items()}
    assert metadata["files_without_usable_rows"] == 1
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == SOURCE_FILES_CHECK]
    assert check.metadata["files_without_usable_rows"].value == {
        str(scenario.commits.directory / "only-bad.csv"): "no row with a usable day (unparseable commit_author_date: 1)"}
    assert scenario.query("SELECT item, reason FROM quarantine WHERE source = 'commits'") == [
        (str(scenario.commits.directory / "only-bad.csv"), "no row with a usable day (unparseable commit_author_date: 1)")]
