"""Shared fixtures: a scenario per test on every source kind, and the real sink servers."""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo

from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION, start_dynamodb
from metrics_pipeline.demo.local_servers.postgres import start_postgres
from metrics_pipeline_tests.scenario import Scenario

SOURCE_KINDS = [("files", "files"), ("snowflake", "snowflake"), ("files", "github")]


@pytest.fixture(params=SOURCE_KINDS, ids=lambda kinds: "installs-{}+commits-{}".format(*kinds))
def scenario(request, tmp_path) -> Scenario:
    """The same hand-made rows through each source implementation: the counting rules must hold on all."""
    installs_kind, commits_kind = request.param
    return Scenario(tmp_path, installs_kind=installs_kind, commits_kind=commits_kind)


@pytest.fixture(autouse=True)
def _empty_machine_cache(tmp_path_factory, monkeypatch):
    """Pipeline state lives beside the warehouse, never in a per-machine cache: every test starts with
    an empty XDG_CACHE_HOME, as a fresh container does."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _forget_closed_dagster_instances():
    """Dagster 1.13 leaves an exited instance's defs-state storage set for the thread; a later
    test loading definitions would reach the dead instance through it."""
    yield
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)


# Real sink servers for the session: a throwaway Postgres cluster and moto_server, stopped by PID.


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory) -> Iterator[str]:
    """DSN of the session's throwaway cluster (trust auth on 127.0.0.1)."""
    server = start_postgres()
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint(tmp_path_factory) -> Iterator[str]:
    """Endpoint URL of the session's moto_server; local-only credentials are set if none exist."""
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": LOCAL_REGION}.items():
        os.environ.setdefault(name, value)
    server, endpoint = start_dynamodb(str(tmp_path_factory.mktemp("moto")))
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_dsn) -> Iterator[str]:
    """A fresh, empty database on the session cluster for one test; returns its DSN."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = conninfo.conninfo_to_dict(postgres_dsn)
    yield conninfo.make_conninfo(**{**params, "dbname": name})
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def dynamodb_stack() -> str:
    """A stack name no other test uses, so each test gets its own tables on the shared server."""
    return f"t{uuid.uuid4().hex[:10]}"
