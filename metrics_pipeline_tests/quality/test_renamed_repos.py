"""Renamed repos in the unmatched-repos check: with a GitHub token each suspect registry repo is
resolved on the local GitHub stub (a renamed repo answers, through a 301, with its new full_name);
without one, owner and name are compared apart. Three renames are named, one of them scoring 0.82
as a whole string (below the 0.85 cutoff); an unrelated repo and another repo of the same owner are not."""

import difflib

import dagster as dg
import pytest

from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.quality.unmatched import SIMILARITY, raw_commits_unmatched_repos
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline_tests.quality.quality_helpers import plain, run
from metrics_pipeline_tests.scenario import Commit, Scenario
from metrics_pipeline_tests.support.github_stub import GitHubStub, repo_id

TOKEN = "ghp_stubtoken0123456789abcdefghijklmnopqrst"
CHECK = "raw_commits_unmatched_repos"
RENAMES = {  # registry spelling -> where the repo lives now (and the spelling its commits arrive under)
    "haesleinhuepf/napari-stress": "BiAPoL/napari-stress",  # transferred to another owner
    "mia-lab/napari-segment": "mia-lab/napari-segmenter",  # renamed
    "cvlab/spotfinder": "cvlab/napari-spotfinder",  # renamed; 0.82 as a whole string
}
REGISTRY = [
    ("napari-stress", "https://github.com/haesleinhuepf/napari-stress"),
    ("napari-segment", "https://github.com/mia-lab/napari-segment"),
    ("spotfinder", "https://github.com/cvlab/spotfinder"),
    ("napari-active", "https://github.com/Org/napari-active"),  # its commits match
    ("napari-quiet", "https://github.com/quiet/napari-quiet"),  # no commits, not renamed
]
COMMITS = [
    Commit("Org/napari-active", f"{1:040x}", "2024-03-01 08:00:00"),
    Commit("BiAPoL/napari-stress", f"{2:040x}", "2024-03-01 09:00:00"),
    Commit("mia-lab/napari-segmenter", f"{3:040x}", "2024-03-02 09:00:00"),
    Commit("cvlab/napari-spotfinder", f"{4:040x}", "2024-03-02 10:00:00"),
    Commit("cvlab/napari-spotfinder", f"{5:040x}", "2024-03-02 11:00:00"),
    Commit("cvlab/website", f"{6:040x}", "2024-03-02 12:00:00"),  # same owner, another repo
    Commit("someone/unrelated", f"{7:040x}", "2024-03-02 13:00:00"),
]


def failing_days(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each failing day's figures, from one evaluation per day or from a run's `failing_days`."""
    found = {}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name != CHECK or evaluation.passed:
            continue
        figures = {k: plain(v) for k, v in evaluation.metadata.items()}
        if evaluation.partition:
            found[evaluation.partition] = figures
        else:
            found.update(figures.get("failing_days", {}))
    return found


@pytest.fixture
def stub():
    server = GitHubStub(token=TOKEN).start()
    for repo in ["Org/napari-active", "quiet/napari-quiet", "cvlab/website", "someone/unrelated", *RENAMES]:
        server.add_repo(repo)
    for old, new in RENAMES.items():
        server.rename(old, new, via_id=old.startswith("haesleinhuepf"))  # api.github.com's form: /repositories/{id}
    yield server
    server.stop()


@pytest.fixture
def scenario(tmp_path, monkeypatch) -> Scenario:
    monkeypatch.delenv("METRICS_GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("METRICS_SECRETS_SSM_PATH", raising=False)
    scenario = Scenario(tmp_path)
    scenario.set_registry(REGISTRY)
    scenario.commits.write(COMMITS)
    return scenario


def test_with_a_token_each_rename_is_named_by_githubs_full_name_looking_up_only_silent_registry_repos(scenario, stub):
    github = GitHubApi(token=TOKEN, base_url=stub.base_url, seconds_between_requests=0)
    result = run(scenario, [raw_commits, raw_commits_unmatched_repos], "2024-03-01", "2024-03-02", github=github)
    assert result.success
    days = failing_days(result)
    assert sorted(days) == ["2024-03-01", "2024-03-02"]
    assert days["2024-03-01"] == {
        "unmatched_repos": 1,
        "examples": "repo 'BiAPoL/napari-stress' (1 commits) is registry repo 'haesleinhuepf/napari-stress', "
                    "renamed on GitHub to 'BiAPoL/napari-stress'",
        "renamed_repos": {"haesleinhuepf/napari-stress": "BiAPoL/napari-stress"},
    }
    assert days["2024-03-02"] == {
        "unmatched_repos": 2,
        "examples": "repo 'cvlab/napari-spotfinder' (2 commits) is registry repo 'cvlab/spotfinder', "
                    "renamed on GitHub to 'cvlab/napari-spotfinder'\n"
                    "repo 'mia-lab/napari-segmenter' (1 commits) is registry repo 'mia-lab/napari-segment', "
                    "renamed on GitHub to 'mia-lab/napari-segmenter'",
        "renamed_repos": {"cvlab/spotfinder": "cvlab/napari-spotfinder", "mia-lab/napari-segment": "mia-lab/napari-segmenter"},
        "github_lookups": 4,
    }
    # Only the four registry repos without commits under their own spelling were asked for (each
    # rename followed through its 301); the active repo and the unmatched repos themselves were not.
    assert sorted(stub.requests) == [
        "/repos/cvlab/napari-spotfinder", "/repos/cvlab/spotfinder",
        "/repos/haesleinhuepf/napari-stress", "/repos/mia-lab/napari-segment", "/repos/mia-lab/napari-segmenter",
        "/repos/quiet/napari-quiet", f"/repositories/{repo_id('BiAPoL/napari-stress')}",
    ]
    assert TOKEN not in repr(result.all_events)

    # A day whose commits all match costs no request at all.
    stub.requests.clear()
    scenario.commits.write([Commit("Org/napari-active", f"{8:040x}", "2024-03-03 08:00:00")])
    quiet = run(scenario, [raw_commits, raw_commits_unmatched_repos], "2024-03-03", github=github)
    assert quiet.success and failing_days(quiet) == {} and stub.requests == []

    # The registry repo the comparison points at is asked first; once it explains every unmatched
    # repo, the other silent registry repos are not asked about.
    scenario.commits.write([Commit("cvlab/napari-spotfinder", f"{9:040x}", "2024-03-04 08:00:00")])
    one = run(scenario, [raw_commits, raw_commits_unmatched_repos], "2024-03-04", github=github)
    assert failing_days(one)["2024-03-04"]["github_lookups"] == 1
    assert stub.requests == ["/repos/cvlab/spotfinder", "/repos/cvlab/napari-spotfinder"]


def test_without_a_token_owner_and_name_compared_apart_name_all_three(scenario, stub):
    assert round(difflib.SequenceMatcher(None, "cvlab/spotfinder", "cvlab/napari-spotfinder").ratio(), 2) == 0.82 < SIMILARITY
    result = run(scenario, [raw_commits, raw_commits_unmatched_repos], "2024-03-01", "2024-03-02", github=GitHubApi())
    assert result.success
    assert failing_days(result) == {
        "2024-03-01": {
            "unmatched_repos": 1,
            "examples": "repo 'BiAPoL/napari-stress' (1 commits) looks like 'haesleinhuepf/napari-stress' (renamed or moved?)",
        },
        "2024-03-02": {
            "unmatched_repos": 2,
            "examples": "repo 'cvlab/napari-spotfinder' (2 commits) looks like 'cvlab/spotfinder' (renamed or moved?)\n"
                        "repo 'mia-lab/napari-segmenter' (1 commits) looks like 'mia-lab/napari-segment' (renamed or moved?)",
        },
    }
    assert stub.requests == []  # no token: GitHub is never asked


def test_a_refused_token_falls_back_to_the_comparison_and_never_shows_the_token(scenario, stub):
    wrong = "ghp_wrongtoken0123456789abcdefghijklmnopq"
    github = GitHubApi(token=wrong, base_url=stub.base_url, seconds_between_requests=0)
    result = run(scenario, [raw_commits, raw_commits_unmatched_repos], "2024-03-01", "2024-03-02", github=github)
    assert result.success  # a WARN check: GitHub's refusal is reported, never fatal
    days = failing_days(result)
    assert days["2024-03-02"]["github_lookup_stopped"] == (
        "GitHub refused the token (401 Bad credentials): check METRICS_GITHUB_TOKEN")
    assert days["2024-03-02"]["unmatched_repos"] == 2
    assert "looks like 'cvlab/spotfinder' (renamed or moved?)" in days["2024-03-02"]["examples"]
    assert wrong not in repr(result.all_events)
