"""Full reconciliation: compare each whole sink with what the warehouse says it should hold and
repair drift made outside the pipeline (deleted, changed or extra items/rows).

DynamoDB: a full Scan is diffed against the desired items in the warehouse; missing and changed
items are put, extra ones deleted, and `sink_published` is reset to exactly what the table now
holds, so incremental publishes stay correct. Postgres: every publish already diffs the whole
table, so reconciling it is a publish whose counts are reported as repairs.
"""

from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, bind, transaction
from metrics_pipeline.sinks import postgres as pg
from metrics_pipeline.sinks.dynamodb import (
    GITHUB_SINK,
    INSTALL_SINK,
    ItemSet,
    refused_values,
    stored_value,
)
from metrics_pipeline.sinks.dynamodb_tables import ensure_tables
from metrics_pipeline.sinks.quarantine import quarantine_metadata, record_refusals, refuse_and_write, without_quarantined
from metrics_pipeline.sinks.read_back import check_dynamodb, check_postgres
from metrics_pipeline.sinks.scope import SinkScope
from metrics_pipeline.sinks.status import publish_status

_MARK_PENDING = """
    INSERT INTO sink_published (sink, pk, sk, item_value, published_at)
    SELECT ?, pk, sk, NULL, NULL FROM {keys}
    ON CONFLICT (sink, pk, sk) DO UPDATE SET item_value = NULL, published_at = NULL
"""


def scan_items(client, table: str, sink: ItemSet) -> pa.Table:
    """Every item of `table` as (pk, sk, stored_value): the reconciliation's full read."""
    pks, sks, values, kwargs = [], [], [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            pks.append(item["plugin_name"]["S"])
            sks.append(item[sink.range_key]["S"])
            values.append(stored_value(sink, item))
        if "LastEvaluatedKey" not in page:
            return pa.table({"pk": pa.array(pks, pa.string()), "sk": pa.array(sks, pa.string()),
                             "stored_value": pa.array(values, pa.string())})
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def reconcile_dynamodb(sink: ItemSet, warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource, params: dict) -> dict:
    """Make the whole table equal the desired items; returns counts of what was repaired."""
    client = dynamodb.client()
    table = dynamodb.table_name(sink.suffix)
    target_id = ensure_tables(dynamodb, client)[table]
    name = sink.published_name
    actual = scan_items(client, table, sink)
    desired_sql, desired_params = without_quarantined(sink.sql, params, name)
    with warehouse.connect() as con, SinkScope.everything().registered(con) as everything, transaction(con):
        desired_params = desired_params | everything
        con.register("recon_actual", actual)
        con.execute(f"CREATE OR REPLACE TEMP TABLE recon_desired AS {desired_sql}", bind(desired_sql, desired_params))
        puts = con.sql(
            "SELECT d.*, a.pk IS NULL AS missing FROM recon_desired d"
            " LEFT JOIN recon_actual a ON a.pk = d.pk AND a.sk = d.sk"
            " WHERE a.stored_value IS DISTINCT FROM d.item_value ORDER BY d.pk, d.sk"
        ).to_arrow_table()
        extras = con.sql(
            "SELECT a.pk, a.sk FROM recon_actual a WHERE NOT EXISTS"
            " (SELECT 1 FROM recon_desired d WHERE d.pk = a.pk AND d.sk = a.sk) ORDER BY a.pk, a.sk"
        ).to_arrow_table()
        desired = con.sql("SELECT pk, sk, item_value FROM recon_desired").to_arrow_table()
        (stale_records,) = con.execute(
            """
            SELECT (SELECT count(*) FROM sink_published p WHERE p.sink = $sink AND NOT EXISTS
                      (SELECT 1 FROM recon_desired d WHERE d.pk = p.pk AND d.sk = p.sk AND d.item_value = p.item_value))
                 + (SELECT count(*) FROM recon_desired d WHERE NOT EXISTS
                      (SELECT 1 FROM sink_published p WHERE p.sink = $sink AND p.pk = d.pk AND p.sk = d.sk))
            """,
            {"sink": name},
        ).fetchone()
        released = con.execute(  # refused items the rollups no longer hold leave the quarantine
            f"DELETE FROM sink_quarantine q WHERE q.sink = $recon_sink AND NOT EXISTS"
            f" (SELECT 1 FROM ({sink.sql}) a WHERE a.pk = q.pk AND a.sk = q.sk) RETURNING pk",
            bind(sink.sql, params | everything) | {"recon_sink": name},
        ).fetchall()
        # Crash safety: whatever is about to change is pending, so an interrupted repair is redone.
        con.register("recon_puts", puts.select(["pk", "sk"]))
        con.register("recon_extras", extras)
        con.execute(_MARK_PENDING.format(keys="recon_puts"), [name])
        con.execute(_MARK_PENDING.format(keys="recon_extras"), [name])
        con.execute(
            "INSERT INTO sink_targets VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET target_id = excluded.target_id",
            [name, target_id],
        )
        for view in ("recon_actual", "recon_puts", "recon_extras"):
            con.unregister(view)
        con.execute("DROP TABLE recon_desired")
    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    deletes = [{"DeleteRequest": {"Key": {"plugin_name": {"S": pk}, sink.range_key: {"S": sk}}}}
               for pk, sk in zip(extras["pk"].to_pylist(), extras["sk"].to_pylist(), strict=True)]
    stats, refusals = refuse_and_write(dynamodb, client, table, "plugin_name", sink.range_key,
                                       sink.build_items(puts, now_ms), deletes)
    refused = pa.table({"pk": pa.array([r.pk for r in refusals], pa.string()),
                        "sk": pa.array([r.sk for r in refusals], pa.string())})
    published_at = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.connect() as con, transaction(con):
        con.register("recon_desired_rows", desired)
        con.register("recon_refused", refused)
        con.execute("DELETE FROM sink_published WHERE sink = ?", [name])
        con.execute(
            "INSERT INTO sink_published SELECT ?, d.pk, d.sk, d.item_value, ? FROM recon_desired_rows d"
            " WHERE NOT EXISTS (SELECT 1 FROM recon_refused r WHERE r.pk = d.pk AND r.sk = d.sk)",
            [name, published_at],
        )
        record_refusals(con, name, refusals, refused_values(puts, refusals))
        con.unregister("recon_desired_rows")
        con.unregister("recon_refused")
    with warehouse.connect() as con:
        quarantine = quarantine_metadata(con, name)
    refused_set = {(r.pk, r.sk) for r in refusals}
    written = [m for pk, sk, m in zip(*puts.select(["pk", "sk", "missing"]).to_pydict().values(), strict=True)
               if (pk, sk) not in refused_set]
    return {
        "table": table,
        "scanned_items": actual.num_rows,
        "desired_items": desired.num_rows,
        "repaired_missing": sum(written),
        "repaired_changed": len(written) - sum(written),
        "deleted_extra": extras.num_rows,
        "published_records_corrected": stale_records,
        "quarantined_now": len(refusals),
        "quarantine_released": len(released),
        **quarantine,
        "batch_requests": stats.requests,
    }


def reconcile_postgres(table: pg.PostgresTable, warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dict:
    """A publish diffs the whole table: rows written were missing or changed, rows deleted were extra."""
    result = pg.publish(table, warehouse, postgres)
    return {"table": result["table"], "desired_rows": result["desired_rows"], "repaired_rows": result["written"],
            "deleted_extra": result["deleted"], "quarantined_items": result["quarantined_items"]}


class ReconciliationConfig(dg.Config):
    """`as_of_date` (YYYY-MM-DD) fixes github-activity's MONTH window; empty means today (UTC)."""

    as_of_date: str | None = None


def _report(context: dg.OpExecutionContext, asset_key: dg.AssetKey, check_name: str, repairs: dict,
            check: dg.AssetCheckResult) -> None:
    """Repairs on the sink asset's page (an observation) and its read-back check re-evaluated."""
    context.log_event(dg.AssetObservation(asset_key=asset_key, metadata={"reconciliation": "full", **repairs}))
    context.log_event(dg.AssetCheckEvaluation(
        asset_key=asset_key, check_name=check_name, passed=check.passed, severity=check.severity,
        metadata=check.metadata, description=check.description,
    ))


@dg.op(pool=WAREHOUSE_POOL)
def reconcile_dynamodb_tables(
    context: dg.OpExecutionContext, config: ReconciliationConfig, warehouse: DuckDBWarehouse,
    dynamodb: DynamoDBResource,
) -> dict:
    """Repair both hub tables from a full Scan; then re-run their read-back checks."""
    as_of = date.fromisoformat(config.as_of_date) if config.as_of_date else datetime.now(UTC).date()
    summary = {}
    for sink, asset in [(INSTALL_SINK, ["dynamodb", "install_activity"]), (GITHUB_SINK, ["dynamodb", "github_activity"])]:
        repairs = reconcile_dynamodb(sink, warehouse, dynamodb, sink.params_for(as_of))
        check = check_dynamodb(sink, warehouse, dynamodb)
        _report(context, dg.AssetKey(asset), f"dynamodb_{asset[1]}_read_back", repairs, check)
        summary[sink.suffix] = repairs
    publish_status(warehouse, dynamodb=dynamodb)  # a new status item: readers' caches drop the repaired values
    context.add_output_metadata({name: dg.MetadataValue.json(value) for name, value in summary.items()})
    return summary


@dg.op(pool=WAREHOUSE_POOL)
def reconcile_postgres_tables(
    context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, postgres: PostgresResource
) -> dict:
    """Repair both Postgres tables (a full diff); then re-run their read-back checks."""
    summary = {}
    for table, asset in [(pg.INSTALL_ACTIVITY, "install_activity"), (pg.GITHUB_ACTIVITY, "github_activity")]:
        repairs = reconcile_postgres(table, warehouse, postgres)
        check = check_postgres(table, warehouse, postgres)
        _report(context, dg.AssetKey(["postgres", asset]), f"postgres_{asset}_read_back", repairs, check)
        summary[table.name] = repairs
    context.add_output_metadata({name: dg.MetadataValue.json(value) for name, value in summary.items()})
    return summary


@dg.job
def sink_reconciliation_job():
    """Compare every sink in full with the warehouse and repair drift; DynamoDB and Postgres
    are independent steps, so one sink being down does not stop the other."""
    reconcile_dynamodb_tables()
    reconcile_postgres_tables()


sink_reconciliation_schedule = dg.ScheduleDefinition(
    name="sink_reconciliation_schedule",
    job=sink_reconciliation_job,
    cron_schedule="30 4 * * *",  # daily, away from the 13:00 UTC metrics run
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
