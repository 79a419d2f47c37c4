"""The DuckDB warehouse: where raw partitions land and every rollup is computed."""

from __future__ import annotations

import hashlib
import random
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from metrics_pipeline.resources.run_scoped import HeldForTheRun

# Each domain owns its tables in `metrics_pipeline/<domain>/schema.sql` (idempotent DDL).
SCHEMA_SQL = "\n".join(path.read_text() for path in sorted(Path(__file__).parents[1].glob("*/schema.sql")))
SCHEMA_DIGEST = hashlib.sha256(SCHEMA_SQL.encode()).hexdigest()[:16]
WAREHOUSE_POOL = "warehouse"  # concurrency pool: one run at a time holds the DuckDB file
SCRATCH_MEMORY_LIMIT = "256MB"
WAREHOUSE_MEMORY_LIMIT = "384MB"  # with the scratch's, what keeps 5,000 plugins × 400 days under 1 GB
MEMORY_LIMIT_SETTING = "METRICS_WAREHOUSE_MEMORY_LIMIT"


@contextmanager
def scratch(memory_limit: str = SCRATCH_MEMORY_LIMIT) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB for reading source files or running a plugin's SQL, its memory bounded: past
    the limit it spills to a temporary folder removed with it (DuckDB's default is 80% of the RAM)."""
    with tempfile.TemporaryDirectory(prefix="metrics-scratch-") as spill:
        con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": spill})
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


class WarehouseBusyError(RuntimeError):
    """Another process held the DuckDB file for longer than the configured wait."""


def _is_lock_error(error: duckdb.Error) -> bool:
    text = str(error)
    return "Could not set lock" in text or "Conflicting lock" in text


class DuckDBWarehouse(HeldForTheRun):
    """A DuckDB file; connections wait (bounded) for another process's lock instead of failing.

    Within a run the file is opened once, at its first write connection, and each `connect()` is a
    cursor on it (opening and checkpointing the file per step cost ~25 ms each); it closes with the run.
    """

    path: str
    lock_wait_seconds: float = 120.0
    memory_limit: str = Field(
        default=WAREHOUSE_MEMORY_LIMIT, description=f"DuckDB's memory ceiling (setting {MEMORY_LIMIT_SETTING}); "
        "past it, joins, sorts and aggregates spill to `<path>.tmp` beside the file (DuckDB's own default: 80% of RAM)")

    @contextmanager
    def connect(self, read_only: bool = False, lock_wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        wait = self.lock_wait_seconds if lock_wait_seconds is None else lock_wait_seconds
        if self._held is None and self._in_run and not read_only:
            self._held = self._open(False, wait)
            self._held.execute("SET TimeZone = 'UTC'")
            _ensure_schema(self._held)
        con = self._held.cursor() if self._held is not None else self._open(read_only, wait)
        try:
            con.execute("SET TimeZone = 'UTC'")
            if not read_only and self._held is None:
                _ensure_schema(con)
            yield con
        finally:
            con.close()

    def _open(self, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_seconds
        delay = 0.05
        while True:
            try:
                return duckdb.connect(self.path, read_only=read_only, config={"memory_limit": self.memory_limit})
            except duckdb.ParserException as error:
                if "Memory" not in str(error):
                    raise
                raise ValueError(f"{MEMORY_LIMIT_SETTING}={self.memory_limit!r} is not a memory size such as 512MB or "
                                 "2GB") from None
            except duckdb.IOException as error:
                if not _is_lock_error(error) or time.monotonic() >= deadline:
                    if _is_lock_error(error):
                        raise WarehouseBusyError(
                            f"warehouse {self.path} stayed locked by another process for "
                            f"{wait_seconds:.0f}s (setting METRICS_WAREHOUSE_PATH)"
                        ) from error
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the domains' DDL once per schema version, not on every connection (it costs ~10 ms)."""
    try:
        if con.execute("SELECT digest FROM warehouse_schema").fetchall() == [(SCHEMA_DIGEST,)]:
            return
    except duckdb.CatalogException:
        pass  # a new file: no schema yet
    with transaction(con):
        con.execute(SCHEMA_SQL)
        con.execute("CREATE OR REPLACE TABLE warehouse_schema AS SELECT ? AS digest", [SCHEMA_DIGEST])


_NAMED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def bind(sql: str, params: dict) -> dict:
    """The named parameters `sql` uses (DuckDB refuses unused ones), so shared values can be offered."""
    used = set(_NAMED.findall(sql))
    return {name: value for name, value in params.items() if name in used}


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: readers and crashes never see half a partition."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def replace_window(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    start: date | datetime,
    end: date | datetime,
    select_sql: str,
    params: Sequence | dict = (),
    keep: Sequence[date] = (),
) -> int:
    """Delete `table`'s rows with `column` in [start, end), except on the `keep` days, and insert
    `select_sql`'s rows (which must leave those days out).

    Call inside `transaction(con)`; returns the number of rows now in the window.
    """
    con.execute(
        f"DELETE FROM {table} WHERE {column} >= ? AND {column} < ? AND NOT list_contains(?, {column})",
        [start, end, sorted(keep)],
    )
    con.execute(f"INSERT INTO {table} {select_sql}", params)
    return con.execute(
        f"SELECT count(*) FROM {table} WHERE {column} >= ? AND {column} < ?", [start, end]
    ).fetchall()[0][0]


def replace_table(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, params: Sequence | dict = ()) -> int:
    """Replace all rows of an unpartitioned table atomically; returns the new row count."""
    with transaction(con):
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} {select_sql}", params)
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
