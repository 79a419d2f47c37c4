"""Hostile inputs: a vanished source never replaces landed days, a bad file spoils only its own days,
a copied file counts once, and every row that cannot be used is counted by reason."""

import os
import shutil
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from metrics_pipeline.automation.late_data import find_late_days
from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.installs.assets import daily_installs, raw_installs
from metrics_pipeline.landing.guards import ALLOW_DROP_TAG, SOURCE_FILES_CHECK
from metrics_pipeline_tests.scenario import Download, Scenario

DAYS = [raw_installs, daily_installs]


def _daily(scenario: Scenario) -> list[tuple]:
    return scenario.query("SELECT download_day, install_count FROM daily_installs ORDER BY 1")


def _metadata(result, node="raw_installs") -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def _check(result):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == SOURCE_FILES_CHECK]
    return evaluation


def _write(scenario: Scenario, name: str, rows: list[Download]) -> str:
    """Rows through the scenario's writer, then renamed (a day in the name, like real exports)."""
    scenario.downloads.write(rows)
    written = max(scenario.downloads.directory.glob("batch-*.parquet"), key=os.path.getmtime)
    target = scenario.downloads.directory / name
    written.rename(target)
    return str(target)


def test_an_emptied_source_fails_naming_the_setting_and_keeps_the_landed_days(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-01-10 10:00:00", "napari-foo", times=2), Download("2024-01-11 10:00:00", "napari-foo")])
    assert scenario.materialize(DAYS, "2024-01-10", "2024-01-11").success
    shutil.rmtree(scenario.downloads.directory)
    scenario.downloads.directory.mkdir()  # a wrongly mounted, empty directory

    refused = scenario.materialize(DAYS, "2024-01-10", "2024-01-11", raise_on_error=False)
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "METRICS_DOWNLOADS_DIR returned 0 installs rows" in message and ALLOW_DROP_TAG in message
    assert _daily(scenario) == [(date(2024, 1, 10), 2), (date(2024, 1, 11), 1)]

    assert scenario.materialize(DAYS, "2024-01-10", "2024-01-11", tags={ALLOW_DROP_TAG: "true"}).success
    assert _daily(scenario) == []


def test_a_truncated_file_spoils_only_its_days_and_is_picked_up_once_repaired(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    jan15 = _write(scenario, "file_downloads-2024-01-15.parquet", [Download("2024-01-15 10:00:00", "napari-foo", times=3)])
    _write(scenario, "file_downloads-2024-01-16.parquet", [Download("2024-01-16 10:00:00", "napari-foo", times=4)])
    assert scenario.materialize(DAYS, "2024-01-15", "2024-01-16").success
    cursor = find_late_days(None, *(scenario.resources()[k] for k in ("installs_source", "commits_source", "registry", "warehouse"))).cursor

    good = open(jan15, "rb").read()
    with open(jan15, "wb") as handle:
        handle.write(good[: len(good) // 2])  # truncated mid-write
    _write(scenario, "file_downloads-2024-01-16b.parquet", [Download("2024-01-16 11:00:00", "napari-foo")])
    _write(scenario, "file_downloads-2024-02-01.parquet", [Download("2024-02-01 10:00:00", "napari-foo", times=5)])

    february = scenario.materialize(DAYS, "2024-02-01")  # other months never notice the bad file
    assert february.success and _check(february).passed
    january = scenario.materialize(DAYS, "2024-01-15", "2024-01-16", raise_on_error=False)
    assert not january.success  # blocking: this run's rollups wait ...
    check = _check(january)
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["incomplete_days"].value == "2024-01-15"
    assert check.metadata["quarantined_files"].value[0].startswith(f"{jan15}: ")
    assert _daily(scenario) == [(date(2024, 1, 15), 3), (date(2024, 1, 16), 4), (date(2024, 2, 1), 5)]
    assert scenario.materialize([daily_installs]).success  # ... and the catch-up run carries the other days on
    assert _daily(scenario) == [(date(2024, 1, 15), 3), (date(2024, 1, 16), 5), (date(2024, 2, 1), 5)]  # 01-15 kept
    assert scenario.query("SELECT item, first_day FROM quarantine WHERE rows IS NULL") == [(jan15, date(2024, 1, 15))]

    with open(jan15, "wb") as handle:  # repaired: a new mtime
        handle.write(good)
    r = scenario.resources()
    late = find_late_days(cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])
    assert date(2024, 1, 15) in late.installs.days
    repaired = scenario.materialize(DAYS, "2024-01-15")
    assert _check(repaired).passed
    assert scenario.query("SELECT count(*) FROM quarantine WHERE rows IS NULL") == [(0,)]


def _table(rows: dict) -> pa.Table:
    return pa.table(rows)


def test_files_with_a_missing_or_mistyped_column_are_quarantined_naming_file_and_column(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    directory = scenario.downloads.directory
    no_details = directory / "no-details-2024-03-01.parquet"
    pq.write_table(_table({"timestamp": pa.array([1709290800000000], pa.timestamp("us", tz="UTC")),
                           "file": [{"project": "napari-foo"}]}), no_details)
    text_time = directory / "text-time-2024-03-01.parquet"
    pq.write_table(_table({"timestamp": ["2024-03-01 10:00:00"], "file": [{"project": "napari-foo"}],
                           "details": [{"installer": {"name": "pip"}, "ci": False}]}), text_time)
    scenario.downloads.write([Download("2024-03-01 12:00:00", "napari-foo", times=2)])

    result = scenario.materialize(DAYS, "2024-03-01", raise_on_error=False)
    reasons = dict(scenario.query("SELECT item, reason FROM quarantine WHERE rows IS NULL"))
    assert "details" in reasons[str(no_details)]
    assert reasons[str(text_time)] == "column timestamp is VARCHAR, expected TIMESTAMP"
    assert not _check(result).passed and _metadata(result)["quarantined_files"] == 2
    assert _daily(scenario) == []  # 2024-03-01 is incomplete: nothing replaced, nothing half-counted


def test_a_copied_file_counts_once_and_unusable_rows_are_counted_by_reason(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    scenario.downloads.write([Download("2024-04-01 10:00:00", "napari-foo", times=3), Download("2999-01-01 00:00:00", "napari-foo")])
    original = scenario.downloads.directory / "batch-0000.parquet"
    shutil.copy(original, scenario.downloads.directory / "copy-of-batch.parquet")
    pq.write_table(  # rows without a timestamp belong to no day
        pq.read_table(original).set_column(0, "timestamp", pa.nulls(4, pa.timestamp("us", tz="UTC"))),
        scenario.downloads.directory / "undated.parquet",
    )
    result = scenario.materialize(DAYS, "2024-04-01")
    assert _daily(scenario) == [(date(2024, 4, 1), 3)]
    metadata = _metadata(result)
    assert metadata["duplicate_files"] == 1
    assert metadata["set_aside_reasons"] == {"timestamp in the future": 1}
    assert scenario.query("SELECT item, sample FROM quarantine WHERE reason LIKE 'identical%'") == [
        (str(scenario.downloads.directory / "copy-of-batch.parquet"), str(original))
    ]

    (scenario.commits.directory / "commits.csv").write_text(
        "repo,sha,author_id,commit_author_date,commit_message,repo_url,ingestion_time\n"
        f"org/foo,{'a' * 40},1,2024-04-01T09:00:00Z,m,,\n"
        f"org/foo,{'b' * 40},1,April 1st,m,,\n"
        f"org/foo,{'c' * 40},1,,m,,\n"
    )
    commits = scenario.materialize([raw_commits], "2024-04-01")
    reasons = _metadata(commits, "raw_commits")["set_aside_reasons"]
    assert reasons == {"unparseable commit_author_date": 1, "no commit_author_date": 1}
    assert scenario.query("SELECT sample FROM quarantine WHERE reason = 'unparseable commit_author_date'")[0][0].endswith("'April 1st'")


def test_a_registry_that_shrinks_sharply_fails_the_landing_naming_the_setting(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([(f"napari-{n}", f"https://github.com/org/p{n}") for n in range(4)])
    scenario.downloads.write([Download("2024-05-01 10:00:00", "napari-0")])
    assert scenario.materialize([*DAYS, raw_commits], "2024-05-01").success
    scenario.set_registry([("napari-0", "https://github.com/org/p0")])  # three of four gone: a truncated file?

    refused = scenario.materialize([raw_installs], "2024-05-02", raise_on_error=False)
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "METRICS_REGISTRY_CSV" in failure.event_specific_data.error.message
    assert scenario.materialize([raw_installs, raw_commits], "2024-05-02", tags={ALLOW_DROP_TAG: "true"}).success
