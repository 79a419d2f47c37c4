"""Logs a person can read: with hundreds of bad names, days and a damaged file in one run, no line our
code logs is longer than 300 characters (ranges and counts, not key lists)."""

import logging

from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.quality.unmatched import raw_commits_unmatched_repos, raw_installs_unmatched_projects
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline_tests.quality.quality_helpers import run
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

LIMIT = 300


def test_no_log_line_from_our_code_exceeds_300_characters(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("METRICS_GITHUB_TOKEN", raising=False)
    scenario = Scenario(tmp_path)
    plugins = [(f"napari-plugin-with-a-long-name-{n:03d}", f"https://github.com/org/napari-plugin-with-a-long-name-{n:03d}")
               for n in range(60)]
    scenario.set_registry(plugins)
    days = [f"2024-02-{d:02d}" for d in range(1, 30)]
    scenario.downloads.write([Download(f"{day} 10:00:00", name, times=2) for day in days for name, _ in plugins[:20]]
                             + [Download(f"{day} 11:00:00", f"{name}x") for day in days for name, _ in plugins]  # look-alikes
                             + [Download("2024-02-10 12:00:00", "napari-plugin-with-a-long-name-001", installer=None, ci=None)])
    scenario.commits.write([Commit(f"elsewhere/{name}", f"{n:040x}", f"{days[n % len(days)]} 08:00:00")
                            for n, (name, _) in enumerate(plugins)])
    caplog.set_level(logging.DEBUG)
    assets = [raw_installs, daily_installs, monthly_installs, total_installs, raw_commits,
              raw_installs_unmatched_projects, raw_commits_unmatched_repos]
    first = run(scenario, assets, days[0], days[-1], github=GitHubApi())
    (scenario.downloads.directory / "file_downloads-2024-02-15.parquet").write_bytes(b"PAR1 not a parquet file")
    second = run(scenario, assets, days[0], days[-1], github=GitHubApi())

    # our log messages, and the events whose message carries our text (a check's description)
    logged = [entry.user_message for result in (first, second) for entry in scenario.instance.all_logs(result.run_id)
              if not entry.is_dagster_event or entry.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("metrics_pipeline")]
    assert logged, "the runs logged nothing: the test would not see a long line"
    long = [line for message in logged + ours for line in message.splitlines() if len(line) > LIMIT]
    assert long == []
    # the runs did meet the bad inputs they log about
    failed = [{e.check_name for e in result.get_asset_check_evaluations() if not e.passed} for result in (first, second)]
    assert failed == [{"raw_installs_unmatched_projects", "raw_commits_unmatched_repos"},
                      {"source_files_readable", "raw_commits_unmatched_repos"}]
