"""Throttled and partially processed BatchWriteItem requests: retried until nothing is lost, or fail loudly."""

import pytest

from metrics_pipeline.resources.dynamodb import DynamoDBResource, DynamoDBWriteError
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_install_activity
from metrics_pipeline_tests.sinks.fault_proxy import FaultProxy
from metrics_pipeline_tests.sinks.sink_helpers import expected_install_items, many_install_rollups, scan_table, write_rollups


def resource(stack: str, endpoint: str, max_attempts: int = 12) -> DynamoDBResource:
    # botocore retries nothing, so every retry seen here is the sink's own loop.
    return DynamoDBResource(stack=stack, endpoint_url=endpoint, botocore_max_attempts=1, max_attempts=max_attempts,
                            base_backoff_seconds=0.005, max_backoff_seconds=0.05)


def test_nothing_is_lost_under_throttling(tmp_path, dynamodb_endpoint, dynamodb_stack):
    rollups = many_install_rollups(plugins=8, days=40)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    write_rollups(warehouse, rollups)
    proxy = FaultProxy(dynamodb_endpoint, throttle_every=3, partial_every=4).start()
    try:
        result = publish_install_activity(warehouse, resource(dynamodb_stack, proxy.endpoint))
    finally:
        proxy.stop()
    assert proxy.counts["throttled"] > 0 and proxy.counts["partial"] > 0
    assert result["retried_requests"] >= proxy.counts["throttled"] + proxy.counts["partial"]
    direct = resource(dynamodb_stack, dynamodb_endpoint)
    assert scan_table(direct, "install-activity", "type_timestamp") == expected_install_items(rollups)
    assert publish_install_activity(warehouse, direct)["written"] == 0


def test_a_partition_that_cannot_be_written_fails_and_is_not_published(tmp_path, dynamodb_endpoint, dynamodb_stack):
    rollups = many_install_rollups(plugins=3, days=20)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    write_rollups(warehouse, rollups)
    proxy = FaultProxy(dynamodb_endpoint, always_throttle=True).start()
    try:
        with pytest.raises(DynamoDBWriteError, match="after 3 attempts"):
            publish_install_activity(warehouse, resource(dynamodb_stack, proxy.endpoint, max_attempts=3))
    finally:
        proxy.stop()
    direct = resource(dynamodb_stack, dynamodb_endpoint)
    retry = publish_install_activity(warehouse, direct)
    assert retry["written"] == len(expected_install_items(rollups))
    assert scan_table(direct, "install-activity", "type_timestamp") == expected_install_items(rollups)


def test_non_retryable_errors_fail_at_once(dynamodb_endpoint, dynamodb_stack):
    writer = resource(dynamodb_stack, dynamodb_endpoint)
    item = {"plugin_name": {"S": "napari-foo"}, "type_timestamp": {"S": "TOTAL:"}}
    with pytest.raises(DynamoDBWriteError, match="ResourceNotFoundException"):
        writer.write_batches(writer.table_name("install-activity"), [{"PutRequest": {"Item": item}}])
