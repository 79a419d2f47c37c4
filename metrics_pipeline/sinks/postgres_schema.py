"""Versioned Postgres migrations, applied once each, in order, under an advisory lock."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 7_301_225_901  # arbitrary constant: serializes concurrent migrators


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every `NNNN_name.sql`, sorted by version."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", path.name)
        if match is None:
            raise ValueError(f"migration file name must be NNNN_name.sql: {path.name}")
        found.append((int(match.group(1)), match.group(2), path.read_text()))
    return found


def _all_applied(connection: psycopg.Connection, versions: list[int]) -> bool:
    """Every version recorded already: two catalog reads, no lock and no DDL (the common case)."""
    if not connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]:
        return False
    return connection.execute("SELECT count(*) FROM schema_migrations WHERE version = ANY(%s)",
                              [versions]).fetchone()[0] == len(versions)


def apply_migrations(connection: psycopg.Connection) -> list[int]:
    """Apply the migrations this database has not seen; returns the versions applied now."""
    applied_now = []
    with connection.transaction():
        if _all_applied(connection, [version for version, _, _ in migrations()]):
            return applied_now
        connection.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            connection.execute(sql)
            connection.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [version, name])
            applied_now.append(version)
    return applied_now
