"""The DynamoDB sink builds and writes its puts a chunk at a time, and records them a chunk a
transaction: results equal one big write, deletes still happen, and progress keeps counting across chunks."""

from datetime import date

import metrics_pipeline.sinks.dynamodb as sink_module
import metrics_pipeline.sinks.published as published_module
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_install_activity
from metrics_pipeline_tests.sinks.sink_helpers import expected_install_items, many_install_rollups, scan_table, write_rollups


def test_chunked_puts_and_deletes_equal_the_rollups(tmp_path, monkeypatch, dynamodb_endpoint, dynamodb_stack):
    monkeypatch.setattr(sink_module, "PUT_CHUNK", 10)
    monkeypatch.setattr(published_module, "CHUNK_ROWS", 7)  # sink_published is set 7 keys a transaction
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    dynamodb = DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint)
    first = many_install_rollups(plugins=3, days=20)  # 60 DAY + 3 MONTH + 3 TOTAL = 66 items: 7 chunks
    write_rollups(warehouse, first)
    progress: list[int] = []
    result = publish_install_activity(warehouse, dynamodb, progress.append)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(first)
    assert (result["written"], result["deleted"]) == (66, 0)
    assert progress == [1, 2, 3, 4, 5, 6, 7]  # one 10-item batch per chunk, numbered across chunks

    # napari-p002 vanishes (22 deletes, sent after the puts); napari-p000's day 2024-01-05 changes,
    # and with it its January and total items: 3 puts.
    second = many_install_rollups(plugins=2, days=20)
    second.daily[("napari-p000", date(2024, 1, 5))] += 100
    second.monthly[("napari-p000", date(2024, 1, 1))] += 100
    second.total["napari-p000"] += 100
    write_rollups(warehouse, second)
    result = publish_install_activity(warehouse, dynamodb)
    assert (result["written"], result["deleted"], result["unchanged"]) == (3, 22, 41)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(second)
    assert publish_install_activity(warehouse, dynamodb)["written"] == 0
