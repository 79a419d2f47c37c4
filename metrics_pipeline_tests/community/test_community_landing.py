"""The community landing against the GitHub stub through PyGithub: pagination, `since` windows,
ETag/304, rate limits, gone/renamed repos, transfers, reruns, out-of-order and killed runs."""

import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

from metrics_pipeline.community.assets import community_daily, community_github
from metrics_pipeline_tests.community.conftest import Community, metadata, stage_one, stage_two

# Every warehouse table of the domain, minus the columns that say when a run landed something.
SNAPSHOT = {
    "community_issues": "* EXCLUDE (first_landed_at)", "community_pull_requests": "* EXCLUDE (first_landed_at)",
    "community_events": "*", "community_members": "*", "community_transfers": "*", "community_event_polls": "*",
    "community_repos": "repo_key", "community_dirty_days": "day", "community_daily": "*",
}


def snapshot(community: Community) -> dict:
    return {t: community.query(f"SELECT {cols} FROM {t} ORDER BY ALL") for t, cols in SNAPSHOT.items()}


def _query(path: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(path).query).items()}


def test_pages_since_windows_and_a_rerun_answered_304_cost_nothing_and_change_nothing(community, stub):
    stage_one(stub)
    first = community.run([community_github], "2024-02-01", per_page=3)
    assert metadata(first)["changed_rows"] == {"issues": 6, "pull_requests": 2, "events": 13, "transfers": 0, "members": 1,
                                               "dirty_days": (metadata(first)["changed_rows"]["dirty_days"])}
    listing = [_query(p) for p in stub.requests if urlparse(p).path == "/repos/org/alpha/issues"]
    assert [(q.get("page", "1"), "since" in q) for q in listing] == [("1", False), ("2", False)]  # 5 items, 3 a page
    before, used = snapshot(community), stub.rate_used
    stub.statuses.clear()
    rerun = community.run([community_github], "2024-02-01", per_page=3)
    assert metadata(rerun)["changed_rows"] == {"issues": 0, "pull_requests": 0, "events": 0, "transfers": 0, "members": 0, "dirty_days": 0}
    # One-page timelines (alpha #3 #4 #5; beta #1, polled as an open item missing from the window)
    # and the members list are unchanged: 304, free of rate limit. Two-page timelines keep no ETag
    # (a 304 on page 1 would hide a new last page) and are read again.
    not_modified = sorted(urlparse(p).path for p, status in stub.statuses if status == 304)
    assert not_modified == ["/orgs/org/public_members"] + [f"/repos/org/alpha/issues/{n}/timeline" for n in (3, 4, 5)] + [
        "/repos/org/beta/issues/1/timeline"]
    assert metadata(rerun)["not_modified_polls"] == 5
    assert stub.rate_used - used == len(stub.statuses) - 5
    assert _query([p for p, _ in stub.statuses if urlparse(p).path == "/repos/org/alpha/issues"][0])["since"] == "2024-02-01T00:00:00Z"
    # The only new state: the ETag of beta#1 itself, polled for the first time (open, not in the window).
    after = snapshot(community)
    new_polls = set(after.pop("community_event_polls")) - set(before.pop("community_event_polls"))
    assert after == before and [request for request, _ in new_polls] == ["/repos/org/beta/issues/1"]
    settled = snapshot(community)
    community.run([community_github], "2024-02-01", per_page=3)
    assert snapshot(community) == settled


def test_rate_limits_and_server_errors_are_waited_out_and_the_data_is_complete(community, stub, tmp_path):
    stage_one(stub)
    for fault, path in (("primary", "/orgs/org/public_members"), ("secondary403", "/repos/org/alpha/issues?"),
                        ("secondary429", "/pulls?"), ("502", "/issues/2/timeline"), ("503", "/repos/org/beta/issues/1/")):
        stub.fail_next(fault, path=path)
    started = time.monotonic()
    faulted = community.run([community_github], "2024-02-01")
    assert faulted.success and time.monotonic() - started >= 3  # reset in 1 s (+1 s margin), Retry-After 1 s twice
    assert sorted(status for _, status in stub.statuses if status >= 400) == [403, 403, 429, 502, 503]
    clean = Community(tmp_path, stub, name="clean")
    clean.run([community_github], "2024-02-01")
    assert snapshot(community) == snapshot(clean)


def test_a_deleted_repo_is_reported_and_a_renamed_one_lands_under_its_registry_name(community, stub):
    stub.add_issue("org/old-name", 1, "alice", "2024-01-10T08:00:00Z")
    stub.rename("org/old-name", "org/new-name")
    stub.add_issue("org/deleted", 1, "bob", "2024-01-10T08:00:00Z")
    stub.remove("org/deleted")
    community.set_registry(["org/deleted", "org/old-name"])
    result = community.run([community_github], "2024-01-10")
    assert result.success
    assert metadata(result)["gone_repos"] == ["org/deleted"]
    assert metadata(result)["renamed_repos"] == {"org/old-name": "org/new-name"}
    assert community.query("SELECT repo_key, number, author_login FROM community_issues") == [("org/old-name", 1, "alice")]
    assert community.query("SELECT repo_key FROM community_repos") == [("org/old-name",)]  # the gone one: not fetched


def test_a_closed_issue_moved_between_tracked_repos_is_seen_by_its_id(community, stub):
    stub.add_issue("org/alpha", 3, "carol", "2024-01-31T23:00:00Z")
    stub.event("org/alpha", 3, "closed", "maint", "2024-02-01T08:00:00Z")  # closed: not polled again
    stub.add_repo("org/beta")
    community.run([community_github], "2024-02-01")
    stage_two(stub)
    community.run([community_github], "2024-02-02")
    issue_id = stub.item("org/beta", 10).id
    assert community.query("SELECT repo_key, number, state FROM community_issues") == [("org/beta", 10, "closed")]
    assert community.query("SELECT issue_id, from_repo_key, from_number, to_repo_key, to_number, CAST(transferred_at AS VARCHAR) "
                           "FROM community_transfers") == [(issue_id, "org/alpha", 3, "org/beta", 10, "2024-02-02 12:00:00")]


def test_out_of_order_windows_and_reruns_leave_identical_tables(community, stub, tmp_path):
    stage_one(stub)
    stage_two(stub)
    in_order = Community(tmp_path, stub, name="in_order")
    for day in ("2024-01-31", "2024-02-02"):
        in_order.run([community_github, community_daily], day)
    for day in ("2024-02-02", "2024-01-31", "2024-02-02"):
        community.run([community_github, community_daily], day)
    # Every data table is identical; the ETag cache (community_event_polls) holds whichever polls
    # each order happened to make, which only decides what a later run may skip with a 304.
    ours, theirs = snapshot(community), snapshot(in_order)
    ours.pop("community_event_polls"), theirs.pop("community_event_polls")
    assert ours == theirs and len(ours["community_daily"]) == 4


KILLED_RUN = """
import sys, time
from pathlib import Path
import dagster as dg
import metrics_pipeline.community.assets as assets
from metrics_pipeline.community import landing
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
base_url, warehouse, registry, marker = sys.argv[1:5]
def pause():
    Path(marker).touch()
    time.sleep(3600)
assets.land = lambda *args, **kwargs: landing.land(*args, **kwargs, before_commit=pause)
dg.materialize([assets.community_github], partition_key="2024-02-02", resources={
    "github": GitHubApi(token="stub-token", base_url=base_url, seconds_between_requests=0),
    "registry": PluginRegistry(csv_path=registry), "warehouse": DuckDBWarehouse(path=warehouse)})
"""


def test_a_landing_killed_before_its_commit_leaves_the_old_state_and_a_rerun_the_exact_one(community, stub, tmp_path):
    stage_one(stub)
    community.run([community_github], "2024-02-01")
    reference = Community(tmp_path, stub, name="reference")
    reference.run([community_github], "2024-02-01")
    stage_two(stub)
    reference.run([community_github], "2024-02-02")
    before, marker = snapshot(community), tmp_path / "paused"
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, stub.base_url, community.warehouse.path,
                                str(community.registry_csv), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the landing never reached its commit"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    assert snapshot(community) == before  # nothing of the killed transaction
    community.run([community_github], "2024-02-02")
    assert snapshot(community) == snapshot(reference)
    assert community.query("SELECT count(*) FROM community_transfers") == [(1,)]


def test_pull_requests_are_read_newest_first_until_the_window_starts(community, stub):
    for number, day in enumerate(["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"], start=1):
        stub.add_pr("org/alpha", number, "bob", f"{day}T08:00:00Z")
    community.set_registry(["org/alpha"])
    community.run([community_github], "2024-01-08", per_page=1)  # first fetch: whole history
    stub.event("org/alpha", 1, "merged", "maint", "2024-01-08T12:00:00Z")  # the oldest PR changes last
    stub.requests.clear()
    community.run([community_github], "2024-01-08", per_page=1)
    pages = [_query(p).get("page", "1") for p in stub.requests if urlparse(p).path == "/repos/org/alpha/pulls"]
    assert pages == ["1", "2", "3"]  # #1 (01-08 12:00), #4 (01-08 08:00), then #3 (01-07): older than the window
    assert community.query("SELECT number, state, CAST(merged_at AS VARCHAR) FROM community_pull_requests ORDER BY number") == [
        (1, "closed", "2024-01-08 12:00:00"), (2, "open", None), (3, "open", None), (4, "open", None)]


def test_the_stub_loads_issues_events_and_members_from_its_json_data(community, stub):
    stub.load({"repos": {"org/alpha": {"issues": [
        {"number": 1, "author": "alice", "created": "2024-01-10T08:00:00Z",
         "events": [{"kind": "commented", "login": "maint", "at": "2024-01-10T09:00:00Z"}]},
        {"number": 2, "author": "bob", "created": "2024-01-10T10:00:00Z", "pr": True,
         "events": [{"kind": "merged", "login": "maint", "at": "2024-01-11T10:00:00Z"}]},
    ]}}, "orgs": {"org": ["maint"]}})
    community.set_registry(["org/alpha"])
    assert community.run([community_github], "2024-01-11").success
    assert community.query("SELECT number, is_pull_request, state FROM community_issues ORDER BY number") == [
        (1, False, "open"), (2, True, "closed")]
    assert community.query("SELECT event, actor_login FROM community_events ORDER BY event") == [
        ("closed", "maint"), ("commented", "maint"), ("merged", "maint")]
    assert community.query("SELECT org, login FROM community_members") == [("org", "maint")]


def test_a_repo_failing_past_its_retries_fails_the_run_after_the_others_land_and_a_rerun_completes(community, stub):
    stage_one(stub)
    stub.fail_next("502", times=3, path="/repos/org/alpha/issues?")  # the listing and both retries
    result = community.run([community_github], "2024-02-01", raise_on_error=False, max_retries=2)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "1 community fetches failed" in message and "org/alpha" in message and "stub-token" not in message
    assert community.query("SELECT DISTINCT repo_key FROM community_issues") == [("org/beta",)]
    assert community.query("SELECT repo_key FROM community_repos") == [("org/beta",)]  # alpha: whole history next time
    assert community.run([community_github], "2024-02-01", max_retries=2).success
    assert community.query("SELECT repo_key, count(*) FROM community_issues GROUP BY ALL ORDER BY 1") == [
        ("org/alpha", 5), ("org/beta", 1)]
