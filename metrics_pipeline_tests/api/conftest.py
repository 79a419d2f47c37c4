"""Session fixtures: the hand-made data in all three backends (warehouse rows, published by the real
sinks) and the API started by its documented command once per backend, on 127.0.0.1."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import psycopg
import pytest
from psycopg import conninfo

from metrics_pipeline.community.postgres_sink import publish_community
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_github_activity, publish_install_activity
from metrics_pipeline.sinks.postgres import GITHUB_ACTIVITY, INSTALL_ACTIVITY, publish
from metrics_pipeline.sinks.status import publish_status
from metrics_pipeline_tests.support.api_backends import (
    BACKENDS, DYNAMODB_EXPORT, LOCK_TEST, TODAY, ApiData, api_env, land_community, lock_test_warehouse, start_api,
    write_warehouse,
)

PUBLIC_URL = "https://metrics.example.org/api"  # api[DYNAMODB_EXPORT] builds its Link headers on it


@pytest.fixture(scope="session")
def api_data(tmp_path_factory, postgres_dsn, dynamodb_endpoint) -> Iterator[ApiData]:
    warehouse = DuckDBWarehouse(path=str(tmp_path_factory.mktemp("api") / "warehouse.duckdb"))
    write_warehouse(warehouse)
    land_community(warehouse.path)
    name = f"api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = conninfo.make_conninfo(**{**conninfo.conninfo_to_dict(postgres_dsn), "dbname": name})
    stack = f"api{uuid.uuid4().hex[:10]}"
    dynamodb, postgres = DynamoDBResource(stack=stack, endpoint_url=dynamodb_endpoint), PostgresResource(dsn=dsn)
    publish_install_activity(warehouse, dynamodb)
    publish_github_activity(warehouse, dynamodb, as_of=TODAY)
    publish(INSTALL_ACTIVITY, warehouse, postgres)
    publish(GITHUB_ACTIVITY, warehouse, postgres)
    publish_status(warehouse, dynamodb=dynamodb, postgres=postgres)
    publish_community(warehouse, postgres)
    yield ApiData(warehouse.path, dsn, stack, dynamodb_endpoint)
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def api(api_data, tmp_path_factory) -> Iterator[dict[str, httpx.Client]]:
    """An HTTP client per backend, each talking to its own running API process."""
    logs = tmp_path_factory.mktemp("api-logs")
    envs = {backend: api_env(api_data, backend) for backend in BACKENDS}
    # A fourth, on its own copy of the warehouse, for the lock test (nothing reads it before that test).
    copy = lock_test_warehouse(api_data)
    shutil.copy(api_data.warehouse_path, copy)
    envs[LOCK_TEST] = api_env(replace(api_data, warehouse_path=copy), "duckdb")
    envs[DYNAMODB_EXPORT] = api_env(api_data, "dynamodb", METRICS_API_EXPORT_BACKEND="postgres",
                                    METRICS_API_PUBLIC_URL=PUBLIC_URL + "/")
    with ThreadPoolExecutor(len(envs)) as pool:  # start the processes at once
        futures = {name: pool.submit(start_api, env, logs / f"{name}.log") for name, env in envs.items()}
    started = {b: f.result() for b, f in futures.items() if f.exception() is None}
    clients = {b: httpx.Client(base_url=url, timeout=30) for b, (_, url) in started.items()}
    try:
        for future in futures.values():
            future.result()  # re-raise a failed start (after the others are recorded for stopping)
        yield clients
    finally:
        for client in clients.values():
            client.close()
        with ThreadPoolExecutor(len(envs)) as pool:
            list(pool.map(lambda server: server[0].stop(), started.values()))
