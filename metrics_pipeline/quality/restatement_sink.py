"""Copies the warehouse's restatement log to Postgres, for readers who query history there."""

from __future__ import annotations

import dagster as dg

from metrics_pipeline.asset_conventions import OWNERS
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse
from metrics_pipeline.sinks.postgres_schema import apply_migrations

COLUMNS = ("id", "sink", "plugin_name", "metric", "granularity", "period_start", "repo",
           "old_value", "new_value", "run_id", "restated_at")


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


@dg.asset(
    key=["postgres", "restatements"],
    deps=[dg.AssetKey(["dynamodb", "install_activity"]), dg.AssetKey(["dynamodb", "github_activity"])],
    group_name="quality",
    kinds={"postgres"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
)
def postgres_restatements(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
    """The restatement log in Postgres: published values that later runs changed, when and why."""
    return dg.MaterializeResult(metadata=copy_restatements(warehouse, postgres))
