"""The same rows through files, fakesnow and (commits) the GitHub stub give identical rollup tables."""

from __future__ import annotations

from datetime import date

import pytest

from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

SHA = [f"{i:040x}" for i in range(1, 20)]
TABLES = {
    "daily_installs": "SELECT * FROM daily_installs ORDER BY ALL",
    "monthly_installs": "SELECT * FROM monthly_installs ORDER BY ALL",
    "total_installs": "SELECT * FROM total_installs ORDER BY ALL",
    "raw_commits": "SELECT * EXCLUDE (ingestion_time) FROM raw_commits ORDER BY ALL",
    "monthly_commits": "SELECT * FROM monthly_commits ORDER BY ALL",
    "total_commits": "SELECT * FROM total_commits ORDER BY ALL",
    "latest_commits": "SELECT * FROM latest_commits ORDER BY ALL",
}


def _rollups(tmp_path, installs_kind: str, commits_kind: str) -> dict:
    scenario = Scenario(tmp_path / f"{installs_kind}-{commits_kind}", installs_kind=installs_kind, commits_kind=commits_kind)
    scenario.set_registry(
        [("napari-foo", "https://github.com/Org/Foo"), ("napari_bar", "https://github.com/org/bar.git"), ("napari-baz", "")]
    )
    scenario.downloads.write(
        [
            Download("2024-01-31 23:59:59", "napari-foo", times=2),
            Download("2024-02-01 00:00:00", "Napari_Foo", times=3),
            Download("2024-02-01 08:00:00", "napari-foo", ci=True, times=4),
            Download("2024-02-01 08:00:00", "napari-foo", installer="uv"),
            Download("2024-02-29 12:00:00", "napari.bar", times=5),
            Download("2024-02-29 12:00:00", "numpy", times=9),
        ]
    )
    scenario.commits.write(
        [
            Commit("org/foo", SHA[0], "2024-01-31 23:59:59"),
            Commit("ORG/FOO", SHA[1], "2024-02-01 00:00:00", author_id="7"),
            Commit("org/bar", SHA[2], "2024-02-29 10:00:00"),
            Commit("org/unregistered", SHA[3], "2024-02-01 10:00:00"),
        ]
    )
    # a commit authored in January that only arrives (is committed) in March: late data for Jan 31
    scenario.commits.write([Commit("org/foo", SHA[4], "2024-01-31 10:00:00", ingestion_time="2024-03-01 09:00:00")])
    assert scenario.materialize([raw_installs, daily_installs, raw_commits], "2024-01-31", "2024-03-01").success
    assert scenario.materialize([monthly_installs, monthly_commits], "2024-01-01", "2024-03-01").success
    assert scenario.materialize([total_installs, total_commits, latest_commits]).success
    return {name: scenario.query(sql) for name, sql in TABLES.items()}


@pytest.fixture(scope="module")
def from_files(tmp_path_factory) -> dict:
    return _rollups(tmp_path_factory.mktemp("parity"), "files", "files")


def test_files_rollups_are_the_hand_computed_ones(from_files):
    assert from_files["daily_installs"] == [
        (date(2024, 1, 31), "napari-foo", 2), (date(2024, 2, 1), "napari-foo", 3), (date(2024, 2, 29), "napari-bar", 5),
    ]
    assert from_files["total_installs"] == [("napari-bar", 5), ("napari-foo", 5)]
    assert from_files["total_commits"] == [("napari-bar", "org/bar", 1), ("napari-foo", "Org/Foo", 3)]


@pytest.mark.parametrize("installs_kind, commits_kind", [("snowflake", "snowflake"), ("files", "github")])
def test_production_sources_give_identical_rollups(tmp_path, from_files, installs_kind, commits_kind):
    assert _rollups(tmp_path, installs_kind, commits_kind) == from_files
