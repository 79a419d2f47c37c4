"""Copies the warehouse's restatement log to Postgres, for readers who query history there; read back
in the same step and made equal to the warehouse's rows by sink_reconciliation_job."""

from __future__ import annotations

import dagster as dg

from metrics_pipeline.asset_conventions import OWNERS
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse
from metrics_pipeline.sinks.postgres_schema import apply_migrations
from metrics_pipeline.sinks.read_back import Aggregate, ReadBack, compare_postgres, read_back_result, read_back_spec
from metrics_pipeline.sinks.reconcile import Repaired, sync_table

COLUMNS = ("id", "sink", "plugin_name", "metric", "granularity", "period_start", "repo",
           "old_value", "new_value", "run_id", "restated_at")
KEY = ["postgres", "restatements"]
READ_BACK_CHECK = "postgres_restatements_read_back"
SUMS = Aggregate("restatements", "sink", ("id", "old_value", "new_value"), ("restated_at",))


def copy_restatements(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dict:
    """Append the warehouse rows Postgres does not have yet (ids only grow); returns counts."""
    names = ", ".join(COLUMNS)
    with postgres.connect() as connection:
        apply_migrations(connection)
        with connection.transaction():
            connection.execute("SET LOCAL TIME ZONE 'UTC'")
            connection.execute("LOCK TABLE restatements IN SHARE ROW EXCLUSIVE MODE")
            newest = connection.execute("SELECT coalesce(max(id), -1) FROM restatements").fetchone()[0]
            with warehouse.connect() as con:
                rows = con.execute(f"SELECT {names} FROM restatements WHERE id > ? ORDER BY id", [newest]).fetchall()
            with connection.cursor() as cursor, cursor.copy(f"COPY restatements ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            total = connection.execute("SELECT count(*) FROM restatements").fetchone()[0]
    return {"copied": len(rows), "restatements": total}


def check_restatements(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    """Per sink: row count and sums of ids, values and times equal the warehouse's."""
    with warehouse.connect() as con, postgres.connect() as connection:
        compared = compare_postgres(con, connection, [ReadBack(SUMS, "restatements")])
    return read_back_result(READ_BACK_CHECK, "Postgres", compared)


def reconcile_restatements(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> list[Repaired]:
    """Postgres holds exactly the warehouse's rows: missing and changed ones rewritten, others deleted."""
    with warehouse.connect() as con:
        rows = con.sql(f"SELECT {', '.join(COLUMNS)} FROM restatements").to_arrow_table()
    with postgres.connect() as connection:
        apply_migrations(connection)
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # warehouse times are naive UTC
            cursor.execute("LOCK TABLE restatements IN SHARE ROW EXCLUSIVE MODE")
            repairs = sync_table(cursor, "restatements", COLUMNS, ("id",), rows)
    return [(dg.AssetKey(KEY), repairs, check_restatements(warehouse, postgres))]


@dg.asset(
    key=KEY,
    deps=[dg.AssetKey(["dynamodb", "install_activity"]), dg.AssetKey(["dynamodb", "github_activity"])],
    group_name="quality",
    kinds={"postgres"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    check_specs=[read_back_spec(READ_BACK_CHECK, dg.AssetKey(KEY), "Per sink, the row count and the sums of ids, "
                                "old and new values and times equal the warehouse's restatement rows.")],
)
def postgres_restatements(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
    """The restatement log in Postgres: published values that later runs changed, when and why."""
    copied = copy_restatements(warehouse, postgres)
    check = check_restatements(warehouse, postgres)
    return dg.MaterializeResult(metadata=copied | {"dagster/row_count": check.metadata["rows_in_store"].value},
                                check_results=[check])
