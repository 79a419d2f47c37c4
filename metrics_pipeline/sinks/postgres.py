"""Postgres sink: install_activity and github_activity, equal to the rollups, full monthly history.

One transaction per table: COPY the desired rows of the scope (the periods the rollups changed,
sinks/scope.py), streamed from the warehouse in batches, into a temp table, upsert only rows whose
values differ, delete the scope's rows no longer desired; no statement reads the table's history.
Readers see the old table or the new one.
"""

import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from metrics_pipeline import changes
from metrics_pipeline.changes import WHOLE
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, bind
from metrics_pipeline.sinks.postgres_schema import apply_migrations
from metrics_pipeline.sinks.quarantine import forget_refusals, quarantine_metadata, refuse_long_keys
from metrics_pipeline.sinks.scope import SinkFeed, SinkScope, in_days, in_months


COPY_CHUNK_BYTES = 1 << 20
STREAM_ROWS = 100_000  # rows a publish holds in memory at once, from the warehouse to COPY


@dataclass(frozen=True)
class PostgresTable:
    """A target table: its key and value columns (with Postgres types) and the rollup query."""

    name: str
    keys: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]
    source_sql: str  # DuckDB; selects keys then values, in order, for the registered scope
    feed: SinkFeed | None = None  # where its changes come from (None: always published whole)

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.keys + self.values]


INSTALL_ACTIVITY = PostgresTable(
    "install_activity",
    keys=(("plugin_name", "text"), ("granularity", "text"), ("period_start", "date")),
    values=(("install_count", "int8"),),
    source_sql=f"""
        SELECT plugin_name, 'DAY', download_day, install_count FROM daily_installs WHERE {in_days("download_day")}
        UNION ALL SELECT plugin_name, 'MONTH', month_start, install_count FROM installs_by_month
                  WHERE {in_months("month_start")}
        UNION ALL SELECT plugin_name, 'TOTAL', NULL::DATE, install_count FROM total_installs WHERE $totals
    """,
    feed=SinkFeed("postgres/install_activity", days=("daily_installs",), months=("monthly_installs", "opening_installs"),
                  totals=("total_installs",)),
)
GITHUB_ACTIVITY = PostgresTable(
    "github_activity",
    keys=(("plugin_name", "text"), ("repo", "text"), ("granularity", "text"), ("period_start", "date")),
    values=(("commit_count", "int8"), ("latest_commit_at", "timestamp")),  # naive UTC; cast under UTC
    source_sql=f"""
        SELECT plugin_name, repo, 'MONTH', month_start, commit_count, NULL::TIMESTAMP FROM commits_by_month
        WHERE {in_months("month_start")}
        UNION ALL SELECT plugin_name, repo, 'TOTAL', NULL::DATE, commit_count, NULL::TIMESTAMP FROM total_commits
                  WHERE $totals
        UNION ALL SELECT plugin_name, repo, 'LATEST', NULL::DATE, NULL::BIGINT, latest_commit_at FROM latest_commits
                  WHERE $totals
    """,
    feed=SinkFeed("postgres/github_activity", months=("monthly_commits", "opening_commits"),
                  totals=("total_commits", "latest_commits")),
)


def _key_columns(table: PostgresTable) -> list[str]:
    """The primary key: period_start is replaced by its non-null stand-in period_key."""
    return [name if name != "period_start" else "period_key" for name, _ in table.keys]


def _statements(table: PostgresTable) -> dict[str, str]:
    """SQL for the load; identifiers come from the constants above, never from data."""
    staging = f"incoming_{table.name}"
    column_defs = ", ".join(f"{name} {type_}" for name, type_ in table.keys + table.values)
    columns = ", ".join(table.columns)
    keys = _key_columns(table)
    changed = " OR ".join(f"cur.{name} IS DISTINCT FROM excluded.{name}" for name, _ in table.values)
    updates = ", ".join(f"{name} = excluded.{name}" for name, _ in table.values)
    joined = " AND ".join(f"s.{name} = cur.{name}" for name in keys)
    return {
        "staging": (
            f"CREATE TEMP TABLE {staging} ({column_defs}, period_key date GENERATED ALWAYS AS "
            f"(COALESCE(period_start, DATE '0001-01-01')) STORED) ON COMMIT DROP"
        ),
        "copy_staging": f"COPY {staging} ({columns}) FROM STDIN (FORMAT csv)",
        "copy_target": f"COPY {table.name} ({columns}) FROM STDIN (FORMAT csv)",
        "analyze": f"ANALYZE {staging}",
        # Each incoming row probes the primary key (no scan of the table's history); a row whose values
        # did not change is left alone and not counted.
        "upsert": (
            f"INSERT INTO {table.name} AS cur ({columns}, updated_at) SELECT {columns}, now() FROM {staging} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}, updated_at = excluded.updated_at "
            f"WHERE {changed}"
        ),
        "scope": "CREATE TEMP TABLE sink_scope (granularity text, first_day date, last_day date) ON COMMIT DROP",
        "fill_scope": "INSERT INTO sink_scope VALUES (%s, %s, %s)",
        "analyze_scope": "ANALYZE sink_scope",
        # A range scan of the (granularity, period_key) index per scope row.
        "delete": (
            f"DELETE FROM {table.name} cur USING sink_scope sc WHERE sc.granularity = cur.granularity"
            f" AND cur.period_key BETWEEN sc.first_day AND sc.last_day"
            f" AND NOT EXISTS (SELECT 1 FROM {staging} s WHERE {joined})"
        ),
    }


def _scope_rows(scope: SinkScope) -> list[tuple]:
    """The scope as (granularity, first, last) rows; all-time rows are keyed 0001-01-01 (period_key)."""
    rows = [("DAY", a, b) for a, b in scope.days] + [("MONTH", a, b) for a, b in scope.months]
    if scope.totals:
        rows += [(g, *WHOLE) for g in ("TOTAL", "LATEST")]
    return rows


def in_scope(scope: SinkScope) -> tuple[str, list]:
    """A Postgres condition (and its parameters) selecting a table's rows in `scope`: index ranges of
    (granularity, period_key)."""
    rows = _scope_rows(scope)
    return " OR ".join(["(granularity = %s AND period_key BETWEEN %s AND %s)"] * len(rows)) or "FALSE", [
        value for row in rows for value in row]


def _csv(rows: pa.RecordBatch, table: PostgresTable) -> bytes:
    """Arrow -> CSV in C++ (nulls empty, strings quoted as needed): COPY's cheapest input."""
    buffer = io.BytesIO()
    pacsv.write_csv(rows.rename_columns(table.columns), buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def _copy(cursor: psycopg.Cursor, sql: str, batches: Iterable[pa.RecordBatch], table: PostgresTable) -> int:
    """COPY the batches one at a time (memory bounded by a batch); returns the rows sent."""
    sent = 0
    with cursor.copy(sql) as copy:
        for batch in batches:
            view = memoryview(_csv(batch, table))
            for offset in range(0, len(view), COPY_CHUNK_BYTES):
                copy.write(view[offset:offset + COPY_CHUNK_BYTES])
            sent += batch.num_rows
    return sent


@contextmanager
def _indexes_built_after(cursor: psycopg.Cursor, name: str) -> Iterator[None]:
    """Drop the (empty) table's primary key and indexes for a bulk COPY and build them after it:
    ~40% faster than maintaining them row by row. A duplicate key still fails the transaction."""
    key = cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                         "AND contype = 'p'", [name]).fetchone()
    indexes = cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                             "AND tablename = %s AND indexname <> %s", [name, key[0] if key else ""]).fetchall()
    if key:
        cursor.execute(f'ALTER TABLE {name} DROP CONSTRAINT "{key[0]}"')
    for index, _ in indexes:
        cursor.execute(f'DROP INDEX "{index}"')
    yield
    if key:
        cursor.execute(f'ALTER TABLE {name} ADD CONSTRAINT "{key[0]}" {key[1]}')
    for _, definition in indexes:
        cursor.execute(definition)


def load_rows(
    connection: psycopg.Connection, table: PostgresTable, rows: pa.Table | Iterable[pa.RecordBatch],
    before_commit: Callable[[], None] | None = None, scope: SinkScope | None = None,
) -> dict:
    """Make `table`'s rows in `scope` (default: all) equal `rows` (a table, or batches streamed once)
    in one transaction; returns written/deleted/unchanged counts.

    An empty target (the initial load) takes COPY straight into the table; otherwise rows go
    to a temp table and only the difference is upserted or deleted.
    """
    scope = scope or SinkScope.everything()
    sql = _statements(table)
    batches = rows.to_batches(max_chunksize=STREAM_ROWS) if isinstance(rows, pa.Table) else rows
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # rollup timestamps are naive UTC
        # Writers queue behind each other; readers are blocked only while an empty table is filled.
        cursor.execute(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")
        if cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table.name})").fetchone()[0]:
            with _indexes_built_after(cursor, table.name):
                desired = _copy(cursor, sql["copy_target"], batches, table)
            written, deleted = desired, 0
        else:
            cursor.execute(sql["staging"])
            desired = _copy(cursor, sql["copy_staging"], batches, table)
            cursor.execute(sql["analyze"])
            cursor.execute(sql["scope"])
            cursor.executemany(sql["fill_scope"], _scope_rows(scope))
            cursor.execute(sql["analyze_scope"])
            written = cursor.execute(sql["upsert"]).rowcount
            deleted = cursor.execute(sql["delete"]).rowcount
        if before_commit is not None:
            before_commit()
    return {"table": table.name, "desired_rows": desired, "written": written, "deleted": deleted,
            "unchanged": desired - written}


def publish(
    table: PostgresTable, warehouse: DuckDBWarehouse, postgres: PostgresResource,
    before_commit: Callable[[], None] | None = None, incremental: bool = False,
) -> dict:
    """Load the desired rows into Postgres (migrating first): with `incremental`, only the periods
    the table's feed says changed (everything into an empty table: a new database), then its cursor
    moves; rows whose key Postgres cannot index are quarantined, the rest are loaded."""
    return publish_scoped(table, warehouse, postgres, before_commit, incremental)[0]


def publish_scoped(
    table: PostgresTable, warehouse: DuckDBWarehouse, postgres: PostgresResource,
    before_commit: Callable[[], None] | None = None, incremental: bool = False,
) -> tuple[dict, SinkScope]:
    """`publish`, also returning the scope it published (what a scoped read-back compares)."""
    with postgres.connect() as connection:
        apply_migrations(connection)
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [table.name]).fetchone()[0]
        empty = not exists or connection.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table.name})").fetchone()[0]
        connection.rollback()
        with warehouse.connect() as con, warehouse.connect() as quarantine:
            todo = table.feed.pending(con) if incremental and table.feed else None
            scope = table.feed.scope(todo) if todo is not None and not empty else SinkScope.everything()
            sink, keys = f"postgres:{table.name}", [n for n, _ in table.keys]
            if scope == SinkScope.everything():
                forget_refusals(quarantine, sink)
            refused = 0

            def accepted(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
                nonlocal refused
                for batch in reader:
                    kept = refuse_long_keys(quarantine, sink, keys, batch.rename_columns(table.columns))
                    refused += batch.num_rows - kept.num_rows
                    yield kept

            with scope.registered(con) as params:
                reader = con.sql(table.source_sql, params=bind(table.source_sql, params)).to_arrow_reader(STREAM_ROWS)
                result = load_rows(connection, table, accepted(reader), before_commit, scope)
            result |= {"quarantined_now": refused, **quarantine_metadata(quarantine, sink), "scope": scope.describe()}
    if todo is not None:
        with warehouse.connect() as con:
            changes.advance(con, todo)
    return result, scope
