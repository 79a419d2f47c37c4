"""ERROR check: the two sinks agree. Every install figure DynamoDB was last written (as recorded in
`sink_published`) equals Postgres' row, and every commit TOTAL too, once neither sink is running."""

import dagster as dg

from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse

EXAMPLES = 5

# (plugin, figure, value) of what DynamoDB holds, from the values recorded when it was written.
DYNAMODB_FIGURES_SQL = """
SELECT pk, sk, TRY_CAST(split_part(item_value, '|', 2) AS BIGINT) FROM sink_published
WHERE sink = 'dynamodb:install-activity' AND item_value IS NOT NULL
UNION ALL
SELECT pk, sk, TRY_CAST(split_part(item_value, '|', 3) AS BIGINT) FROM sink_published
WHERE sink = 'dynamodb:github-activity' AND item_value IS NOT NULL AND starts_with(sk, 'TOTAL:')
"""
PENDING_SQL = "SELECT count(*) FROM sink_published WHERE sink LIKE 'dynamodb:%' AND item_value IS NULL"
# The same figures from Postgres, keyed like the DynamoDB items.
POSTGRES_FIGURES_SQL = """
SELECT plugin_name, CASE granularity WHEN 'DAY' THEN 'DAY:' || to_char(period_start, 'YYYYMMDD')
                                     WHEN 'MONTH' THEN 'MONTH:' || to_char(period_start, 'YYYYMM')
                                     ELSE 'TOTAL:' END, install_count
FROM install_activity
UNION ALL
SELECT plugin_name, 'TOTAL:' || repo, commit_count FROM github_activity WHERE granularity = 'TOTAL'
"""


def compare(dynamodb: set[tuple], postgres: set[tuple], pending: int) -> dg.AssetCheckResult:
    differ = sorted(dynamodb ^ postgres)
    examples = [f"{'dynamodb' if row in dynamodb else 'postgres'}: {row[0]} {row[1]} = {row[2]}" for row in differ[:EXAMPLES]]
    return dg.AssetCheckResult(
        passed=not differ and not pending,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"dynamodb_figures": len(dynamodb), "postgres_figures": len(postgres), "differences": len(differ),
                  "dynamodb_writes_unfinished": pending, "examples": "\n".join(examples)},
    )


@dg.asset_check(
    asset=dg.AssetKey(["postgres", "install_activity"]),
    additional_deps=[dg.AssetKey(["dynamodb", "install_activity"]), dg.AssetKey(["dynamodb", "github_activity"]),
                     dg.AssetKey(["postgres", "github_activity"])],
    pool=WAREHOUSE_POOL,
)
def sinks_agree(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    """DynamoDB and Postgres hold the same DAY/MONTH/TOTAL installs and commit TOTALs. What to do:
    run sink_reconciliation_job; it repairs both from the warehouse."""
    with warehouse.connect() as con:
        dynamodb = set(con.execute(DYNAMODB_FIGURES_SQL).fetchall())
        pending = con.execute(PENDING_SQL).fetchall()[0][0]
    with postgres.connect() as connection:
        published = connection.execute(
            "SELECT to_regclass('install_activity') IS NOT NULL AND to_regclass('github_activity') IS NOT NULL"
        ).fetchone()[0]
        postgres_rows = set(connection.execute(POSTGRES_FIGURES_SQL).fetchall()) if published else set()
    return compare(dynamodb, postgres_rows, pending)
