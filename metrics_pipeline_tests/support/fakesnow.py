"""A local Snowflake emulator (fakesnow's server) and helpers to create and fill the source tables.

fakesnow accepts any credentials and keeps data in memory; write_pandas/PUT do not work over it,
so rows go in with array-bound INSERTs.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import dagster as dg

from metrics_pipeline.demo.local_servers.process import ServerProcess, free_port, start_server
from metrics_pipeline.resources.snowflake import SnowflakeConnection, checked_identifier, naive_utc

DOWNLOAD_COLUMNS = ("file_project", "timestamp", "download_type", "project_type", "ingestion_timestamp")
COMMIT_COLUMNS = (
    "repo", "sha", "author_id", "commit_author_date", "commit_message", "repo_url", "ingestion_time", "repo_type",
)


def start_fakesnow(log_path: Path, port: int | None = None) -> ServerProcess:
    """`python -m fakesnow -s` on 127.0.0.1 in its own process group; stop it with `.stop()`. Its temp
    files (stage buckets) go beside the log, so removing that folder leaves nothing behind."""
    port = port or free_port()
    return start_server(
        [sys.executable, "-m", "fakesnow", "-s", "--host", "127.0.0.1", "-p", str(port)], port, log_path,
        env={"TMPDIR": str(log_path.parent)},
    )


_shared: ServerProcess | None = None


def shared_fakesnow() -> ServerProcess:
    """One emulator per process, started on first use and stopped by PID at exit (or by `stop_shared`)."""
    global _shared
    if _shared is None:
        _shared = start_fakesnow(Path(tempfile.mkdtemp(prefix="metrics-fakesnow-")) / "fakesnow.log")
        atexit.register(stop_shared_fakesnow)
    return _shared


def stop_shared_fakesnow() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        shutil.rmtree(_shared.log_path.parent, ignore_errors=True)
        _shared = None


def fakesnow_connection(port: int, database: str, schema: str = "RAW", password_env: str | None = None) -> SnowflakeConnection:
    """A connection resource for the emulator; the password may come from an env var, as in production."""
    return SnowflakeConnection(
        account="fakesnow",
        user="metrics",
        password=dg.EnvVar(password_env) if password_env else "fakesnow",
        database=database,
        schema_name=schema,
        host="127.0.0.1",
        port=port,
        protocol="http",
        login_timeout_seconds=10,
    )


def create_source_tables(
    connection: SnowflakeConnection, downloads_view: str = "PYPI_DOWNLOADS", commits_table: str = "GITHUB_COMMITS"
) -> None:
    """The two production sources with their production columns (the view as a plain table)."""
    database = checked_identifier(connection.database, "database")
    schema = checked_identifier(connection.schema_name, "schema")
    statements = [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}",
        f"USE SCHEMA {database}.{schema}",
        f"CREATE OR REPLACE TABLE {checked_identifier(downloads_view, 'downloads view')} ("
        "file_project VARCHAR, timestamp TIMESTAMP_NTZ, download_type VARCHAR, project_type VARCHAR, "
        "ingestion_timestamp TIMESTAMP_NTZ)",
        f"CREATE OR REPLACE TABLE {checked_identifier(commits_table, 'commits table')} ("
        "repo VARCHAR, sha VARCHAR, author_id VARCHAR, commit_author_date TIMESTAMP_NTZ, commit_message VARCHAR, "
        "repo_url VARCHAR, ingestion_time TIMESTAMP_NTZ, repo_type VARCHAR)",
    ]
    with connection.connect() as con, con.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def insert_rows(connection: SnowflakeConnection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Append `rows` (tuples in `columns` order) with one array-bound INSERT; returns the count."""
    rows = [tuple(_naive(v) for v in row) for row in rows]
    if not rows:
        return 0
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {checked_identifier(table, 'table')} ({', '.join(columns)}) VALUES ({placeholders})"
    with connection.connect() as con, con.cursor() as cur:
        cur.executemany(sql, rows)
    return len(rows)


def _naive(value):
    return naive_utc(value) if isinstance(value, datetime) else value
