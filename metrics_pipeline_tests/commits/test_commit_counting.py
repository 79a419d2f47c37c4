"""Each counting rule for commits, pinned with hand-computed numbers."""

from datetime import date, datetime

import pytest

from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline_tests.scenario import Commit

SHA = [f"{i:040x}" for i in range(1, 40)]


def _roll_up(scenario, first_day, last_day, first_month, last_month):
    result = scenario.materialize([raw_commits], first_day, last_day)
    assert result.success
    assert scenario.materialize([monthly_commits], first_month, last_month).success
    assert scenario.materialize([total_commits, latest_commits]).success
    return result


def test_repo_matches_case_insensitively_and_keeps_registry_spelling(scenario):
    scenario.set_registry(
        [
            ("napari-foo", "https://github.com/Org/Foo.git"),
            ("napari-bar", "https://github.com/org/bar/"),
            ("napari-nogit", ""),
        ]
    )
    scenario.commits.write(
        [
            Commit("org/foo", SHA[0], "2024-01-10 10:00:00"),
            Commit("ORG/FOO", SHA[1], "2024-01-11 10:00:00"),
            Commit("Org/Bar", SHA[2], "2024-01-11 11:00:00"),
            Commit("org/unregistered", SHA[3], "2024-01-11 11:00:00"),
            Commit("org/foo-extra", SHA[4], "2024-01-11 11:00:00"),
        ]
    )
    _roll_up(scenario, "2024-01-10", "2024-01-11", "2024-01-01", "2024-01-01")
    assert scenario.query("SELECT plugin_name, repo, commit_count FROM total_commits ORDER BY 1") == [
        ("napari-bar", "org/bar", 1),
        ("napari-foo", "Org/Foo", 2),
    ]


def test_duplicate_repo_sha_rows_count_once_across_files_and_formats(scenario):
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    scenario.commits.write([Commit("org/foo", SHA[0], "2024-01-10 10:00:00"), Commit("org/foo", SHA[0], "2024-01-10 10:00:00")])
    scenario.commits.write([Commit("Org/Foo", SHA[0], "2024-01-10 10:00:00"), Commit("org/foo", SHA[1], "2024-01-10 12:00:00")], as_csv=True)
    result = _roll_up(scenario, "2024-01-10", "2024-01-10", "2024-01-01", "2024-01-01")
    assert scenario.query("SELECT count(*) FROM raw_commits") == [(2,)]
    assert scenario.query("SELECT commit_count FROM monthly_commits") == [(2,)]
    if scenario.commits_kind != "github":  # the GitHub landing already keeps one row per (repo, sha)
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["duplicate_rows_dropped"].value == 2


def test_month_year_boundaries_leap_day_and_latest_commit(scenario):
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    scenario.commits.write(
        [
            Commit("org/foo", SHA[0], "2023-12-31 23:59:59"),
            Commit("org/foo", SHA[1], "2024-01-01 00:00:00"),
            Commit("org/foo", SHA[2], "2024-02-29 23:00:00"),
            Commit("org/foo", SHA[3], "2024-02-29 23:30:00"),
            Commit("org/foo", SHA[4], "2024-03-01 00:00:01"),
        ]
    )
    scenario.commits.write([Commit("org/foo", SHA[5], "2024-02-01 00:00:00")], as_csv=True)
    _roll_up(scenario, "2023-12-31", "2024-03-01", "2023-12-01", "2024-03-01")
    assert scenario.query("SELECT month_start, commit_count FROM monthly_commits ORDER BY 1") == [
        (date(2023, 12, 1), 1),
        (date(2024, 1, 1), 1),
        (date(2024, 2, 1), 3),
        (date(2024, 3, 1), 1),
    ]
    assert scenario.query("SELECT commit_count FROM total_commits") == [(6,)]
    assert scenario.query("SELECT latest_commit_at FROM latest_commits") == [(datetime(2024, 3, 1, 0, 0, 1),)]


def test_commits_count_for_every_plugin_sharing_a_repo(scenario):
    scenario.set_registry([("napari-a", "https://github.com/org/mono"), ("napari-b", "https://github.com/Org/Mono")])
    scenario.commits.write([Commit("org/mono", SHA[0], "2024-01-10 10:00:00")])
    _roll_up(scenario, "2024-01-10", "2024-01-10", "2024-01-01", "2024-01-01")
    assert scenario.query("SELECT plugin_name, repo, commit_count FROM total_commits ORDER BY 1") == [
        ("napari-a", "org/mono", 1),
        ("napari-b", "Org/Mono", 1),
    ]


def test_rows_without_sha_are_quarantined_with_a_count(scenario):
    if scenario.commits_kind == "github":
        pytest.skip("GitHub has no commit without a sha")
    scenario.set_registry([("napari-foo", "https://github.com/org/foo")])
    scenario.commits.write([Commit("org/foo", SHA[0], "2024-01-10 10:00:00"), Commit("org/foo", "", "2024-01-10 11:00:00")], as_csv=True)
    result = scenario.materialize([raw_commits], "2024-01-10")
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rows_set_aside"].value == 1
    assert metadata["set_aside_reasons"].value == {"missing sha": 1}
    assert scenario.query("SELECT sha FROM raw_commits") == [(SHA[0],)]
