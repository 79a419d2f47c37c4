"""Data status for readers: the last complete day of each source, published beside the sinks' metrics.

The read API cannot derive it from the sinks' tables (a day without commits leaves no row),
so each sink publish also writes it: `publish_status(warehouse, dynamodb=..., postgres=...)`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import duckdb
from botocore.exceptions import ClientError

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb_tables import describe_table

SOURCES = ("installs", "commits")
STATUS_TABLE = "pipeline-status"  # DynamoDB: {stack}-pipeline-status, key `source`
# The newest day whose raw partition landed, per source (the late-data sensor's fingerprints).
LAST_COMPLETE_DAYS_SQL = "SELECT source, max(day) FROM source_fingerprints WHERE source_rows >= 0 GROUP BY source"
# Created by the publisher itself (not a sinks migration), so the sinks' schema history is untouched.
CREATE_SQL = """
CREATE TABLE IF NOT EXISTS pipeline_status (
    source            text        PRIMARY KEY CHECK (source IN ('installs', 'commits')),
    last_complete_day date,
    recorded_at       timestamptz NOT NULL DEFAULT now()
)
"""
UPSERT_SQL = """
INSERT INTO pipeline_status (source, last_complete_day, recorded_at) VALUES (%s, %s, now())
ON CONFLICT (source) DO UPDATE SET last_complete_day = excluded.last_complete_day, recorded_at = excluded.recorded_at
WHERE pipeline_status.last_complete_day IS DISTINCT FROM excluded.last_complete_day
"""


def last_complete_days(con: duckdb.DuckDBPyConnection) -> dict[str, date | None]:
    found = dict(con.execute(LAST_COMPLETE_DAYS_SQL).fetchall())
    return {source: found.get(source) for source in SOURCES}


def ensure_status_table(dynamodb: DynamoDBResource, client: Any) -> str:
    """Create the status table only when it is missing: a role without CreateTable can still publish."""
    name = dynamodb.table_name(STATUS_TABLE)
    if describe_table(client, name) is not None:
        return name
    try:
        client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
        )
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    return name


def publish_status_dynamodb(dynamodb: DynamoDBResource, days: dict[str, date | None]) -> int:
    """Put one item per source (`last_complete_day` YYYY-MM-DD, absent when nothing landed)."""
    client = dynamodb.client()
    table = ensure_status_table(dynamodb, client)
    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    for source in SOURCES:
        item = {"source": {"S": source}, "recorded_at": {"N": now_ms}}
        if days.get(source) is not None:
            item["last_complete_day"] = {"S": days[source].isoformat()}
        client.put_item(TableName=table, Item=item)
    return len(SOURCES)


def publish_status_postgres(postgres: PostgresResource, days: dict[str, date | None]) -> int:
    """Upsert `pipeline_status` in one transaction; returns rows changed."""
    with postgres.connect() as connection:
        with connection.transaction():
            connection.execute(CREATE_SQL)
            return sum(connection.execute(UPSERT_SQL, [s, days.get(s)]).rowcount for s in SOURCES)


def publish_status(
    warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource | None = None, postgres: PostgresResource | None = None
) -> dict:
    """Read the last complete days from the warehouse and publish them to the given sinks."""
    with warehouse.connect() as con:
        days = last_complete_days(con)
    if dynamodb is not None:
        publish_status_dynamodb(dynamodb, days)
    if postgres is not None:
        publish_status_postgres(postgres, days)
    return {f"last_complete_day_{s}": d.isoformat() if d else None for s, d in days.items()}
