"""The warehouse lock (a run holding the file), a missing status record, and settings errors."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from datetime import date

import duckdb
import httpx
import psycopg
import pytest

from metrics_pipeline.api.backends.base import BackendUnavailable
from metrics_pipeline.api.community import community_query
from metrics_pipeline.api.backends.dynamodb import DynamoDBBackend
from metrics_pipeline.api.backends.postgres import PostgresBackend
from metrics_pipeline.api.backends.warehouse import WarehouseBackend
from metrics_pipeline.api.export import DATASETS, ExportRequest
from metrics_pipeline.api.settings import ApiSettingsError, settings_from_env
from metrics_pipeline.api.timeline import plugin_query
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb_tables import ensure_tables
from metrics_pipeline.sinks.status import last_complete_days, publish_status_dynamodb, publish_status_postgres
from metrics_pipeline_tests.support.api_backends import LOCK_TEST, lock_test_warehouse, write_warehouse


def test_a_run_holding_the_warehouse_is_never_blocked_by_the_api(api, api_data):
    """Runs against the session's fourth API, whose warehouse copy nothing has read yet."""
    path = lock_test_warehouse(api_data)
    writer = duckdb.connect(path)  # what a pipeline run holds
    try:
        client = api[LOCK_TEST]
        # No snapshot yet: the API waits METRICS_API_WAREHOUSE_LOCK_WAIT_SECONDS (0.5) and answers 503.
        started = time.monotonic()
        response = client.get("/metrics/napari-foo")
        assert 0.5 <= time.monotonic() - started < 5
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.json()["detail"] == (
            "the warehouse is held by another process (a pipeline run) beyond the read API's 0.5s wait "
            "(METRICS_API_WAREHOUSE_LOCK_WAIT_SECONDS) and no earlier snapshot exists: retry shortly")
        writer.close()
        assert total_installs(client) == (154393, "2")  # snapshot taken: one copy + one query
        assert total_installs(client) == (154393, "1")
        duckdb.connect(path).close()  # the API does not hold the file between requests

        writer = duckdb.connect(path)  # a run commits a change while holding the file
        writer.execute("UPDATE total_installs SET install_count = 1 WHERE plugin_name = 'napari-foo'")
        started = time.monotonic()
        assert total_installs(client) == (154393, "1")  # the last snapshot, without waiting for the run
        assert time.monotonic() - started < 0.4
        writer.close()
        deadline = time.monotonic() + 10
        while total_installs(client)[0] != 1:  # the next refresh attempt (within RETRY_SECONDS) sees it
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        writer.close()


def total_installs(client: httpx.Client) -> tuple[int, str]:
    response = client.get("/metrics/napari-foo?limit=0")
    assert response.status_code == 200, response.text
    return response.json()["usage"]["stats"]["total_installs"], response.headers["X-Backend-Calls"]


def test_missing_status_record_reads_as_unknown_and_stale(dynamodb_endpoint):
    stack = f"st{uuid.uuid4().hex[:10]}"
    ensure_tables(DynamoDBResource(stack=stack, endpoint_url=dynamodb_endpoint))
    backend = DynamoDBBackend(stack, dynamodb_endpoint, None)
    try:
        facts = backend.read_plugin(plugin_query("napari-foo", 3, date(2024, 3, 10)))
    finally:
        backend.close()
    assert facts.last_complete_day == {} and facts.total_installs == 0 and facts.backend_calls == 2


def test_postgres_without_the_sink_tables_is_unavailable_not_an_error(postgres_database):
    backend = PostgresBackend(postgres_database)
    try:
        with pytest.raises(BackendUnavailable, match="has no install_activity/github_activity tables yet"):
            backend.read_plugin(plugin_query("napari-foo", 3, date(2024, 3, 10)))
        with pytest.raises(BackendUnavailable, match="has no community_activity table yet: run the Postgres sinks first"):
            backend.read_community(community_query("napari-foo", 3, date(2024, 3, 10)))
    finally:
        backend.close()


def test_status_publishers_are_idempotent(dynamodb_endpoint, postgres_database):
    days = {"installs": date(2024, 2, 29), "commits": None}
    postgres = PostgresResource(dsn=postgres_database)
    assert publish_status_postgres(postgres, days) == 2
    assert publish_status_postgres(postgres, days) == 0  # unchanged: nothing rewritten
    with psycopg.connect(postgres_database) as connection:
        assert connection.execute("SELECT source, last_complete_day FROM pipeline_status ORDER BY source").fetchall() == [
            ("commits", None), ("installs", date(2024, 2, 29))]
    stack = f"st{uuid.uuid4().hex[:10]}"
    dynamodb = DynamoDBResource(stack=stack, endpoint_url=dynamodb_endpoint)
    calls: list[list[str]] = [[], []]
    events, hook = dynamodb.client().meta.events, "before-call.dynamodb"
    for n in (0, 1):
        record = lambda model, **_: calls[n].append(model.name)  # noqa: E731 - observes the requests sent
        events.register(hook, record)
        try:
            publish_status_dynamodb(dynamodb, days)
        finally:
            events.unregister(hook, record)
    assert "CreateTable" in calls[0]
    # once it exists the table is only described: a role without CreateTable can still publish
    assert calls[1] == ["DescribeTable", "PutItem", "PutItem"]
    items = dynamodb.client().scan(TableName=f"{stack}-pipeline-status")["Items"]  # test read-back only
    assert sorted((i["source"]["S"], i.get("last_complete_day", {}).get("S")) for i in items) == [
        ("commits", None), ("installs", "2024-02-29")]


def test_last_complete_days_from_fingerprints():
    con = duckdb.connect()
    con.execute("CREATE TABLE source_fingerprints (source VARCHAR, day DATE, source_rows BIGINT, max_ingested TIMESTAMP, recorded_at TIMESTAMP)")
    assert last_complete_days(con) == {"installs": None, "commits": None}
    con.execute("INSERT INTO source_fingerprints VALUES ('installs', DATE '2024-12-31', 0, NULL, now()), "
                "('installs', DATE '2025-01-01', 3, NULL, now()), ('commits', DATE '2024-02-29', 1, NULL, now())")
    assert last_complete_days(con) == {"installs": date(2025, 1, 1), "commits": date(2024, 2, 29)}


@pytest.mark.parametrize(("env", "message"), [
    ({}, "METRICS_API_BACKEND is not set: choose one of dynamodb, postgres, duckdb"),
    ({"METRICS_API_BACKEND": "mysql"}, "METRICS_API_BACKEND='mysql' is not one of dynamodb, postgres, duckdb"),
    ({"METRICS_API_BACKEND": "postgres"}, "METRICS_POSTGRES_DSN is not set (needed by the postgres backend of the read API)"),
    ({"METRICS_API_BACKEND": "dynamodb", "METRICS_DYNAMODB_STACK": "s", "METRICS_API_EXPORT_BACKEND": "dynamodb"},
     "METRICS_API_EXPORT_BACKEND='dynamodb' is not one of postgres, duckdb"),
    ({"METRICS_API_BACKEND": "dynamodb", "METRICS_DYNAMODB_STACK": "s", "METRICS_API_EXPORT_BACKEND": "postgres"},
     "METRICS_POSTGRES_DSN is not set (needed by the postgres backend of the read API)"),
    ({"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": "w", "METRICS_API_TODAY": "10/03/2024"},
     "METRICS_API_TODAY='10/03/2024' is not a YYYY-MM-DD date"),
    ({"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": "w", "METRICS_API_STALE_AFTER_DAYS": "-1"},
     "METRICS_API_STALE_AFTER_DAYS='-1' must be a finite number, not negative"),
    ({"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": "w", "METRICS_API_STATUS_REFRESH_SECONDS": "nan"},
     "METRICS_API_STATUS_REFRESH_SECONDS='nan' must be a finite number, not negative"),
    ({"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": "w", "METRICS_API_STATUS_REFRESH_SECONDS": "0"},
     "METRICS_API_STATUS_REFRESH_SECONDS must be above 0"),
    ({"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": "w", "METRICS_API_CACHE_ENTRIES": "many"},
     "METRICS_API_CACHE_ENTRIES='many' is not a whole number"),
    ({"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": "w", "METRICS_API_PUBLIC_URL": "metrics.example.org"},
     "METRICS_API_PUBLIC_URL='metrics.example.org' is not an http(s) base URL without query "
     "(e.g. https://metrics.example.org/api)"),
])
def test_settings_errors_name_the_variable(env, message):
    with pytest.raises(ApiSettingsError) as error:
        settings_from_env(env)
    assert str(error.value) == message


def test_export_backend_defaults_and_overrides():
    assert settings_from_env({"METRICS_API_BACKEND": "dynamodb", "METRICS_DYNAMODB_STACK": "s"}).export_backend is None
    assert settings_from_env({"METRICS_API_BACKEND": "DuckDB", "METRICS_WAREHOUSE_PATH": "w"}).export_backend == "duckdb"
    mixed = settings_from_env({"METRICS_API_BACKEND": "dynamodb", "METRICS_DYNAMODB_STACK": "s",
                               "METRICS_API_EXPORT_BACKEND": "postgres", "METRICS_POSTGRES_DSN": "dbname=x"})
    assert (mixed.backend, mixed.export_backend, mixed.stale_after_days, mixed.today) == ("dynamodb", "postgres", 1, None)


def test_command_refuses_bad_settings_naming_them():
    result = subprocess.run([sys.executable, "-m", "metrics_pipeline.api"], env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "metrics_pipeline.api: METRICS_API_BACKEND is not set: choose one of dynamodb, postgres, duckdb"


def test_dynamodb_reads_are_two_concurrent_queries_then_none(api_data):
    backend = DynamoDBBackend(api_data.dynamodb_stack, api_data.dynamodb_endpoint, None)
    calls, lock = [], threading.Lock()

    def before(model, **_):
        with lock:
            calls.append([model.name, time.monotonic(), None])

    def after(model, **_):
        with lock:
            started = next((c for c in reversed(calls) if c[0] == model.name and c[2] is None), None)
            if started is not None:  # None: the status thread's read began before the hooks
                started[2] = time.monotonic()

    backend._client.meta.events.register("before-call.dynamodb", before)
    backend._client.meta.events.register("after-call.dynamodb", after)
    try:
        pages = [backend.read_plugin(plugin_query("napari-foo", limit, date(2024, 3, 10))) for limit in (12, 0, 24)]
    finally:
        backend._client.meta.events.unregister("before-call.dynamodb", before)  # the client is shared per process
        backend._client.meta.events.unregister("after-call.dynamodb", after)
        backend.close()
    assert [p.total_installs for p in pages] == [154393] * 3 and [p.backend_calls for p in pages] == [2, 0, 0]
    assert min(pages[2].monthly_installs) == date(2022, 3, 1) and pages[1].monthly_installs == {}  # 2022-02: outside
    # The status items are read by the backend's own thread (BatchGetItem), never per page; never a Scan.
    queries = [c for c in calls if c[0] == "Query"]
    assert {name for name, _, _ in calls} <= {"Query", "BatchGetItem"} and len(queries) == 2
    assert max_in_flight(queries) == 2  # the two Queries of the first page are in flight together


def max_in_flight(calls: list) -> int:
    events = sorted([(start, 1) for _, start, _ in calls] + [(end, -1) for _, _, end in calls])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_a_warehouse_without_the_community_tables_serves_them_empty(tmp_path):
    """A warehouse no run has opened since the community domain came: the hub endpoint still answers."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "old.duckdb"))
    write_warehouse(warehouse)
    with duckdb.connect(warehouse.path) as con:
        for table in ("community_monthly", "community_total", "community_daily"):
            con.execute(f"DROP TABLE {table}")
    backend = WarehouseBackend(warehouse.path, 0.5)
    try:
        assert backend.read_community(community_query("p-alpha", 3, date(2024, 3, 10))).rows == []
        assert backend.export_page(ExportRequest(DATASETS["community_daily"]), 0, 10).total_rows == 0
        assert backend.read_plugin(plugin_query("napari-foo", 0, date(2024, 3, 10))).total_installs == 154393
    finally:
        backend.close()
