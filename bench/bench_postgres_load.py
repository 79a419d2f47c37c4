"""Postgres full load: bare COPY of the rows vs the sink's transactional load (not run in CI).

    python bench/bench_postgres_load.py [--plugins 200] [--days 1000] [--repeat 3] [--dsn DSN]

Both sides load the same in-memory rows into an empty table with the same primary key, in one
transaction, against the same server. Without --dsn a throwaway local cluster is started.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from metrics_pipeline.demo.local_servers.postgres import start_postgres
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.postgres import INSTALL_ACTIVITY, load_rows, publish
from metrics_pipeline.sinks.postgres_schema import apply_migrations

BARE_TABLE = """
CREATE TABLE bare_install_activity (
    plugin_name text NOT NULL, granularity text NOT NULL, period_start date, install_count bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    period_key date GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED,
    PRIMARY KEY (plugin_name, granularity, period_key)
)"""


def build_warehouse(path: Path, plugins: int, days: int) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(path=str(path))
    with warehouse.connect() as con:
        con.execute(
            """
            INSERT INTO daily_installs
            SELECT DATE '2023-01-01' + d::INTEGER, 'napari-plugin-' || p, (p * 7 + d) % 97
            FROM range(?) AS ps(p), range(?) AS ds(d)
            """,
            [plugins, days],
        )
        con.execute(
            "INSERT INTO monthly_installs SELECT date_trunc('month', download_day)::DATE, plugin_name, sum(install_count)"
            " FROM daily_installs GROUP BY ALL"
        )
        con.execute("INSERT INTO total_installs SELECT plugin_name, sum(install_count) FROM daily_installs GROUP BY ALL")
    return warehouse


def bare_copy(dsn: str, rows: pa.Table) -> float:
    """The floor: the same rows, converted the same cheapest way, COPYed straight into an empty table."""
    with psycopg.connect(dsn) as connection:
        connection.execute("DROP TABLE IF EXISTS bare_install_activity")
        connection.execute(BARE_TABLE)
        connection.commit()
        started = time.perf_counter()
        buffer = io.BytesIO()
        pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
        with connection.cursor() as cursor:
            with cursor.copy("COPY bare_install_activity (plugin_name, granularity, period_start, install_count)"
                             " FROM STDIN (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
        connection.commit()
        return time.perf_counter() - started


def bare_copy_rows(dsn: str, rows: list[tuple]) -> float:
    """For reference: a bare binary COPY fed row by row from Python tuples."""
    with psycopg.connect(dsn) as connection:
        connection.execute("DROP TABLE IF EXISTS bare_install_activity")
        connection.execute(BARE_TABLE)
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy("COPY bare_install_activity (plugin_name, granularity, period_start, install_count)"
                             " FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "date", "int8"])
                for row in rows:
                    copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


def sink_load(dsn: str, rows: pa.Table) -> float:
    with psycopg.connect(dsn) as connection:
        apply_migrations(connection)
        connection.execute("TRUNCATE install_activity")
        connection.commit()
        started = time.perf_counter()
        result = load_rows(connection, INSTALL_ACTIVITY, rows)
        elapsed = time.perf_counter() - started
    assert result["written"] == rows.num_rows
    return elapsed


def sink_incremental(dsn: str, rows: pa.Table, changed: pa.Table) -> tuple[float, dict]:
    """A loaded table, then a load where a few rows differ: the temp-table diff path."""
    with psycopg.connect(dsn) as connection:
        started = time.perf_counter()
        result = load_rows(connection, INSTALL_ACTIVITY, changed)
        return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn")
    args = parser.parse_args()
    server = None if args.dsn else start_postgres()
    dsn = args.dsn or server.dsn
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warehouse = build_warehouse(Path(tmp) / "bench.duckdb", args.plugins, args.days)
            with warehouse.connect() as con:
                rows = con.sql(INSTALL_ACTIVITY.source_sql).to_arrow_table()
                rows = rows.rename_columns(INSTALL_ACTIVITY.columns)
                tuples = con.execute(INSTALL_ACTIVITY.source_sql).fetchall()
                changed = con.sql(
                    f"SELECT plugin_name, granularity, period_start,"
                    f" install_count + CASE WHEN hash(plugin_name, period_start) % 100 = 0 THEN 1 ELSE 0 END"
                    f" FROM ({INSTALL_ACTIVITY.source_sql}) AS r(plugin_name, granularity, period_start, install_count)"
                ).to_arrow_table()
                every = con.sql(
                    f"SELECT plugin_name, granularity, period_start, install_count + 1"
                    f" FROM ({INSTALL_ACTIVITY.source_sql}) AS r(plugin_name, granularity, period_start, install_count)"
                ).to_arrow_table()
            print(f"rows: {rows.num_rows}")
            bare, bare_rows, sink = [], [], []
            for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits all
                bare.append(bare_copy(dsn, rows))
                bare_rows.append(bare_copy_rows(dsn, tuples))
                sink.append(sink_load(dsn, rows))
            incremental, incremental_result = sink_incremental(dsn, rows, changed)
            rewrite, rewrite_result = sink_incremental(dsn, rows, every)
            with psycopg.connect(dsn) as connection:
                connection.execute("TRUNCATE install_activity")
            started = time.perf_counter()
            publish(INSTALL_ACTIVITY, warehouse, PostgresResource(dsn=dsn))
            end_to_end = time.perf_counter() - started
            started = time.perf_counter()
            rerun = publish(INSTALL_ACTIVITY, warehouse, PostgresResource(dsn=dsn))
            unchanged = time.perf_counter() - started
        n = rows.num_rows
        for label, runs in [("bare COPY, CSV from Arrow", bare), ("bare COPY, binary from tuples", bare_rows),
                            ("sink load (transaction)", sink)]:
            m = statistics.median(runs)
            print(f"{label:32s} median {m:.3f}s  runs {[round(x, 3) for x in runs]}  ({n / m:,.0f} rows/s)")
        floor = min(statistics.median(bare), statistics.median(bare_rows))
        print(f"ratio sink / fastest bare COPY  {statistics.median(sink) / floor:.2f}x (target <= 1.5x)")
        print(f"incremental load, {incremental_result['written']} rows differ: {incremental:.3f}s")
        print(f"non-empty table, all {rewrite_result['written']} rows differ: {rewrite:.3f}s")
        print(f"sink publish incl. DuckDB read, empty target: {end_to_end:.3f}s")
        print(f"unchanged rerun: {unchanged:.3f}s, written {rerun['written']}")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
