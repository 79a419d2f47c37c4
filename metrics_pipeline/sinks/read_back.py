"""Read-back checks: catch drift made outside the pipeline (edits, deletes, a restored backup).

DynamoDB: a random sample of published keys is fetched with BatchGetItem and compared with
what we recorded; drifted keys are marked pending so the next publish rewrites them, and the
check fails (ERROR) until they are repaired. Postgres: per-granularity row counts and sums must
equal the rollups'. `sink_reconciliation_job` (reconcile.py) repairs the whole sink.
"""

import time

import dagster as dg

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, bind, transaction
from metrics_pipeline.sinks.dynamodb import ItemSet, stored_value
from metrics_pipeline.sinks.postgres import PostgresTable
from metrics_pipeline.sinks.scope import SinkScope

SAMPLE_SIZE = 200
REPAIR_HINT = "drift outside the pipeline: run sink_reconciliation_job (or the sink asset) to repair"


def _batch_get(client, table: str, keys: list[dict], attempts: int = 8) -> list[dict]:
    found = []
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start:start + 100], "ConsistentRead": True}}
        for attempt in range(attempts):
            response = client.batch_get_item(RequestItems=request)
            found += response["Responses"].get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2 ** attempt)
        if request:
            raise RuntimeError(f"BatchGetItem on {table} left keys unprocessed after {attempts} attempts")
    return found


def check_dynamodb(sink: ItemSet, warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        sample = con.execute(
            "SELECT pk, sk, item_value FROM sink_published WHERE sink = ? AND item_value IS NOT NULL"
            " ORDER BY random() LIMIT ?",
            [sink.published_name, SAMPLE_SIZE],
        ).fetchall()
    table = dynamodb.table_name(sink.suffix)
    keys = [{"plugin_name": {"S": pk}, sink.range_key: {"S": sk}} for pk, sk, _ in sample]
    found = _batch_get(dynamodb.client(), table, keys) if keys else []
    items = {(i["plugin_name"]["S"], i[sink.range_key]["S"]): i for i in found}
    missing = [(pk, sk) for pk, sk, _ in sample if (pk, sk) not in items]
    different = [(pk, sk) for pk, sk, value in sample
                 if (pk, sk) in items and stored_value(sink, items[(pk, sk)]) != value]
    with warehouse.connect() as con, transaction(con):
        if missing or different:  # the next publish rewrites them
            con.executemany(
                "UPDATE sink_published SET item_value = NULL, published_at = NULL WHERE sink = ? AND pk = ? AND sk = ?",
                [[sink.published_name, pk, sk] for pk, sk in missing + different],
            )
        awaiting, published = con.execute(
            "SELECT count(*) FILTER (WHERE item_value IS NULL), count(*) FROM sink_published WHERE sink = ?",
            [sink.published_name],
        ).fetchone()
    passed = not missing and not different and not awaiting
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if passed else REPAIR_HINT,
        check_name=f"dynamodb_{sink.suffix.replace('-', '_')}_read_back",
        metadata={"table": table, "sampled": len(sample), "missing": len(missing), "different": len(different),
                  "keys_awaiting_rewrite": awaiting, "published_keys": published,
                  "examples": ", ".join(f"{pk[:60]} {sk[:60]}" for pk, sk in (missing + different)[:5])},
    )


def check_postgres(table: PostgresTable, warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    names = ", ".join(table.columns)
    count_column = table.values[0][0]
    first, *rest = [name for name, _ in table.keys]
    refused = " || '|' || ".join(f"coalesce(CAST(r.{c} AS VARCHAR), '')" for c in rest) or "''"
    with warehouse.connect() as con, SinkScope.everything().registered(con) as everything:
        expected = {
            row[0]: (row[1], row[2]) for row in con.execute(
                f"SELECT granularity, count(*), coalesce(sum({count_column}), 0) FROM ({table.source_sql}) AS r({names})"
                # rows the sink refused (quarantined) are not expected there
                f" WHERE NOT EXISTS (SELECT 1 FROM sink_quarantine q WHERE q.sink = $refusing AND q.pk = r.{first}"
                f" AND q.sk = {refused}) GROUP BY granularity",
                bind(table.source_sql, everything) | {"refusing": f"postgres:{table.name}"},
            ).fetchall()
        }
    with postgres.connect() as connection:
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [table.name]).fetchone()[0]
        actual = {
            row[0]: (row[1], row[2]) for row in connection.execute(
                f"SELECT granularity, count(*), coalesce(sum({count_column}), 0) FROM {table.name} GROUP BY granularity"
            ).fetchall()
        } if exists else {}
    return dg.AssetCheckResult(
        passed=expected == actual,
        check_name=f"postgres_{table.name}_read_back",
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if expected == actual else REPAIR_HINT,
        metadata={"table": table.name, "rows": sum(n for n, _ in actual.values()),
                  "expected": str(dict(sorted(expected.items()))),
                  "actual": str(dict(sorted(actual.items())))},
    )
