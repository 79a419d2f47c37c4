"""The GitHub landing asset against the local REST stub through PyGithub; numbers by hand."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from urllib.parse import parse_qs, urlparse

import dagster as dg
import pytest
from github import UnknownObjectException

from metrics_pipeline.commits.github_assets import github_commits
from metrics_pipeline.commits.github_source import GitHubCommitsSource
from metrics_pipeline_tests.support.github_stub import start_github_stub
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

T = datetime.fromisoformat


@pytest.fixture
def landing(tmp_path, github_api):
    """Runs `github_commits` for a partition with a registry of `repos`; returns (result, warehouse)."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    instance = dg.DagsterInstance.ephemeral()

    def run(day: str, repos: list[str], **api):
        registry = tmp_path / "registry.csv"
        registry.write_text("name,code_repository\n" + "".join(f"p{i},https://github.com/{r}\n" for i, r in enumerate(repos)))
        result = dg.materialize(
            [github_commits],
            partition_key=day,
            instance=instance,
            raise_on_error=False,
            resources={"github": github_api(**api), "registry": PluginRegistry(csv_path=str(registry)), "warehouse": warehouse},
        )
        return result

    run.warehouse = warehouse
    return run


def _landed(warehouse):
    with warehouse.connect() as con:
        return con.execute(
            "SELECT repo, sha, author_id, commit_author_date, repo_url FROM github_commits_landing ORDER BY sha"
        ).fetchall()


def _metadata(result):
    return {k: v.value for k, v in result.asset_materializations_for_node("github_commits")[0].metadata.items()}


def test_full_history_once_then_committer_windows_with_pagination_and_late_author_dates(landing, github_stub):
    for n, (authored, committed) in enumerate(
        [("2024-01-01T10:00:00Z", None), ("2024-01-09T10:00:00Z", None), ("2024-01-10T00:00:00Z", None),
         ("2024-01-10T23:59:59Z", None), ("2024-01-08T10:00:00Z", "2024-01-11T10:00:00Z")]
    ):
        github_stub.add_commit("Org/Napari-Foo", f"a{n}", authored, committed, author_id=7)
    result = landing("2024-01-10", ["org/napari-foo"], per_page=2)
    assert result.success
    assert _metadata(result)["commits_landed"] == 5  # new repo: whole history, over 3 pages
    assert _metadata(result)["full_history_repos"] == ["org/napari-foo"]
    assert _landed(landing.warehouse)[0] == ("org/napari-foo", "a0", "7", T("2024-01-01 10:00:00"), "https://github.com/Org/Napari-Foo")
    pages = [parse_qs(urlparse(p).query) for p in github_stub.requests if "/commits" in p]
    assert [q.get("page", ["1"])[0] for q in pages] == ["1", "2", "3"] and "since" not in pages[0]

    source = GitHubCommitsSource(warehouse_path=landing.warehouse.path)
    cursor = source.arrivals_since(None).cursor
    github_stub.add_commit("Org/Napari-Foo", "b1", "2024-01-05T12:00:00Z", "2024-01-11T09:00:00Z", author_id=None)
    github_stub.requests.clear()
    result = landing("2024-01-11", ["org/napari-foo"], per_page=2)
    assert result.success and _metadata(result)["commits_landed"] == 1  # a4 again (deduplicated) and b1
    window = parse_qs(urlparse(github_stub.requests[-1]).query)
    assert (window["since"], window["until"]) == (["2024-01-11T00:00:00Z"], ["2024-01-11T23:59:59Z"])
    assert source.arrivals_since(cursor).newest_by_day.keys() == {date(2024, 1, 5)}
    batch = source.commits(date(2024, 1, 5), date(2024, 1, 6), ["ORG/Napari-Foo"])
    assert [(r["sha"], r["author_id"]) for r in batch.rows.to_pylist()] == [("b1", None)]
    assert [f.source_rows for f in batch.fingerprints] == [1]
    assert source.days_with_commits(["org/napari-foo"]) == {date(2024, 1, d) for d in (1, 5, 8, 9, 10)}


def test_rate_limits_and_server_errors_are_waited_out_and_data_is_complete(landing, github_stub):
    github_stub.add_commit("org/napari-foo", "a1", "2024-01-10T08:00:00Z")
    github_stub.add_commit("org/napari-foo", "a2", "2024-01-10T09:00:00Z")
    for fault in ("primary", "secondary403", "secondary429", "502", "503"):
        github_stub.fail_next(fault)
    started = time.monotonic()
    result = landing("2024-01-10", ["org/napari-foo"], per_page=1)
    assert result.success
    assert time.monotonic() - started >= 3  # reset in 1s (+1s margin), then Retry-After: 1, twice
    assert [row[1] for row in _landed(landing.warehouse)] == ["a1", "a2"]
    assert len(github_stub.requests) == 5 + 3  # five faulted tries, then repo + two pages


@pytest.mark.parametrize("fault, expected", [("secondary429", "over the 5s bound"), ("primary", "RateLimitExceededExceedsMaxWait")])
def test_a_wait_beyond_the_bound_fails_fast_instead_of_hanging(landing, github_stub, fault, expected):
    github_stub.add_commit("org/napari-foo", "a1", "2024-01-10T08:00:00Z")
    github_stub.retry_after, github_stub.reset_in = 120, 3600
    github_stub.fail_next(fault)
    started = time.monotonic()
    result = landing("2024-01-10", ["org/napari-foo"])
    assert not result.success and time.monotonic() - started < 30
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "org/napari-foo" in message and expected in message


def test_gone_and_renamed_repos_are_reported_and_do_not_stop_the_others(landing, github_stub):
    github_stub.add_commit("org/kept", "k1", "2024-01-10T08:00:00Z")
    github_stub.add_commit("org/old-name", "r1", "2024-01-10T09:00:00Z")
    github_stub.rename("org/old-name", "org/new-name")
    github_stub.add_commit("org/deleted", "d1", "2024-01-10T09:00:00Z")
    github_stub.remove("org/deleted")
    result = landing("2024-01-10", ["org/deleted", "org/kept", "org/old-name"])
    assert result.success
    metadata = _metadata(result)
    assert metadata["gone_repos"] == ["org/deleted"]
    assert metadata["renamed_repos"] == {"org/old-name": "org/new-name"}
    assert _landed(landing.warehouse) == [
        ("org/kept", "k1", "1", T("2024-01-10 08:00:00"), "https://github.com/org/kept"),
        ("org/old-name", "r1", "1", T("2024-01-10 09:00:00"), "https://github.com/org/new-name"),
    ]


def test_a_repo_failing_past_its_retries_fails_the_run_after_the_others_land(landing, github_stub):
    github_stub.add_commit("org/a-broken", "x1", "2024-01-10T08:00:00Z")
    github_stub.add_commit("org/b-fine", "f1", "2024-01-10T08:00:00Z")
    github_stub.fail_next("502", times=3)  # the first repo's request and both retries
    result = landing("2024-01-10", ["org/a-broken", "org/b-fine"], max_retries=2)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data
    assert "1 of 2 repos failed" in failure.error.message and "org/a-broken" in failure.error.message
    assert [row[1] for row in _landed(landing.warehouse)] == ["f1"]
    retried = landing("2024-01-10", ["org/a-broken", "org/b-fine"], max_retries=2)  # the rerun completes it
    assert retried.success and [row[1] for row in _landed(landing.warehouse)] == ["f1", "x1"]


def test_the_stub_runs_as_its_own_process_for_the_demo(tmp_path, github_api):
    data = tmp_path / "repos.json"
    data.write_text(json.dumps({"repos": {
        "org/foo": {"commits": [{"sha": "f1", "author_date": "2024-01-10T08:00:00Z"}]},
        "org/old": {"commits": [{"sha": "o1", "author_date": "2024-01-10T08:00:00Z"}], "moved_to": "org/new"},
        "org/gone": {"gone": True},
    }}))
    server = start_github_stub(data, tmp_path / "stub.log")
    try:
        gh, _ = github_api(base_url=f"http://127.0.0.1:{server.port}").client()
        assert [c.sha for c in gh.get_repo("org/foo").get_commits()] == ["f1"]
        assert gh.get_repo("org/old").full_name == "org/new"
        with pytest.raises(UnknownObjectException):
            gh.get_repo("org/gone")
    finally:
        server.stop()
