"""A sink write SIGKILLed mid-flight (a real process), then rerun, leaves exactly the expected state."""

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_install_activity
from metrics_pipeline.sinks.postgres import INSTALL_ACTIVITY, publish
from metrics_pipeline_tests.sinks.sink_helpers import (
    expected_install_items,
    expected_install_rows,
    many_install_rollups,
    scan_table,
    write_rollups,
)

# Pauses the writer at a known point (signalled by a marker file) so the kill lands mid-write.
DYNAMODB_WRITER = """
import sys, time
from pathlib import Path
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_install_activity
warehouse, stack, endpoint, marker = sys.argv[1:5]
def on_batch(done):
    if done >= 3:
        Path(marker).touch()
        time.sleep(3600)
publish_install_activity(DuckDBWarehouse(path=warehouse), DynamoDBResource(stack=stack, endpoint_url=endpoint, max_workers=2), on_batch)
"""

POSTGRES_WRITER = """
import sys, time
from pathlib import Path
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.postgres import INSTALL_ACTIVITY, publish
warehouse, dsn, marker = sys.argv[1:4]
def before_commit():
    Path(marker).touch()
    time.sleep(3600)
publish(INSTALL_ACTIVITY, DuckDBWarehouse(path=warehouse), PostgresResource(dsn=dsn), before_commit)
"""


def run_until_marker_then_kill(script: str, args: list[str], marker: Path, during=None) -> None:
    process = subprocess.Popen([sys.executable, "-c", script, *args])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, f"writer exited early with {process.returncode}"
            assert time.monotonic() < deadline, "writer never reached the pause point"
            time.sleep(0.05)
        if during is not None:
            during()
    finally:
        process.kill()  # SIGKILL, by PID
        process.wait(timeout=30)
    assert process.returncode == -9


def test_dynamodb_kill_then_rerun(tmp_path, dynamodb_endpoint, dynamodb_stack):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    dynamodb = DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint)
    first = many_install_rollups(plugins=4, days=30)
    write_rollups(warehouse, first)
    publish_install_activity(warehouse, dynamodb)

    # The killed run adds a new plugin (sorted first, so written before the kill) and changes counts.
    second = many_install_rollups(plugins=4, days=30)
    second.daily.update({("napari-aaa-new", date(2024, 1, 1 + d)): 1 for d in range(30)})
    second.total["napari-aaa-new"] = 30
    for key in [k for k in second.daily if k[0] != "napari-aaa-new"]:
        second.daily[key] += 100
    write_rollups(warehouse, second)
    marker = tmp_path / "paused"
    run_until_marker_then_kill(DYNAMODB_WRITER, [warehouse.path, dynamodb_stack, dynamodb_endpoint, str(marker)], marker)
    killed_state = scan_table(dynamodb, "install-activity", "type_timestamp")
    assert killed_state != expected_install_items(second)  # the kill landed mid-write
    assert any(plugin == "napari-aaa-new" for plugin, _ in killed_state)

    # By the rerun the new plugin is gone again: items the killed run wrote must be deleted.
    third = many_install_rollups(plugins=4, days=30)
    third.daily[("napari-p001", date(2024, 1, 5))] = 777
    write_rollups(warehouse, third)
    publish_install_activity(warehouse, dynamodb)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(third)
    assert publish_install_activity(warehouse, dynamodb)["written"] == 0


def test_postgres_kill_mid_transaction_then_rerun(tmp_path, postgres_database):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    postgres = PostgresResource(dsn=postgres_database)
    first = many_install_rollups(plugins=4, days=30)
    write_rollups(warehouse, first)
    publish(INSTALL_ACTIVITY, warehouse, postgres)

    second = many_install_rollups(plugins=3, days=45)
    write_rollups(warehouse, second)

    def rows() -> set:
        with psycopg.connect(postgres_database) as connection:
            return set(connection.execute("SELECT plugin_name, granularity, period_start, install_count FROM install_activity"))

    def readers_see_the_old_table():
        assert rows() == expected_install_rows(first)

    marker = tmp_path / "paused"
    run_until_marker_then_kill(POSTGRES_WRITER, [warehouse.path, postgres_database, str(marker)], marker,
                               during=readers_see_the_old_table)
    assert rows() == expected_install_rows(first)
    result = publish(INSTALL_ACTIVITY, warehouse, postgres)
    assert result["written"] > 0
    assert rows() == expected_install_rows(second)
    assert publish(INSTALL_ACTIVITY, warehouse, postgres)["written"] == 0
