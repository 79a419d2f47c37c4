"""Postgres sink: install_activity and github_activity, equal to the rollups, full monthly history.

One transaction per table: COPY the desired rows into a temp table, upsert only rows whose
values differ, delete rows no longer desired. Readers see the old table or the new one.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from metrics_pipeline.asset_conventions import OWNERS, SINK_AUTOMATION
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse
from metrics_pipeline.sinks.postgres_schema import apply_migrations
from metrics_pipeline.sinks.status import publish_status
from metrics_pipeline.sinks.quarantine import split_postgres_rows


COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class PostgresTable:
    """A target table: its key and value columns (with Postgres types) and the rollup query."""

    name: str
    keys: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]
    source_sql: str  # DuckDB; selects keys then values, in order

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.keys + self.values]


INSTALL_ACTIVITY = PostgresTable(
    "install_activity",
    keys=(("plugin_name", "text"), ("granularity", "text"), ("period_start", "date")),
    values=(("install_count", "int8"),),
    source_sql="""
        SELECT plugin_name, 'DAY', download_day, install_count FROM daily_installs
        UNION ALL SELECT plugin_name, 'MONTH', month_start, install_count FROM installs_by_month
        UNION ALL SELECT plugin_name, 'TOTAL', NULL::DATE, install_count FROM total_installs
    """,
)
GITHUB_ACTIVITY = PostgresTable(
    "github_activity",
    keys=(("plugin_name", "text"), ("repo", "text"), ("granularity", "text"), ("period_start", "date")),
    values=(("commit_count", "int8"), ("latest_commit_at", "timestamp")),  # naive UTC; cast under UTC
    source_sql="""
        SELECT plugin_name, repo, 'MONTH', month_start, commit_count, NULL::TIMESTAMP FROM commits_by_month
        UNION ALL SELECT plugin_name, repo, 'TOTAL', NULL::DATE, commit_count, NULL::TIMESTAMP FROM total_commits
        UNION ALL SELECT plugin_name, repo, 'LATEST', NULL::DATE, NULL::BIGINT, latest_commit_at FROM latest_commits
    """,
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
    changed = " OR ".join(f"cur.{name} IS DISTINCT FROM s.{name}" for name, _ in table.values)
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
        # Only new or different rows reach the upsert; unchanged rows are filtered by a hash join.
        "upsert": (
            f"INSERT INTO {table.name} AS t ({columns}, updated_at) "
            f"SELECT {', '.join('s.' + c for c in table.columns)}, now() FROM {staging} s "
            f"LEFT JOIN {table.name} cur ON {joined} WHERE cur.{keys[0]} IS NULL OR {changed} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}, updated_at = excluded.updated_at"
        ),
        "delete": (
            f"DELETE FROM {table.name} cur WHERE NOT EXISTS (SELECT 1 FROM {staging} s WHERE {joined})"
        ),
    }


def _csv(rows: pa.Table, table: PostgresTable) -> bytes:
    """Arrow -> CSV in C++ (nulls empty, strings quoted as needed): COPY's cheapest input."""
    buffer = io.BytesIO()
    pacsv.write_csv(rows.rename_columns(table.columns), buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def _copy(cursor: psycopg.Cursor, sql: str, data: bytes) -> None:
    with cursor.copy(sql) as copy:
        view = memoryview(data)
        for offset in range(0, len(view), COPY_CHUNK_BYTES):
            copy.write(view[offset:offset + COPY_CHUNK_BYTES])


def load_rows(
    connection: psycopg.Connection, table: PostgresTable, rows: pa.Table,
    before_commit: Callable[[], None] | None = None,
) -> dict:
    """Make `table` equal `rows` in one transaction; returns written/deleted/unchanged counts.

    An empty target (the initial load) takes COPY straight into the table; otherwise rows go
    to a temp table and only the difference is upserted or deleted.
    """
    sql, data = _statements(table), _csv(rows, table)
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # rollup timestamps are naive UTC
        # Writers queue behind each other; readers are never blocked.
        cursor.execute(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")
        if cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table.name})").fetchone()[0]:
            _copy(cursor, sql["copy_target"], data)
            written, deleted = rows.num_rows, 0
        else:
            cursor.execute(sql["staging"])
            _copy(cursor, sql["copy_staging"], data)
            cursor.execute(sql["analyze"])
            written = cursor.execute(sql["upsert"]).rowcount
            deleted = cursor.execute(sql["delete"]).rowcount
        if before_commit is not None:
            before_commit()
    return {"table": table.name, "desired_rows": rows.num_rows, "written": written, "deleted": deleted,
            "unchanged": rows.num_rows - written}


def publish(
    table: PostgresTable, warehouse: DuckDBWarehouse, postgres: PostgresResource,
    before_commit: Callable[[], None] | None = None,
) -> dict:
    """Read the desired rows from the warehouse and load them into Postgres (migrating first);
    rows whose key Postgres cannot index are quarantined, the rest are loaded."""
    with warehouse.connect() as con:
        rows = con.sql(table.source_sql).to_arrow_table().rename_columns(table.columns)
        rows, quarantine = split_postgres_rows(con, f"postgres:{table.name}", [n for n, _ in table.keys], rows)
    with postgres.connect() as connection:
        apply_migrations(connection)
        return load_rows(connection, table, rows, before_commit) | quarantine


_ASSET_ARGS = dict(group_name="sinks", kinds={"postgres"}, owners=OWNERS, pool=WAREHOUSE_POOL,
                   automation_condition=SINK_AUTOMATION)


@dg.asset(key=["postgres", "install_activity"],
          deps=[dg.AssetKey(n) for n in ("daily_installs", "monthly_installs", "opening_installs", "total_installs")],
          **_ASSET_ARGS)
def postgres_install_activity(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
    """install_activity in Postgres: every DAY, MONTH and TOTAL install count."""
    return dg.MaterializeResult(metadata=publish(INSTALL_ACTIVITY, warehouse, postgres) | publish_status(warehouse, postgres=postgres))


@dg.asset(key=["postgres", "github_activity"],
          deps=[dg.AssetKey(n) for n in ("monthly_commits", "opening_commits", "total_commits", "latest_commits")],
          **_ASSET_ARGS)
def postgres_github_activity(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
    """github_activity in Postgres: every MONTH (full history), TOTAL and LATEST commit figure."""
    return dg.MaterializeResult(metadata=publish(GITHUB_ACTIVITY, warehouse, postgres) | publish_status(warehouse, postgres=postgres))
