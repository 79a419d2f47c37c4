"""The community domain against the GitHub stub: a hand-made scenario and a runner for its assets."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.community.assets import community_daily
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline_tests.support.github_stub import GitHubStub

REPOS = ["org/alpha", "org/beta"]


def stage_one(stub: GitHubStub) -> None:
    """Everything up to 2024-02-01 20:00 UTC (see test_community_metrics for the figures)."""
    stub.set_members("org", ["maint"])
    stub.add_issue("org/alpha", 1, "alice", "2024-01-30T10:00:00Z")
    stub.comment("org/alpha", 1, "dependabot[bot]", "2024-01-30T11:00:00Z")  # a bot: no response
    stub.comment("org/alpha", 1, "alice", "2024-01-30T12:00:00Z")  # the author: no response
    stub.comment("org/alpha", 1, "maint", "2024-01-31T10:00:00Z")  # first response, 24 h
    stub.event("org/alpha", 1, "closed", "maint", "2024-02-01T10:00:00Z")  # closed after 48 h
    stub.add_pr("org/alpha", 2, "bob", "2024-01-31T08:00:00Z")
    stub.event("org/alpha", 2, "reviewed", "maint", "2024-01-31T09:30:00Z")  # 1.5 h
    stub.event("org/alpha", 2, "closed", "bob", "2024-01-31T12:00:00Z")
    stub.event("org/alpha", 2, "reopened", "bob", "2024-02-01T09:00:00Z")
    stub.event("org/alpha", 2, "merged", "maint", "2024-02-01T20:00:00Z")  # merged after 36 h
    stub.add_issue("org/alpha", 3, "carol", "2024-01-31T23:00:00Z")
    stub.comment("org/alpha", 3, "dave", "2024-02-01T02:00:00Z")  # a non-member responds, 3 h
    stub.add_issue("org/alpha", 4, "alice", "2024-02-01T15:00:00Z")  # alice returns
    stub.add_pr("org/alpha", 5, "renovate[bot]", "2024-02-01T16:00:00Z")
    stub.event("org/alpha", 5, "closed", "renovate[bot]", "2024-02-01T17:00:00Z")
    stub.add_issue("org/beta", 1, "erin", "2024-01-15T12:00:00Z")
    stub.comment("org/beta", 1, "maint", "2024-01-15T13:00:00Z")  # 1 h
    stub.comment("org/beta", 1, "erin", "2024-01-16T09:00:00Z")  # the latest word is a non-member's


def stage_two(stub: GitHubStub) -> None:
    """alpha#3 moves to beta#10 on 2024-02-02 12:00 UTC."""
    stub.transfer("org/alpha", 3, "org/beta", 10, "maint", "2024-02-02T12:00:00Z")


class Community:
    """A warehouse, a registry of `REPOS` and one Dagster instance; runs assets against the stub."""

    def __init__(self, tmp_path: Path, stub: GitHubStub, name: str = "warehouse"):
        self.stub, self.tmp_path = stub, tmp_path
        self.warehouse = DuckDBWarehouse(path=str(tmp_path / f"{name}.duckdb"))
        self.registry_csv = tmp_path / "registry.csv"
        self.set_registry(REPOS)
        self.instance = dg.DagsterInstance.ephemeral()

    def set_registry(self, repos: list[str]) -> None:
        self.registry_csv.write_text("name,code_repository\n" + "".join(
            f"p-{r.split('/')[1]},https://github.com/{r}\n" for r in repos))

    def api(self, **overrides) -> GitHubApi:
        settings = dict(token="stub-token", base_url=self.stub.base_url, seconds_between_requests=0, backoff_factor=0.05,
                        backoff_max_seconds=0.5, max_rate_limit_wait_seconds=5, secondary_rate_wait_seconds=1, timeout_seconds=5)
        return GitHubApi(**(settings | overrides))

    def resources(self, **api) -> dict:
        return {"github": self.api(**api), "registry": PluginRegistry(csv_path=str(self.registry_csv)), "warehouse": self.warehouse}

    def run(self, assets, first: str | None = None, last: str | None = None, raise_on_error: bool = True, **api):
        """`assets` over the days [first, last]: the landing's partitions; for community_daily, exactly
        those days (the pipeline itself computes every ended day a landing marked dirty)."""
        partitioned = any(getattr(a, "partitions_def", None) is not None for a in assets)
        tags = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first} if first and partitioned else {}
        if first is None or community_daily not in assets:
            return dg.materialize(assets, resources=self.resources(**api), instance=self.instance, tags=tags,
                                  raise_on_error=raise_on_error)
        landing = [a for a in assets if a is not community_daily]
        if landing:  # the landing marks days first, as in the pipeline's run
            landed = self.run(landing, first, last, raise_on_error, **api)
            if not landed.success:
                return landed
        window = [date.fromisoformat(first) + timedelta(days=n)
                  for n in range((date.fromisoformat(last or first) - date.fromisoformat(first)).days + 1)]
        with self.warehouse.connect() as con:
            aside = con.execute("SELECT * FROM community_dirty_days WHERE NOT list_contains(?, day)", [window]).fetchall()
            con.execute("DELETE FROM community_dirty_days")
            con.executemany("INSERT INTO community_dirty_days VALUES (?, now()::TIMESTAMP)", [[d] for d in window])
        try:
            return dg.materialize([community_daily], resources=self.resources(**api), instance=self.instance,
                                  raise_on_error=raise_on_error)
        finally:
            with self.warehouse.connect() as con:
                con.executemany("INSERT INTO community_dirty_days VALUES (?, ?)", aside)

    def query(self, sql: str, params=()) -> list[tuple]:
        with duckdb.connect(self.warehouse.path, read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql, params).fetchall()


def metadata(result, node: str = "community_github") -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


@pytest.fixture
def stub():
    stub = GitHubStub(token="stub-token", retry_after=1, reset_in=1).start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def community(tmp_path, stub) -> Community:
    return Community(tmp_path, stub)
