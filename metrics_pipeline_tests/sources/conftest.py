"""Local servers for the production-source tests, started once per session and stopped by PID."""

from __future__ import annotations

import uuid

import boto3
import pytest

from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION
from metrics_pipeline_tests.support.fakesnow import (
    create_source_tables,
    fakesnow_connection,
    shared_fakesnow,
    stop_shared_fakesnow,
)
from metrics_pipeline_tests.support.github_stub import GitHubStub


@pytest.fixture(scope="session")
def fakesnow_server():
    """The process-wide emulator (scenario writers share it), stopped by PID when the session ends."""
    try:
        yield shared_fakesnow()
    finally:
        stop_shared_fakesnow()


@pytest.fixture
def snowflake(fakesnow_server):
    """A connection to a fresh database on the emulator, with both source tables created."""
    connection = fakesnow_connection(fakesnow_server.port, database=f"T{uuid.uuid4().hex[:12].upper()}")
    create_source_tables(connection)
    return connection


@pytest.fixture
def github_stub():
    """The GitHub REST stub in a thread of this process, requiring the token `stub-token`."""
    stub = GitHubStub(token="stub-token", retry_after=1, reset_in=1).start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def github_api(github_stub):
    """Makes client resources pointed at the stub, with tiny bounded waits (overridable)."""

    def make(**overrides) -> GitHubApi:
        settings = dict(
            token="stub-token", base_url=github_stub.base_url, seconds_between_requests=0, backoff_factor=0.05,
            backoff_max_seconds=0.5, max_rate_limit_wait_seconds=5, secondary_rate_wait_seconds=1, timeout_seconds=5,
        )
        return GitHubApi(**(settings | overrides))

    return make


@pytest.fixture
def ssm(dynamodb_endpoint, monkeypatch):
    """A boto3 SSM client on moto_server; boto3 clients built by dagster-aws reach it through the
    standard AWS_ENDPOINT_URL_SSM variable. moto serves every AWS API on one port, so the
    session's DynamoDB server is also the parameter store."""
    for name, value in {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": LOCAL_REGION, "AWS_ENDPOINT_URL_SSM": dynamodb_endpoint}.items():
        monkeypatch.setenv(name, value)
    return boto3.client("ssm", region_name=LOCAL_REGION, endpoint_url=dynamodb_endpoint)
