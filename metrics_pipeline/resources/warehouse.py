"""The DuckDB warehouse: where raw partitions land and every rollup is computed."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

SCHEMA_SQL = (Path(__file__).with_name("warehouse_schema.sql")).read_text()
WAREHOUSE_POOL = "warehouse"  # concurrency pool: one run at a time holds the DuckDB file


class WarehouseBusyError(RuntimeError):
    """Another process held the DuckDB file for longer than the configured wait."""


def _is_lock_error(error: duckdb.Error) -> bool:
    text = str(error)
    return "Could not set lock" in text or "Conflicting lock" in text


class DuckDBWarehouse(dg.ConfigurableResource):
    """A DuckDB file; connections wait (bounded) for another process's lock instead of failing."""

    path: str
    lock_wait_seconds: float = 120.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open(read_only)
        try:
            con.execute("SET TimeZone = 'UTC'")
            if not read_only:
                con.execute(SCHEMA_SQL)
            yield con
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.05
        while True:
            try:
                return duckdb.connect(self.path, read_only=read_only)
            except duckdb.IOException as error:
                if not _is_lock_error(error) or time.monotonic() >= deadline:
                    if _is_lock_error(error):
                        raise WarehouseBusyError(
                            f"warehouse {self.path} stayed locked by another process for "
                            f"{self.lock_wait_seconds:.0f}s (setting METRICS_WAREHOUSE_PATH)"
                        ) from error
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)


def replace_window(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    start: date | datetime,
    end: date | datetime,
    insert_sql: str,
    params: Sequence = (),
    incoming: pa.Table | None = None,
) -> int:
    """Delete `table`'s rows with `column` in [start, end) and insert the new ones, atomically.

    `insert_sql` is a SELECT (it may read an Arrow table registered as `incoming`).
    Returns the number of rows inserted.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        if incoming is not None:
            con.register("incoming", incoming)
        con.execute(f"DELETE FROM {table} WHERE {column} >= ? AND {column} < ?", [start, end])
        con.execute(f"INSERT INTO {table} {insert_sql}", list(params))
        inserted = con.execute(
            f"SELECT count(*) FROM {table} WHERE {column} >= ? AND {column} < ?", [start, end]
        ).fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        if incoming is not None:
            con.unregister("incoming")
    return inserted


def replace_table(con: duckdb.DuckDBPyConnection, table: str, insert_sql: str, params: Sequence = ()) -> int:
    """Replace all of an unpartitioned table's rows atomically; returns the new row count."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} {insert_sql}", list(params))
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows
