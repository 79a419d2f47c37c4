"""The local sink servers start when no endpoint is configured and stop, by PID, afterwards."""

import os

import boto3
import psycopg
import pytest

from metrics_pipeline.demo.local_servers import postgres as local_postgres
from metrics_pipeline.demo.local_servers import local_sink_servers


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_servers_start_only_where_unset_and_stop(monkeypatch):
    env = {"METRICS_POSTGRES_DSN": "postgresql://configured.invalid/x"}
    started_pids = []
    real_start = local_postgres.start_postgres
    monkeypatch.setattr(local_postgres, "start_postgres", lambda: pytest.fail("Postgres was configured"))
    with local_sink_servers(env) as filled:
        assert filled == ["METRICS_DYNAMODB_ENDPOINT_URL"]
        client = boto3.client("dynamodb", endpoint_url=env["METRICS_DYNAMODB_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        assert client.list_tables()["TableNames"] == []
    monkeypatch.setattr(local_postgres, "start_postgres", real_start)

    env = {}
    with local_sink_servers(env) as filled:
        assert sorted(filled) == ["METRICS_DYNAMODB_ENDPOINT_URL", "METRICS_POSTGRES_DSN"]
        with psycopg.connect(env["METRICS_POSTGRES_DSN"]) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
            started_pids.append(connection.execute("SELECT pg_backend_pid()").fetchone()[0])
            (postmaster,) = connection.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()
        started_pids.append(postmaster)
    assert not any(alive(pid) for pid in started_pids)


def test_missing_initdb_says_how_to_install(monkeypatch):
    monkeypatch.setattr(local_postgres, "PG_BIN_DIRS", ())
    monkeypatch.setattr(local_postgres.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install -y postgresql"):
        local_postgres.start_postgres()
