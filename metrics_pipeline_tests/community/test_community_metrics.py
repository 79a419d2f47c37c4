"""Every metric rule on a hand-made scenario (conftest.stage_one/two): figures computed by hand."""

from datetime import date, datetime

import pytest

from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
from metrics_pipeline_tests.community.conftest import stage_one, stage_two

COLUMNS = ("issues_opened, prs_opened, issues_closed, prs_merged, prs_closed_unmerged, open_issues, open_prs, "
           "awaiting_response, response_median_hours, response_p90_hours, unanswered, close_median_hours, close_p90_hours, "
           "issues_not_closed, merge_median_hours, merge_p90_hours, prs_not_merged, new_contributors, returning_contributors")
N = None
# Per repo and day/month/total, in COLUMNS order:
#  opened i/p | closed i, merged p, closed-unmerged p | open i/p at end | awaiting | response med/p90/unanswered |
#  close med/p90/not closed | merge med/p90/not merged | new/returning contributors
DAILY = {
    # alpha#1 by alice: a bot (1 h) and alice herself (2 h) comment first; maint answers after 24 h, closes after 48 h.
    # Nothing by a member before the day's end: awaiting.
    ("org/alpha", "2024-01-30"): (1, 0, 0, 0, 0, 1, 0, 1, 24.0, 24.0, 0, 48.0, 48.0, 0, N, N, 0, 1, 0),
    # PR alpha#2 by bob: reviewed after 1.5 h, closed 12:00 (not open at the end), merged 36 h after opening.
    # alpha#3 opened 23:00 moved to beta later: counted there only. alpha#1 answered by maint: not awaiting.
    ("org/alpha", "2024-01-31"): (0, 1, 0, 0, 0, 1, 0, 0, 1.5, 1.5, 0, N, N, 0, 36.0, 36.0, 0, 1, 0),
    # alpha#1 closed; #2 reopened then merged (merged, not "closed unmerged"); bot PR #5 opened and closed
    # unmerged; alice opens #4 (returning; the bot is no contributor); #4 and #5 unanswered.
    ("org/alpha", "2024-02-01"): (1, 1, 1, 1, 1, 1, 0, 1, N, N, 2, N, N, 1, N, N, 1, 0, 1),
    ("org/alpha", "2024-02-02"): (0, 0, 0, 0, 0, 1, 0, 1, N, N, 0, N, N, 0, N, N, 0, 0, 0),
    # beta#1 by erin, answered by maint after 1 h; erin has the latest word on 01-16: awaiting from then.
    ("org/beta", "2024-01-15"): (1, 0, 0, 0, 0, 1, 0, 0, 1.0, 1.0, 0, N, N, 1, N, N, 0, 1, 0),
    ("org/beta", "2024-01-30"): (0, 0, 0, 0, 0, 1, 0, 1, N, N, 0, N, N, 0, N, N, 0, 0, 0),
    # beta#10 (ex alpha#3) by carol, opened 01-31 23:00; dave (non-member) answers after 3 h.
    ("org/beta", "2024-01-31"): (1, 0, 0, 0, 0, 2, 0, 2, 3.0, 3.0, 0, N, N, 1, N, N, 0, 1, 0),
    ("org/beta", "2024-02-02"): (0, 0, 0, 0, 0, 2, 0, 2, N, N, 0, N, N, 0, N, N, 0, 0, 0),
}
MONTHLY = {
    # Medians over the month's items (24 h and 1.5 h), not over the daily medians.
    ("org/alpha", "2024-01-01"): (1, 1, 0, 0, 0, 1, 0, 0, 12.75, 21.75, 0, 48.0, 48.0, 0, 36.0, 36.0, 0, 2, 0),
    ("org/alpha", "2024-02-01"): (1, 1, 1, 1, 1, 1, 0, 1, N, N, 2, N, N, 1, N, N, 1, 0, 1),
    ("org/beta", "2024-01-01"): (2, 0, 0, 0, 0, 2, 0, 2, 2.0, 2.8, 0, N, N, 2, N, N, 0, 2, 0),
    ("org/beta", "2024-02-01"): (0, 0, 0, 0, 0, 2, 0, 2, N, N, 0, N, N, 0, N, N, 0, 0, 0),
}
TOTAL = {
    "org/alpha": (2, 2, 1, 1, 1, 1, 0, 1, 12.75, 21.75, 2, 48.0, 48.0, 1, 36.0, 36.0, 1, 2, 0),
    "org/beta": (2, 0, 0, 0, 0, 2, 0, 2, 2.0, 2.8, 0, N, N, 2, N, N, 0, 2, 0),
}


def _rows(community, table: str, period: bool = True) -> dict:
    key = "repo, CAST(period_start AS VARCHAR)" if period else "repo"
    found = community.query(f"SELECT {key}, {COLUMNS} FROM {table} ORDER BY ALL")
    return {(r[:2] if period else r[0]): tuple(r[2 if period else 1:]) for r in found}


def _approx(rows: dict) -> dict:
    return {k: tuple(pytest.approx(v) if isinstance(v, float) else v for v in values) for k, values in rows.items()}


def test_every_rule_by_hand_across_a_month_boundary_with_a_transfer_bots_and_a_reopened_pr(community, stub):
    stage_one(stub)
    community.run([community_github], "2024-02-01")  # first fetch: whole history
    stage_two(stub)
    community.run([community_github], "2024-02-02")  # alpha's open #3 answers 301: moved to beta#10
    community.run([community_daily], "2024-01-15", "2024-02-02")
    community.run([community_monthly], "2024-01-01", "2024-02-01")
    community.run([community_total])

    daily = _rows(community, "community_daily")
    assert {k: daily[k] for k in DAILY} == _approx(DAILY)
    assert len(daily) == 2 * 19 and daily[("org/alpha", "2024-01-29")][5] == 0  # every day, quiet ones too
    assert _rows(community, "community_monthly") == _approx(MONTHLY)
    assert _rows(community, "community_total", period=False) == _approx(TOTAL)

    issue_id = stub.item("org/beta", 10).id
    assert community.query("SELECT * FROM community_transfers") == [
        (issue_id, "org/alpha", 3, "org/beta", 10, datetime(2024, 2, 2, 12))
    ]
    assert community.query("SELECT repo_key, number FROM community_issues WHERE issue_id = ?", [issue_id]) == [("org/beta", 10)]
    assert community.query("SELECT plugin_name FROM community_daily WHERE repo = 'org/beta' LIMIT 1") == [("p-beta",)]
    # The transfer changed both repos' figures from the item's opening day on: those days await a rerun.
    dirty = {d for (d,) in community.query("SELECT day FROM community_dirty_days")}
    assert date(2024, 1, 31) not in dirty and date(2024, 2, 3) in dirty  # 01-15..02-02 were just recomputed


def test_a_user_owned_repo_has_no_org_so_its_owner_is_the_member(community, stub):
    stub.add_issue("solo/tool", 1, "alice", "2024-03-01T10:00:00Z")
    stub.comment("solo/tool", 1, "solo", "2024-03-01T16:00:00Z")  # the owner answers after 6 h
    stub.add_issue("solo/tool", 2, "bob", "2024-03-01T11:00:00Z")
    stub.comment("solo/tool", 2, "carol", "2024-03-01T12:00:00Z")  # a bystander: still awaiting
    community.set_registry(["solo/tool"])
    community.run([community_github, community_daily], "2024-03-01")  # /orgs/solo/public_members answers 404
    assert community.query("SELECT count(*) FROM community_members") == [(0,)]
    assert community.query(f"SELECT {COLUMNS} FROM community_daily") == [
        (2, 0, 0, 0, 0, 2, 0, 1, 3.5, pytest.approx(5.5), 0, N, N, 2, N, N, 0, 2, 0)]
