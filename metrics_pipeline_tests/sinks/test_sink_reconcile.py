"""Drift made outside the pipeline: the read-back checks fail (ERROR), the reconciliation job
repairs the whole sink and its published state, and later incremental publishes stay exact."""

from datetime import date

import dagster as dg
import psycopg

from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks import postgres as pg
from metrics_pipeline.sinks.definitions import SINK_ASSETS
from metrics_pipeline.sinks.dynamodb import GITHUB_SINK, INSTALL_SINK, publish_github_activity, publish_install_activity
from metrics_pipeline.sinks.read_back import check_dynamodb, check_postgres
from metrics_pipeline.sinks.reconcile import reconciliation_job
from metrics_pipeline_tests.sinks.sink_helpers import (
    expected_github_items,
    expected_github_rows,
    expected_install_items,
    expected_install_rows,
    hub_scenario,
    scan_table,
    write_rollups,
)

AS_OF = date(2025, 3, 10)
RUN_CONFIG = {"ops": {"dynamodb__github_activity": {"config": {"as_of_date": AS_OF.isoformat()}}}}


def key(plugin, sort_key, range_key="type_timestamp"):
    return {"plugin_name": {"S": plugin}, range_key: {"S": sort_key}}


def tamper_dynamodb(dynamodb):
    """Someone edits the hub's tables by hand: deletes, changed values and types, strays."""
    client = dynamodb.client()
    installs, github = dynamodb.table_name("install-activity"), dynamodb.table_name("github-activity")
    client.delete_item(TableName=installs, Key=key("napari-foo", "DAY:20240229"))
    client.update_item(TableName=installs, Key=key("napari-foo", "TOTAL:"), UpdateExpression="SET install_count = :n",
                       ExpressionAttributeValues={":n": {"N": "999"}})
    client.update_item(TableName=installs, Key=key("napari-bar", "DAY:20240229"),
                       UpdateExpression="SET install_count = :s", ExpressionAttributeValues={":s": {"S": "9"}})
    client.put_item(TableName=installs, Item={**key("napari-ghost", "TOTAL:"), "install_count": {"N": "1"}})
    client.delete_item(TableName=github, Key=key("napari-foo", "LATEST:Org/Napari-Foo", "type_identifier"))
    client.update_item(TableName=github, Key=key("napari-foo", "TOTAL:Org/Napari-Foo", "type_identifier"),
                       UpdateExpression="SET note = :s", ExpressionAttributeValues={":s": {"S": "hand edit"}})


def tamper_postgres(dsn):
    with psycopg.connect(dsn) as connection:
        connection.execute("DELETE FROM install_activity WHERE plugin_name = 'napari-foo' AND period_start = '2024-03-01'"
                           " AND granularity = 'DAY'")
        connection.execute("UPDATE install_activity SET install_count = 1 WHERE plugin_name = 'napari-bar'"
                           " AND granularity = 'TOTAL'")
        connection.execute("INSERT INTO install_activity (plugin_name, granularity, period_start, install_count)"
                           " VALUES ('napari-ghost', 'DAY', '2024-01-01', 5)")


def read_postgres(dsn):
    with psycopg.connect(dsn) as connection:
        installs = set(connection.execute("SELECT plugin_name, granularity, period_start, install_count FROM install_activity"))
        github = set(connection.execute(
            "SELECT plugin_name, repo, granularity, period_start, commit_count, latest_commit_at FROM github_activity"))
    return installs, github


def test_reconciliation_repairs_drift_the_checks_caught_and_keeps_publishes_exact(warehouse, dynamodb, postgres_database):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    postgres = PostgresResource(dsn=postgres_database)
    resources = {"warehouse": warehouse, "dynamodb": dynamodb, "postgres": postgres}
    assert dg.materialize(SINK_ASSETS, resources=resources, run_config=RUN_CONFIG).success
    tamper_dynamodb(dynamodb)
    tamper_postgres(postgres_database)

    installs_check = check_dynamodb(INSTALL_SINK, warehouse, dynamodb)
    assert (installs_check.passed, installs_check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert (installs_check.metadata["missing"].value, installs_check.metadata["different"].value) == (1, 2)
    github_check = check_dynamodb(GITHUB_SINK, warehouse, dynamodb)
    assert (github_check.passed, github_check.metadata["missing"].value, github_check.metadata["different"].value) == (False, 1, 1)
    postgres_check = check_postgres(pg.INSTALL_ACTIVITY, warehouse, postgres)
    assert (postgres_check.passed, postgres_check.severity) == (False, dg.AssetCheckSeverity.ERROR)

    result = reconciliation_job().execute_in_process(  # the hub's tables: what every deployment has
        resources=resources, run_config={"ops": {"reconcile_dynamodb_tables": {"config": {"as_of_date": AS_OF.isoformat()}}}}
    )
    assert result.success
    repairs = {tuple(e.asset_key.path): {k: v.value for k, v in e.metadata.items()}
               for e in result.get_asset_observation_events() for e in [e.event_specific_data.asset_observation]}
    installs = repairs[("dynamodb", "install_activity")]
    assert (installs["repaired_missing"], installs["repaired_changed"], installs["deleted_extra"]) == (1, 2, 1)
    assert installs["published_records_corrected"] == 3  # the keys the check marked for rewrite
    assert (installs["scanned_items"], installs["desired_items"]) == (12, 12)  # one deleted, one stray
    github = repairs[("dynamodb", "github_activity")]
    assert (github["repaired_missing"], github["repaired_changed"], github["deleted_extra"]) == (1, 1, 0)
    pg_installs = repairs[("postgres", "install_activity")]
    assert (pg_installs["repaired_rows"], pg_installs["deleted_extra"]) == (2, 1)
    assert repairs[("postgres", "github_activity")]["repaired_rows"] == 0
    evaluations = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
    assert evaluations == {name: (True, dg.AssetCheckSeverity.ERROR) for name in (
        "dynamodb_install_activity_read_back", "dynamodb_github_activity_read_back",
        "postgres_install_activity_read_back", "postgres_github_activity_read_back")}

    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(rollups)
    assert scan_table(dynamodb, "github-activity", "type_identifier") == expected_github_items(rollups, AS_OF)
    assert read_postgres(postgres_database) == (expected_install_rows(rollups), expected_github_rows(rollups))

    # The published state matches the table again: an unchanged publish writes nothing, a change writes one item.
    assert publish_install_activity(warehouse, dynamodb)["written"] == 0
    assert publish_github_activity(warehouse, dynamodb, AS_OF)["written"] == 0
    rollups.daily[("napari-foo", date(2024, 3, 1))] = 60
    write_rollups(warehouse, rollups)
    changed = publish_install_activity(warehouse, dynamodb)
    assert (changed["written"], changed["deleted"]) == (1, 0)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(rollups)


def test_drift_the_check_finds_is_rewritten_by_the_next_publish(warehouse, dynamodb):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    publish_install_activity(warehouse, dynamodb)
    dynamodb.client().delete_item(TableName=dynamodb.table_name("install-activity"), Key=key("napari-bar", "TOTAL:"))
    failed = check_dynamodb(INSTALL_SINK, warehouse, dynamodb)
    assert (failed.passed, failed.metadata["missing"].value, failed.metadata["keys_awaiting_rewrite"].value) == (False, 1, 1)
    assert not check_dynamodb(INSTALL_SINK, warehouse, dynamodb).passed  # still ERROR until repaired
    assert publish_install_activity(warehouse, dynamodb)["written"] == 1
    assert check_dynamodb(INSTALL_SINK, warehouse, dynamodb).passed
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(rollups)


def test_reconciliation_job_is_scheduled_daily():
    from metrics_pipeline.sinks.definitions import definitions

    defs = definitions({})
    (schedule,) = [s for s in defs.schedules if s.name == "sink_reconciliation_schedule"]
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 4 * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert [job.name for job in defs.jobs] == ["sink_reconciliation_job"]
