"""The read API tests' data: hand-made rollups (numbers chosen so each hub rule shows), and how to
start the API by its documented command against them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from metrics_pipeline.demo.local_servers.process import free_port, start_server
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

TODAY = date(2024, 3, 10)  # the 31-day window 2024-02-09..2024-03-10 holds the leap day and a month end
BACKENDS = ("duckdb", "postgres", "dynamodb")
LOCK_TEST = "duckdb-lock-test"  # api[LOCK_TEST]: a DuckDB-backed API on a private copy of the warehouse
DYNAMODB_EXPORT = "dynamodb-export-postgres"  # api[DYNAMODB_EXPORT]: DynamoDB metrics, Postgres export/community

DAILY = {  # (plugin, day): installs
    ("napari-foo", date(2024, 2, 8)): 100000,  # the day before the window
    ("napari-foo", date(2024, 2, 9)): 1,  # first day of the window
    ("napari-foo", date(2024, 2, 29)): 20,
    ("napari-foo", date(2024, 3, 1)): 300,
    ("napari-foo", date(2024, 3, 10)): 4000,  # today: last day of the window
    ("napari-foo", date(2024, 3, 11)): 50000,  # after today
    ("napari-bar-baz", date(2024, 2, 10)): 3,
    ("napari-bar-baz", date(2024, 3, 9)): 2,
}
MONTHLY = {
    ("napari-foo", date(2022, 2, 1)): 7, ("napari-foo", date(2022, 3, 1)): 5, ("napari-foo", date(2023, 2, 1)): 13,
    ("napari-foo", date(2023, 3, 1)): 11, ("napari-foo", date(2023, 12, 1)): 17, ("napari-foo", date(2024, 1, 1)): 19,
    ("napari-foo", date(2024, 2, 1)): 100021, ("napari-foo", date(2024, 3, 1)): 54300,
    ("napari-bar-baz", date(2024, 2, 1)): 3, ("napari-bar-baz", date(2024, 3, 1)): 2,
}
TOTAL = {"napari-foo": 154393, "napari-bar-baz": 5}
MONTHLY_COMMITS = {  # (plugin, repo, month): (commits, newest commit in the month)
    ("napari-foo", "Org/Napari-Foo", date(2022, 11, 1)): (2, datetime(2022, 11, 3, 1)),  # before DynamoDB's 15 months
    ("napari-foo", "Org/Napari-Foo", date(2023, 1, 1)): (3, datetime(2023, 1, 31, 23)),
    ("napari-foo", "Org/Napari-Foo", date(2023, 12, 1)): (4, datetime(2023, 12, 31, 23, 59)),
    ("napari-foo", "Org/Napari-Foo", date(2024, 2, 1)): (6, datetime(2024, 2, 29, 8)),
    ("napari-foo", "Org/Napari-Foo", date(2024, 3, 1)): (8, datetime(2024, 3, 5, 12, 34, 56, 789123)),
    ("napari-commits-only", "org/shared-repo", date(2024, 1, 1)): (9, datetime(2024, 1, 2)),
    ("napari-commits-only", "org/shared-repo", date(2024, 2, 1)): (1, datetime(2024, 2, 29, 23, 59, 59, 999999)),
}
TOTAL_COMMITS = {("napari-foo", "Org/Napari-Foo"): 23, ("napari-commits-only", "org/shared-repo"): 10}
LATEST_COMMITS = {
    ("napari-foo", "Org/Napari-Foo"): datetime(2024, 3, 5, 12, 34, 56, 789123),
    ("napari-commits-only", "org/shared-repo"): datetime(2024, 2, 29, 23, 59, 59, 999999),
}
FINGERPRINT_DAYS = {"installs": [date(2024, 3, 8), date(2024, 3, 9)], "commits": [date(2024, 3, 6), date(2024, 3, 7)]}


def write_warehouse(warehouse: DuckDBWarehouse) -> None:
    with warehouse.connect() as con:
        con.executemany("INSERT INTO daily_installs VALUES (?, ?, ?)", [[d, p, n] for (p, d), n in DAILY.items()])
        con.executemany("INSERT INTO monthly_installs VALUES (?, ?, ?)", [[m, p, n] for (p, m), n in MONTHLY.items()])
        con.executemany("INSERT INTO total_installs VALUES (?, ?)", [[p, n] for p, n in TOTAL.items()])
        con.executemany("INSERT INTO monthly_commits VALUES (?, ?, ?, ?, ?)",
                        [[m, p, r, n, at] for (p, r, m), (n, at) in MONTHLY_COMMITS.items()])
        con.executemany("INSERT INTO total_commits VALUES (?, ?, ?)", [[p, r, n] for (p, r), n in TOTAL_COMMITS.items()])
        con.executemany("INSERT INTO latest_commits VALUES (?, ?, ?)", [[p, r, at] for (p, r), at in LATEST_COMMITS.items()])
        con.executemany("INSERT INTO source_fingerprints VALUES (?, ?, 1, NULL, now()::TIMESTAMP)",
                        [[s, d] for s, days in FINGERPRINT_DAYS.items() for d in days])
        ensure_month_views(con)


def ensure_month_views(con) -> None:
    """The lead is adding these views (history before the first partition); stand in until they land."""
    views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    for view, table in (("installs_by_month", "monthly_installs"), ("commits_by_month", "monthly_commits")):
        if view not in views:
            con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table}")


def land_community(warehouse_path: str) -> None:
    """The community scenario (org/alpha = plugin p-alpha, org/beta = p-beta; figures in
    test_community_metrics) landed by the real assets from the GitHub stub into this warehouse."""
    from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
    from metrics_pipeline_tests.community.conftest import Community, stage_one, stage_two
    from metrics_pipeline_tests.support.github_stub import GitHubStub

    path = Path(warehouse_path)
    stub = GitHubStub(token="stub-token", retry_after=1, reset_in=1).start()
    try:
        community = Community(path.parent, stub, name=path.stem)
        stage_one(stub)
        community.run([community_github], "2024-02-01")
        stage_two(stub)
        community.run([community_github], "2024-02-02")
        community.run([community_daily], "2024-01-15", "2024-02-02")
        community.run([community_monthly], "2024-01-01", "2024-02-01")
        community.run([community_total])
    finally:
        stub.stop()


@dataclass
class ApiData:
    warehouse_path: str
    postgres_dsn: str
    dynamodb_stack: str
    dynamodb_endpoint: str


def start_api(env: dict[str, str], log_path: Path):
    """The documented command, on a free port; returns (process, base URL)."""
    port = free_port()
    command = [sys.executable, "-m", "metrics_pipeline.api", "--host", "127.0.0.1", "--port", str(port)]
    return start_server(command, port, log_path, env=env, timeout=60), f"http://127.0.0.1:{port}"


def lock_test_warehouse(data: ApiData) -> str:
    return str(Path(data.warehouse_path).with_name("lock-test-warehouse.duckdb"))


def api_env(data: ApiData, backend: str, **extra: str) -> dict[str, str]:
    return {
        "METRICS_API_BACKEND": backend, "METRICS_API_TODAY": TODAY.isoformat(),
        "METRICS_WAREHOUSE_PATH": data.warehouse_path, "METRICS_POSTGRES_DSN": data.postgres_dsn,
        "METRICS_DYNAMODB_STACK": data.dynamodb_stack, "METRICS_DYNAMODB_ENDPOINT_URL": data.dynamodb_endpoint,
        "METRICS_API_WAREHOUSE_LOCK_WAIT_SECONDS": "0.5", **extra,
    }
