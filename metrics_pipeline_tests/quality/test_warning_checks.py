"""Warning (WARN) checks: anomalies against the trailing median, a stalled source, look-alike
projects and repos. They report but never block."""

from datetime import date, timedelta

import duckdb
import pytest

from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.installs.assets import daily_installs, raw_installs
from metrics_pipeline.quality.anomaly import anomaly_outcomes, daily_installs_anomalies
from metrics_pipeline.quality.freshness import newest_source_day, stall_result
from metrics_pipeline.quality.settings import QualitySettings, quality_settings_from
from metrics_pipeline.quality.unmatched import raw_commits_unmatched_repos, raw_installs_unmatched_projects
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline_tests.quality.quality_helpers import failing_days, plain, run
from metrics_pipeline_tests.scenario import Commit, Download, Scenario


def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def test_a_spike_a_zero_day_and_a_plugin_dropping_to_zero_warn_on_exactly_those_days(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", ""), ("napari-bar", "")])
    rows = []
    for day in _days("2024-01-01", "2024-01-28"):  # steady: foo 10 a day, bar 5 a day
        rows += [Download(f"{day} 09:00:00", "napari-foo", times=10), Download(f"{day} 10:00:00", "napari-bar", times=5)]
    rows += [Download("2024-01-29 09:00:00", "napari-foo", times=100),  # 10x spike
             Download("2024-01-29 10:00:00", "napari-bar", times=5)]
    # 2024-01-30: nothing at all; 2024-01-31: foo as usual, bar gone
    rows += [Download("2024-01-31 09:00:00", "napari-foo", times=10)]
    scenario.downloads.write(rows)
    result = run(scenario, [raw_installs, daily_installs, daily_installs_anomalies], "2024-01-01", "2024-01-31")
    assert result.success  # WARN never blocks
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "daily_installs_anomalies"]
    assert (evaluation.passed, plain(evaluation.metadata["days_checked"])) == (False, 31)  # one result for the run
    found = failing_days(result, "daily_installs_anomalies")
    assert sorted(found) == ["2024-01-29", "2024-01-30", "2024-01-31"]
    assert evaluation.description.startswith("3 day(s) failed: 2024-01-29..2024-01-31")
    found = {day: (False, figures) for day, figures in found.items()}
    assert found["2024-01-29"][1] == {
        "site_installs": 105, "site_trailing_median": 15.0, "history_days": 28, "anomalies": 2,
        "examples": "site: 105 is 7.00x the trailing median 15 (above 5x); "
                    "napari-foo: 100 is 10.00x the trailing median 10 (above 5x)"}
    assert found["2024-01-30"][1]["examples"] == (
        "site: zero installs; napari-bar: dropped to zero (trailing median 5); "
        "napari-foo: dropped to zero (trailing median 10)")
    assert found["2024-01-31"][1]["examples"] == "napari-bar: dropped to zero (trailing median 5)"
    assert {e.severity.value for e in result.get_asset_check_evaluations() if e.check_name == "daily_installs_anomalies"} == {"WARN"}

    # Thresholds are settings: with a 12x ceiling the spike day is quiet.
    with duckdb.connect(str(scenario.warehouse_path), read_only=True) as con:
        assert anomaly_outcomes(["2024-01-29"], QualitySettings(high_ratio=12.0), con)["2024-01-29"].passed
    # A small plugin's day without installs is ordinary: below the zero threshold it is not reported.
        assert anomaly_outcomes(["2024-01-31"], QualitySettings(zero_min_median=6.0), con)["2024-01-31"].passed


def test_a_stalled_source_warns_even_though_every_run_succeeded(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-05-01 09:00:00", "napari-foo"), Download("2024-05-02 09:00:00", "napari-foo")])
    # The daily runs keep succeeding, but the source has had nothing since 2024-05-02.
    assert run(scenario, [raw_installs], "2024-05-01", "2024-05-06").success
    with duckdb.connect(str(scenario.warehouse_path), read_only=True) as con:
        newest = newest_source_day(con, "installs")
    assert newest == date(2024, 5, 2)
    stalled = stall_result(newest, date(2024, 5, 7), QualitySettings())
    assert (stalled.passed, stalled.severity.value) == (False, "WARN")
    assert {k: plain(v) for k, v in stalled.metadata.items()} == {
        "newest_source_day": "2024-05-02", "expected_at_least": "2024-05-05", "days_behind": 5, "allowed_days_behind": 2}
    assert stall_result(newest, date(2024, 5, 4), QualitySettings()).passed
    assert not stall_result(None, date(2024, 5, 4), QualitySettings()).passed  # never any rows


def test_settings_come_from_the_environment_and_a_bad_one_is_named():
    assert quality_settings_from({"METRICS_ANOMALY_HIGH_RATIO": "8", "METRICS_SOURCE_STALL_DAYS": "3"}) == QualitySettings(
        high_ratio=8.0, stall_days=3)
    with pytest.raises(ValueError, match="METRICS_ANOMALY_TRAILING_DAYS must be a int, got 'four'"):
        quality_settings_from({"METRICS_ANOMALY_TRAILING_DAYS": "four"})


def test_look_alike_projects_a_moved_repo_and_a_non_github_registry_url_are_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("METRICS_GITHUB_TOKEN", raising=False)
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/napari-foo"),
                           ("napari-bar", "https://gitlab.com/someone/napari-bar")])
    scenario.downloads.write([
        Download("2024-03-01 09:00:00", "napari-foo", times=3),
        Download("2024-03-01 09:00:00", "naparifoo", times=2),  # separators dropped: not PEP 503-equal
        Download("2024-03-02 09:00:00", "napari-fooo"),  # a typo
        Download("2024-03-02 09:00:00", "numpy", times=9),  # unrelated: not reported
    ])
    scenario.commits.write([
        Commit("Org/napari-foo", f"{1:040x}", "2024-03-01 08:00:00"),
        Commit("NewOrg/napari-foo", f"{2:040x}", "2024-03-02 08:00:00"),  # transferred or renamed owner
        Commit("someone/unrelated", f"{3:040x}", "2024-03-02 09:00:00"),
    ])
    result = run(scenario, [raw_installs, raw_commits, raw_installs_unmatched_projects, raw_commits_unmatched_repos],
                 "2024-03-01", "2024-03-02", github=GitHubApi())  # no token: names compared, GitHub not asked
    assert result.success
    projects = failing_days(result, "raw_installs_unmatched_projects")
    assert projects == {
        "2024-03-01": {"unmatched_projects": 1, "examples": "project 'naparifoo' (2 downloads) looks like plugin 'napari-foo'"},
        "2024-03-02": {"unmatched_projects": 1, "examples": "project 'napari-fooo' (1 downloads) looks like plugin 'napari-foo'"}}
    repos = failing_days(result, "raw_commits_unmatched_repos")
    assert list(repos) == ["2024-03-02"]  # 2024-03-01 passed
    figures = repos["2024-03-02"]
    assert figures["unmatched_repos"] == 2
    assert figures["examples"].splitlines() == [
        "repo 'NewOrg/napari-foo' (1 commits) looks like 'Org/napari-foo' (renamed or moved?)",
        "line 3: code_repository is not a GitHub repository URL: 'napari-bar' has 'https://gitlab.com/someone/napari-bar'",
    ]
