"""Create the hub's two DynamoDB tables, the total-installs GSI and the TTL where missing (idempotent).

Run by the sink assets before writing, or by hand: `python -m metrics_pipeline.sinks.dynamodb_tables`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from botocore.exceptions import ClientError

from metrics_pipeline.resources.dynamodb import DynamoDBResource

INSTALL_ACTIVITY = "install-activity"
GITHUB_ACTIVITY = "github-activity"
TOTAL_INSTALLS_INDEX = "total-installs"  # full name: {stack}-total-installs
TTL_ATTRIBUTE = "expiry"

_KEYS = {
    INSTALL_ACTIVITY: ("plugin_name", "type_timestamp"),
    GITHUB_ACTIVITY: ("plugin_name", "type_identifier"),
}


def _total_installs_gsi(stack: str) -> dict:
    return {
        "IndexName": f"{stack}-{TOTAL_INSTALLS_INDEX}",
        "KeySchema": [
            {"AttributeName": "plugin_name", "KeyType": "HASH"},
            {"AttributeName": "is_total", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["install_count", "last_updated_timestamp"]},
    }


def describe_table(client: Any, name: str) -> dict | None:
    """The table's description, or None when it does not exist."""
    try:
        return client.describe_table(TableName=name)["Table"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def _wait_active(client: Any, name: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        table = describe_table(client, name)
        indexes_ready = all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in (table or {}).get("GlobalSecondaryIndexes", []))
        if table and table.get("TableStatus") == "ACTIVE" and indexes_ready:
            return table
        if time.monotonic() > deadline:
            raise TimeoutError(f"DynamoDB table {name} did not become ACTIVE within {timeout:.0f}s")
        time.sleep(0.5)


def ensure_tables(dynamodb: DynamoDBResource, client: Any | None = None) -> dict[str, str]:
    """Create what is missing; returns {table name: identity (ARN + creation time)} for diffing."""
    client = client or dynamodb.client()
    targets = {}
    for suffix, (hash_key, range_key) in _KEYS.items():
        name = dynamodb.table_name(suffix)
        table = describe_table(client, name)
        if table is None:
            attributes = [{"AttributeName": hash_key, "AttributeType": "S"}, {"AttributeName": range_key, "AttributeType": "S"}]
            extra = {}
            if suffix == INSTALL_ACTIVITY:
                attributes.append({"AttributeName": "is_total", "AttributeType": "S"})
                extra["GlobalSecondaryIndexes"] = [_total_installs_gsi(dynamodb.stack)]
            try:
                client.create_table(
                    TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=attributes,
                    KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}],
                    **extra,
                )
            except ClientError as error:  # another process created it first
                if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise
        elif suffix == INSTALL_ACTIVITY and not any(
            index["IndexName"] == f"{dynamodb.stack}-{TOTAL_INSTALLS_INDEX}" for index in table.get("GlobalSecondaryIndexes", [])
        ):
            client.update_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": "plugin_name", "AttributeType": "S"},
                    {"AttributeName": "is_total", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexUpdates=[{"Create": _total_installs_gsi(dynamodb.stack)}],
            )
        table = _wait_active(client, name)
        if suffix == GITHUB_ACTIVITY:
            ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
                )
        targets[name] = f"{table['TableArn']}|{table['CreationDateTime'].isoformat()}"
    return targets


if __name__ == "__main__":
    resource = DynamoDBResource(
        stack=os.environ["METRICS_DYNAMODB_STACK"],
        endpoint_url=os.environ.get("METRICS_DYNAMODB_ENDPOINT_URL") or None,
    )
    for table_name in ensure_tables(resource):
        print(f"ready: {table_name}")
