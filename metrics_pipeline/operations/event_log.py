"""Dagster event-log storages that cost what an event costs, not what a connection costs.

Dagster's SQLite storage creates and disposes a SQLAlchemy engine for every statement and its
Postgres storage opens a new connection for every statement (NullPool): with Dagster writing one
event per partition and check, that is most of a backfill's time. These keep one engine per SQLite
shard (WAL, synchronous=NORMAL) or a small Postgres pool, remember the tables they found (Dagster
asks before every asset and check event), and write a single-run backfill's planned events as one
event per asset (a partition subset) instead of one per partition. Named in
`dagster.yaml` / `deploy/dagster.yaml` as `event_log_storage`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage  # the module dagster.yaml names for it
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.pool import QueuePool

SQLITE_BUSY_TIMEOUT_SECONDS = 30


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (webserver, daemon) never block the run's writes
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the process; one fsync per checkpoint
    cursor.close()


class _TablesFound:
    """Dagster asks whether a table exists before every asset and check event (SQLite: a new engine
    each time; Postgres: a catalog query); a table found stays found, as no running process drops one."""

    def has_table(self, table_name: str) -> bool:
        found = self.__dict__.setdefault("_tables_found", set())
        if table_name not in found:
            if not super().has_table(table_name):
                return False
            found.add(table_name)
        return True


class PooledSqliteEventLogStorage(_TablesFound, SqliteEventLogStorage):
    """One engine per shard (the index, each run's database), kept for the life of the process."""

    def __init__(self, dagster_home: str, inst_data=None):
        """`dagster_home`: the instance's directory; the event logs go where Dagster keeps them there."""
        self._engines = {}
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"dagster_home": dg.Field(dg.StringSource, description="the instance directory ($DAGSTER_HOME)")}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                                       max_overflow=2, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                event.listen(engine, "connect", _sqlite_pragmas)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                self._engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class PooledPostgresEventLogStorage(_TablesFound, PostgresEventLogStorage):
    """A small connection pool instead of a new connection (TCP, TLS, auth) per statement."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        # The engine Dagster builds for its webserver (optimize_for_webserver), without a statement timeout
        # and without a ping per checkout (a round trip per statement: 3.3 -> 2.7 ms an event in the bench);
        # connections are recycled hourly, and a write on one the server dropped fails the run, which retries.
        self._engine.dispose()
        # An event is a few autocommitted statements, each waiting for its WAL flush by default. Without the
        # wait a database crash can lose a run's last log lines, never run status (run storage has its own
        # engine and keeps the server's setting); a step re-run after such a loss is idempotent here.
        options = " ".join(filter(None, [make_url(self.postgres_url).query.get("options"), "-c synchronous_commit=off"]))
        self._engine = create_engine(self.postgres_url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=4,
                                     pool_recycle=3600, connect_args={"options": options})

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True),
                   inst_data=inst_data, token_provider=get_token_provider_from_config(config_value))

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
