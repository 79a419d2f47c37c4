"""The event-log storages' table lookups, on a real SQLite file and the Postgres cluster: Dagster asks
whether a table exists before every asset and check event; a found table is not asked for again, a
missing one is (a migration may add it while the process runs)."""

import sqlite3

import psycopg
from psycopg import conninfo

from metrics_pipeline.operations.event_log import PooledPostgresEventLogStorage, PooledSqliteEventLogStorage


def _lookups(storage, create, drop) -> list[bool]:
    found = [storage.has_table("added_later")]
    create()
    found.append(storage.has_table("added_later"))
    drop()
    found.append(storage.has_table("added_later"))
    return found


def test_sqlite_storage_remembers_tables_it_found(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        assert storage.has_table("asset_check_executions")
        index = str(tmp_path / "history" / "runs" / "index.db")

        def run(sql: str):
            with sqlite3.connect(index) as con:
                con.execute(sql)

        assert _lookups(storage, lambda: run("CREATE TABLE added_later (id INTEGER)"),
                        lambda: run("DROP TABLE added_later")) == [False, True, True]
    finally:
        storage.dispose()


def test_postgres_storage_remembers_tables_it_found(postgres_database):
    params = conninfo.conninfo_to_dict(postgres_database)
    url = f"postgresql://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
    storage = PooledPostgresEventLogStorage(url)
    try:
        assert storage.has_table("asset_check_executions")
        with psycopg.connect(postgres_database, autocommit=True) as con:
            assert _lookups(storage, lambda: con.execute("CREATE TABLE added_later (id int)"),
                            lambda: con.execute("DROP TABLE added_later")) == [False, True, True]
    finally:
        storage.dispose()
