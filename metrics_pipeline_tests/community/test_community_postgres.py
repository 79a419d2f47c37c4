"""The community Postgres sink on a real local server: equal to the warehouse, only differences
written, one transaction (a writer killed before its commit leaves the old state)."""

import json
import subprocess
import sys
import time

import psycopg
import pytest

from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
from metrics_pipeline.community.postgres_sink import TARGETS, publish_community
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline_tests.community.conftest import stage_one, stage_two


def _pg(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        return connection.execute(sql).fetchall()


def _all_pg(dsn: str) -> dict:
    return {t.name: _pg(dsn, f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY 1, 2, 3") for t in TARGETS}


@pytest.fixture
def landed(community, stub):
    stage_one(stub)
    community.run([community_github], "2024-02-01")
    stage_two(stub)
    community.run([community_github], "2024-02-02")
    community.run([community_daily], "2024-01-30", "2024-02-02")
    community.run([community_monthly], "2024-01-01", "2024-02-01")
    community.run([community_total])
    return community


def test_postgres_equals_the_warehouse_and_a_rerun_writes_nothing(landed, postgres_database):
    postgres = PostgresResource(dsn=postgres_database)
    first = publish_community(landed.warehouse, postgres)
    assert {name: counts["written"] for name, counts in first.items()} == {
        "community_issues": 6, "community_pull_requests": 2, "community_events": 14, "community_members": 1,
        "community_transfers": 1, "community_activity": 2 * 4 + 2 * 2 + 2}
    row = _pg(postgres_database, "SELECT response_median_hours, response_p90_hours, new_contributors FROM community_activity "
              "WHERE repo = 'org/alpha' AND granularity = 'MONTH' AND period_start = '2024-01-01'")
    assert row == [(pytest.approx(12.75), pytest.approx(21.75), 2)]
    assert _pg(postgres_database, "SELECT count(*) FROM community_activity WHERE granularity = 'TOTAL' AND period_start IS NULL") == [(2,)]
    issue = landed.query("SELECT issue_id, CAST(raw AS VARCHAR) FROM community_issues WHERE number = 10")[0]
    assert _pg(postgres_database, f"SELECT raw FROM community_issues WHERE issue_id = {issue[0]}") == [(json.loads(issue[1]),)]
    assert _pg(postgres_database, "SELECT from_repo_key, to_repo_key, transferred_at::text FROM community_transfers") == [
        ("org/alpha", "org/beta", "2024-02-02 12:00:00+00")]
    # Awaiting now: alpha#4 (no comment), beta#1 (erin had the last word), beta#10 (only dave answered).
    assert _pg(postgres_database, "SELECT repo_key, number, last_response_at::text FROM community_awaiting_items ORDER BY 1, 2") == [
        ("org/alpha", 4, None), ("org/beta", 1, "2024-01-16 09:00:00+00"), ("org/beta", 10, "2024-02-01 02:00:00+00")]
    again = publish_community(landed.warehouse, postgres)
    assert {(c["written"], c["deleted"]) for c in again.values()} == {(0, 0)}


def test_a_new_comment_rewrites_only_what_it_changed(landed, stub, postgres_database):
    postgres = PostgresResource(dsn=postgres_database)
    publish_community(landed.warehouse, postgres)
    stub.comment("org/alpha", 4, "maint", "2024-02-02T15:00:00Z")  # alpha#4 (opened 02-01 15:00) answered after 24 h
    landed.run([community_github], "2024-02-02")
    landed.run([community_daily], "2024-02-01", "2024-02-02")
    landed.run([community_monthly], "2024-02-01")
    landed.run([community_total])
    second = publish_community(landed.warehouse, postgres)
    # the issue (updated_at), its new event; DAY 02-01 (response), DAY 02-02 (awaiting), MONTH Feb, TOTAL
    assert {name: (c["written"], c["deleted"]) for name, c in second.items()} == {
        "community_issues": (1, 0), "community_pull_requests": (0, 0), "community_events": (1, 0), "community_members": (0, 0),
        "community_transfers": (0, 0), "community_activity": (4, 0)}
    assert _pg(postgres_database, "SELECT response_median_hours, unanswered, awaiting_response FROM community_activity "
               "WHERE repo = 'org/alpha' AND granularity = 'DAY' AND period_start = '2024-02-01'") == [(24.0, 1, 1)]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from metrics_pipeline.community.postgres_sink import publish_community
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
warehouse, dsn, marker = sys.argv[1:4]
def pause():
    Path(marker).touch()
    time.sleep(3600)
publish_community(DuckDBWarehouse(path=warehouse), PostgresResource(dsn=dsn), pause)
"""


def test_a_writer_killed_before_its_commit_leaves_nothing_and_a_rerun_the_exact_state(landed, postgres_database, tmp_path):
    marker = tmp_path / "paused"
    process = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, landed.warehouse.path, postgres_database, str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the writer never reached its commit"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    assert {name: len(rows) for name, rows in _all_pg(postgres_database).items()} == {t.name: 0 for t in TARGETS}
    publish_community(landed.warehouse, PostgresResource(dsn=postgres_database))
    expected = {t.name: landed.query(f"SELECT count(*) FROM ({t.source_sql})")[0][0] for t in TARGETS}
    assert {name: len(rows) for name, rows in _all_pg(postgres_database).items()} == expected
