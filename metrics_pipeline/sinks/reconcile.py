"""Full reconciliation: compare each whole sink with what the warehouse says it should hold and
repair drift made outside the pipeline (deleted, changed or extra items/rows).

DynamoDB: a full Scan is diffed against the desired items in the warehouse; missing and changed
items are put, extra ones deleted, and `sink_published` is reset to exactly what the table now
holds, so incremental publishes stay correct. Postgres: every publish already diffs the whole
table, so reconciling it is a publish whose counts are reported as repairs. The other sinks (events,
InfluxDB, community, plugins, restatements) bring their own repair; `reconciliation_job` gives each
configured one an independent step, so one store being down does not stop the others.
"""

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from metrics_pipeline.automation.jobs import TRIGGER_TAG
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
from metrics_pipeline.sinks.published import CHUNK_ROWS
from metrics_pipeline.sinks.quarantine import quarantine_metadata, record_refusals, refuse_and_write, without_quarantined
from metrics_pipeline.sinks.read_back import check_dynamodb, check_postgres
from metrics_pipeline.sinks.scope import SinkScope
from metrics_pipeline.sinks.status import publish_status

_MARK_PENDING = """
    INSERT INTO sink_published (sink, pk, sk, item_value, published_at)
    SELECT ?, pk, sk, NULL, NULL FROM {keys}
    ON CONFLICT (sink, pk, sk) DO UPDATE SET item_value = NULL, published_at = NULL
"""


_ACTUAL = pa.schema([("pk", pa.string()), ("sk", pa.string()), ("stored_value", pa.string())])


def scan_items(client, table: str, sink: ItemSet) -> Iterator[pa.Table]:
    """Every item of `table` as (pk, sk, stored_value), a Scan page at a time (as Arrow: a few dozen
    bytes an item, where Python strings would take ten times that)."""
    kwargs = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items = page["Items"]
        yield pa.table([pa.array([item["plugin_name"]["S"] for item in items], pa.string()),
                        pa.array([item[sink.range_key]["S"] for item in items], pa.string()),
                        pa.array([stored_value(sink, item) for item in items], pa.string())], schema=_ACTUAL)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _scan_into(con, client, table: str, sink: ItemSet) -> int:
    """The whole Scan into the temp table `recon_actual` page by page (DuckDB holds it, spilling past its
    memory limit); returns the items scanned."""
    con.execute("CREATE OR REPLACE TEMP TABLE recon_actual (pk VARCHAR, sk VARCHAR, stored_value VARCHAR)")
    scanned = 0
    for page in scan_items(client, table, sink):
        con.register("recon_page", page)
        con.execute("INSERT INTO recon_actual SELECT * FROM recon_page")
        con.unregister("recon_page")
        scanned += page.num_rows
    return scanned


def reconcile_dynamodb(sink: ItemSet, warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource, params: dict) -> dict:
    """Make the whole table equal the desired items; returns counts of what was repaired. The scan and
    the desired items stay in the warehouse (temp tables); only what must be written reaches Python."""
    client = dynamodb.client()
    table = dynamodb.table_name(sink.suffix)
    target_id = ensure_tables(dynamodb, client)[table]
    name = sink.published_name
    desired_sql, desired_params = without_quarantined(sink.sql, params, name)
    with warehouse.connect() as con, SinkScope.everything().registered(con) as everything:
        scanned = _scan_into(con, client, table, sink)
        with transaction(con):
            con.execute(f"CREATE OR REPLACE TEMP TABLE recon_desired AS {desired_sql}",
                        bind(desired_sql, desired_params | everything))
            puts = con.sql(
                "SELECT d.*, a.pk IS NULL AS missing FROM recon_desired d"
                " LEFT JOIN recon_actual a ON a.pk = d.pk AND a.sk = d.sk"
                " WHERE a.stored_value IS DISTINCT FROM d.item_value ORDER BY d.pk, d.sk"
            ).to_arrow_table()
            extras = con.sql(
                "SELECT a.pk, a.sk FROM recon_actual a WHERE NOT EXISTS"
                " (SELECT 1 FROM recon_desired d WHERE d.pk = a.pk AND d.sk = a.sk) ORDER BY a.pk, a.sk"
            ).to_arrow_table()
            desired = con.execute("SELECT count(*) FROM recon_desired").fetchall()[0][0]
            (stale_records,) = con.execute(
                """
                SELECT (SELECT count(*) FROM sink_published p WHERE p.sink = $sink AND NOT EXISTS
                          (SELECT 1 FROM recon_desired d WHERE d.pk = p.pk AND d.sk = p.sk AND d.item_value = p.item_value))
                     + (SELECT count(*) FROM recon_desired d WHERE NOT EXISTS
                          (SELECT 1 FROM sink_published p WHERE p.sink = $sink AND p.pk = d.pk AND p.sk = d.sk))
                """,
                {"sink": name},
            ).fetchall()[0]
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
            for view in ("recon_puts", "recon_extras"):
                con.unregister(view)
            con.execute("DROP TABLE recon_actual")
        now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
        deletes = [{"DeleteRequest": {"Key": {"plugin_name": {"S": pk}, sink.range_key: {"S": sk}}}}
                   for pk, sk in zip(extras["pk"].to_pylist(), extras["sk"].to_pylist(), strict=True)]
        stats, refusals = refuse_and_write(dynamodb, client, table, "plugin_name", sink.range_key,
                                           sink.build_items(puts, now_ms), deletes)
        refused = pa.table({"pk": pa.array([r.pk for r in refusals], pa.string()),
                            "sk": pa.array([r.sk for r in refusals], pa.string())})
        published_at = datetime.now(UTC).replace(tzinfo=None)
        # sink_published becomes exactly what the table now holds: the records that differ go, then the
        # desired items they lacked come in, CHUNK_ROWS a transaction (a crash in between leaves keys
        # unrecorded, which the next publish writes again).
        con.register("recon_refused", refused)
        try:
            with transaction(con):
                con.execute(
                    "DELETE FROM sink_published p WHERE p.sink = ? AND NOT EXISTS (SELECT 1 FROM recon_desired d"
                    " WHERE d.pk = p.pk AND d.sk = p.sk AND d.item_value = p.item_value AND NOT EXISTS"
                    " (SELECT 1 FROM recon_refused r WHERE r.pk = d.pk AND r.sk = d.sk))", [name])
                record_refusals(con, name, refusals, refused_values(puts, refusals))
            for first in range(0, desired, CHUNK_ROWS):
                with transaction(con):
                    con.execute(
                        "INSERT INTO sink_published SELECT ?, d.pk, d.sk, d.item_value, ? FROM recon_desired d"
                        " WHERE d.rowid >= ? AND d.rowid < ?"
                        " AND NOT EXISTS (SELECT 1 FROM recon_refused r WHERE r.pk = d.pk AND r.sk = d.sk)"
                        " AND NOT EXISTS (SELECT 1 FROM sink_published p WHERE p.sink = ? AND p.pk = d.pk AND p.sk = d.sk)",
                        [name, published_at, first, first + CHUNK_ROWS, name])
        finally:
            con.unregister("recon_refused")
        con.execute("DROP TABLE recon_desired")
        quarantine = quarantine_metadata(con, name)
    refused_set = {(r.pk, r.sk) for r in refusals}
    written = [m for pk, sk, m in zip(*puts.select(["pk", "sk", "missing"]).to_pydict().values(), strict=True)
               if (pk, sk) not in refused_set]
    return {
        "table": table,
        "scanned_items": scanned,
        "desired_items": desired,
        "repaired_missing": sum(written),
        "repaired_changed": len(written) - sum(written),
        "deleted_extra": extras.num_rows,
        "published_records_corrected": stale_records,
        "quarantined_now": len(refusals),
        "quarantine_released": len(released),
        **quarantine,
        "batch_requests": stats.requests,
    }


def sync_table(cursor: psycopg.Cursor, table: str, columns: Sequence[str], keys: Sequence[str], rows: pa.Table,
               scope: str = "", scope_params: Sequence = ()) -> dict:
    """Make `table`'s rows (those matching `scope`) equal `rows` (Arrow, `columns` in order): rewrite missing
    and changed rows, delete the others. Call in a transaction; identifiers come from the callers' constants."""
    staging, names = f"staged_{table}", ", ".join(columns)
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS SELECT {names} FROM {table} LIMIT 0")
    cursor.execute(f"TRUNCATE {staging}")
    buffer = io.BytesIO()
    pacsv.write_csv(rows.rename_columns(list(columns)), buffer, pacsv.WriteOptions(include_header=False))
    with cursor.copy(f"COPY {staging} ({names}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())
    cursor.execute(f"ANALYZE {staging}")
    joined = " AND ".join(f"s.{k} = cur.{k}" for k in keys)
    values = [c for c in columns if c not in keys]
    changed = " OR ".join(f"cur.{c} IS DISTINCT FROM s.{c}" for c in values) or "false"
    update = f"UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in values)}" if values else "NOTHING"
    missing, rewritten = cursor.execute(
        f"WITH written AS (INSERT INTO {table} AS t ({names}) SELECT {', '.join('s.' + c for c in columns)} "
        f"FROM {staging} s LEFT JOIN {table} cur ON {joined} WHERE cur.{keys[0]} IS NULL OR {changed} "
        f"ON CONFLICT ({', '.join(keys)}) DO {update} RETURNING t.xmax = 0 AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
    ).fetchone()
    deleted = cursor.execute(f"DELETE FROM {table} cur WHERE {scope or 'true'} AND NOT EXISTS "
                             f"(SELECT 1 FROM {staging} s WHERE {joined})", scope_params).rowcount
    return {"desired_rows": rows.num_rows, "repaired_missing": missing, "repaired_changed": rewritten,
            "deleted_extra": deleted}


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


Repaired = tuple[dg.AssetKey, dict, dg.AssetCheckResult]  # a sink asset, what was repaired, its check again


def _report_all(context: dg.OpExecutionContext, repaired: list[Repaired]) -> dict:
    summary = {}
    for asset_key, repairs, check in repaired:
        _report(context, asset_key, check.check_name, repairs, check)
        summary[asset_key.to_user_string()] = repairs
    context.add_output_metadata({name: dg.MetadataValue.json(value) for name, value in summary.items()})
    return summary


def _postgres_step(name: str, description: str,
                   repair: Callable[[DuckDBWarehouse, PostgresResource], list[Repaired]]) -> dg.OpDefinition:
    @dg.op(name=name, description=description, pool=WAREHOUSE_POOL)
    def _step(context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dict:
        return _report_all(context, repair(warehouse, postgres))

    return _step


def _influxdb_step() -> dg.OpDefinition:
    from metrics_pipeline.events.influxdb import InfluxDBResource
    from metrics_pipeline.events.repair import reconcile_influxdb_events

    @dg.op(name="reconcile_influxdb_events_daily", pool=WAREHOUSE_POOL,
           description="Rewrite the InfluxDB days whose points differ from daily_events; then re-run the read-back check.")
    def _step(context: dg.OpExecutionContext, warehouse: DuckDBWarehouse, influxdb: InfluxDBResource) -> dict:
        return _report_all(context, reconcile_influxdb_events(warehouse, influxdb))

    return _step


@dataclass(frozen=True)
class Stores:
    """The optional sinks a deployment has: each gets its own reconciliation step, the others none."""

    events: bool = False  # Postgres events_raw, events_daily, events_monthly
    influxdb: bool = False
    community: bool = False
    restatements: bool = False  # Postgres is configured
    plugins: tuple = ()  # the installed MetricPlugins


def _optional_steps(stores: Stores) -> list[dg.OpDefinition]:
    """Imported only when configured: a deployment without a domain loads none of it."""
    steps = []
    if stores.events:
        from metrics_pipeline.events.repair import reconcile_postgres_events

        steps.append(_postgres_step("reconcile_postgres_events", "Repair events_raw (90 days), events_daily and "
                                    "events_monthly in Postgres; then re-run their read-back checks.", reconcile_postgres_events))
    if stores.influxdb:
        steps.append(_influxdb_step())
    if stores.community:
        from metrics_pipeline.community.postgres_sink import reconcile_community

        steps.append(_postgres_step("reconcile_postgres_community", "Repair community_activity and the community "
                                    "entity tables in Postgres; then re-run the read-back check.", reconcile_community))
    if stores.plugins:
        from metrics_pipeline.plugins.sink import reconcile_plugins

        steps.append(_postgres_step("reconcile_postgres_plugins", "Repair every installed plugin's Postgres tables; "
                                    "then re-run their read-back checks.", partial(reconcile_plugins, stores.plugins)))
    if stores.restatements:
        from metrics_pipeline.quality.restatement_sink import reconcile_restatements

        steps.append(_postgres_step("reconcile_postgres_restatements", "Make Postgres hold exactly the warehouse's "
                                    "restatement rows; then re-run the read-back check.", reconcile_restatements))
    return steps


def reconciliation_job(stores: Stores = Stores()) -> dg.JobDefinition:
    """The hub's tables, plus a step per configured optional sink; independent steps, so one sink
    being down does not stop the others."""
    steps = [reconcile_dynamodb_tables, reconcile_postgres_tables, *_optional_steps(stores)]

    @dg.job(name="sink_reconciliation_job", description="Compare every sink in full with the warehouse and repair "
            "drift made outside the pipeline (missing, changed and extra rows); then re-run each read-back check.")
    def _job():
        for step in steps:
            step()

    return _job


def reconciliation_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="sink_reconciliation_schedule",
        job=job,
        cron_schedule="30 4 * * *",  # daily, away from the 13:00 UTC metrics run
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        tags={TRIGGER_TAG: "reconciliation"},
    )
