"""Raw files -> real rollup assets -> both sinks; hub-style reads return numbers computed by hand."""

from datetime import UTC, date, datetime

import dagster as dg
import psycopg

from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.assets import SINK_ASSETS
from metrics_pipeline_tests.scenario import Commit, Download
from metrics_pipeline_tests.sinks.sink_helpers import plain

SHA = [f"{i:040x}" for i in range(1, 20)]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_raw_files_to_hub_reads(scenario, dynamodb_endpoint, dynamodb_stack, postgres_database):
    scenario.set_registry([("Napari_Foo", "https://github.com/Org/Foo"), ("napari-bar", "https://github.com/org/bar/")])
    scenario.downloads.write([
        Download("2024-02-28 23:59:59", "napari-foo", times=2),
        Download("2024-02-29 00:00:00", "napari-foo", times=3),  # leap day
        Download("2024-02-29 12:00:00", "NAPARI.FOO"),  # another spelling of the same plugin
        Download("2024-03-01 00:00:01", "napari-foo", times=4),
        Download("2024-03-01 10:00:00", "napari-foo", ci=True, times=5),  # CI: not counted
        Download("2024-03-01 10:00:00", "napari-bar", times=2),
    ])
    scenario.commits.write([
        Commit("org/foo", SHA[0], "2024-02-10 10:00:00"),
        Commit("Org/Foo", SHA[1], "2024-02-29 23:00:00"),
        Commit("ORG/FOO", SHA[2], "2024-03-01 08:00:00"),
        Commit("org/bar", SHA[3], "2024-03-01 09:00:00"),
    ])
    assert scenario.materialize([raw_installs, daily_installs], "2024-02-28", "2024-03-01").success
    assert scenario.materialize([monthly_installs], "2024-02-01", "2024-03-01").success
    assert scenario.materialize([raw_commits], "2024-02-10", "2024-03-01").success
    assert scenario.materialize([monthly_commits], "2024-02-01", "2024-03-01").success
    assert scenario.materialize([total_installs, total_commits, latest_commits]).success

    dynamodb = DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint)
    resources = {**scenario.resources(), "dynamodb": dynamodb, "postgres": PostgresResource(dsn=postgres_database)}
    run_config = {"ops": {"dynamodb__github_activity": {"config": {"as_of_date": "2024-03-15"}}}}
    first = dg.materialize(SINK_ASSETS, resources=resources, instance=scenario.instance, run_config=run_config)
    assert first.success

    client = dynamodb.client()
    installs, github = dynamodb.table_name("install-activity"), dynamodb.table_name("github-activity")

    def get(table, sort_key, plugin="napari-foo", key="type_timestamp"):
        return plain(client.get_item(TableName=table, Key={"plugin_name": {"S": plugin}, key: {"S": sort_key}})["Item"])

    def query(table, low, high, plugin="napari-foo", key="type_timestamp"):
        return [plain(i) for i in client.query(
            TableName=table, KeyConditionExpression=f"plugin_name = :p AND {key} BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": plugin}, ":a": {"S": low}, ":b": {"S": high}})["Items"]]

    assert get(installs, "TOTAL:")["install_count"] == 10
    assert get(installs, "TOTAL:", "napari-bar")["install_count"] == 2
    assert [(i["timestamp"], i["install_count"]) for i in query(installs, "DAY:20240228", "DAY:20240301")] == [
        (ms("2024-02-28"), 2), (ms("2024-02-29"), 4), (ms("2024-03-01"), 4)]
    assert [(i["timestamp"], i["install_count"]) for i in query(installs, "MONTH:202401", "MONTH:202412")] == [
        (ms("2024-02-01"), 6), (ms("2024-03-01"), 4)]
    gsi = client.query(
        TableName=installs, IndexName=f"{dynamodb_stack}-total-installs",
        KeyConditionExpression="plugin_name = :p AND is_total = :t",
        ExpressionAttributeValues={":p": {"S": "napari-foo"}, ":t": {"S": "true"}})["Items"]
    assert [plain(i)["install_count"] for i in gsi] == [10]
    assert get(github, "LATEST:Org/Foo", key="type_identifier")["timestamp"] == ms("2024-03-01 08:00:00")
    assert get(github, "TOTAL:Org/Foo", key="type_identifier")["commit_count"] == 3
    assert get(github, "TOTAL:org/bar", "napari-bar", key="type_identifier")["commit_count"] == 1
    assert [(i["commit_count"], i["expiry"]) for i in query(github, "MONTH:202402", "MONTH:202403:~", key="type_identifier")] == [
        (2, ms("2025-04-01") // 1000), (1, ms("2025-05-01") // 1000)]

    with psycopg.connect(postgres_database) as connection:
        assert sorted(connection.execute(
            "SELECT plugin_name, granularity, period_start, install_count FROM install_activity"), key=str) == sorted([
            ("napari-bar", "DAY", date(2024, 3, 1), 2), ("napari-bar", "MONTH", date(2024, 3, 1), 2),
            ("napari-bar", "TOTAL", None, 2), ("napari-foo", "DAY", date(2024, 2, 28), 2),
            ("napari-foo", "DAY", date(2024, 2, 29), 4), ("napari-foo", "DAY", date(2024, 3, 1), 4),
            ("napari-foo", "MONTH", date(2024, 2, 1), 6), ("napari-foo", "MONTH", date(2024, 3, 1), 4),
            ("napari-foo", "TOTAL", None, 10)], key=str)
        assert sorted(connection.execute(
            "SELECT plugin_name, repo, granularity, period_start, commit_count, latest_commit_at FROM github_activity"), key=str) == sorted([
            ("napari-bar", "org/bar", "MONTH", date(2024, 3, 1), 1, None),
            ("napari-bar", "org/bar", "TOTAL", None, 1, None),
            ("napari-bar", "org/bar", "LATEST", None, None, datetime(2024, 3, 1, 9, tzinfo=UTC)),
            ("napari-foo", "Org/Foo", "MONTH", date(2024, 2, 1), 2, None),
            ("napari-foo", "Org/Foo", "MONTH", date(2024, 3, 1), 1, None),
            ("napari-foo", "Org/Foo", "TOTAL", None, 3, None),
            ("napari-foo", "Org/Foo", "LATEST", None, None, datetime(2024, 3, 1, 8, tzinfo=UTC))], key=str)

    again = dg.materialize(SINK_ASSETS, resources=resources, instance=scenario.instance, run_config=run_config)
    for asset in SINK_ASSETS:
        (materialization,) = again.asset_materializations_for_node(asset.op.name)
        assert materialization.metadata["written"].value == 0
        assert materialization.metadata["deleted"].value == 0
    assert [c.passed for c in again.get_asset_check_evaluations()] == [True] * 4

    # Drift made outside the pipeline: the rerun writes nothing (it trusts what it published),
    # and the read-back checks catch it.
    client.update_item(TableName=installs, Key={"plugin_name": {"S": "napari-foo"}, "type_timestamp": {"S": "TOTAL:"}},
                       UpdateExpression="SET install_count = :n", ExpressionAttributeValues={":n": {"N": "11"}})
    client.delete_item(TableName=github, Key={"plugin_name": {"S": "napari-bar"}, "type_identifier": {"S": "TOTAL:org/bar"}})
    with psycopg.connect(postgres_database) as connection:
        connection.execute("DELETE FROM github_activity WHERE granularity = 'LATEST' AND repo = 'org/bar'")
    drifted = dg.materialize(SINK_ASSETS, resources=resources, instance=scenario.instance,
                             run_config=run_config, raise_on_error=False)
    assert not drifted.success  # the read-back checks are blocking
    outcome = {e.check_name: (e.passed, e.metadata.get("different"), e.metadata.get("missing"))
               for e in drifted.get_asset_check_evaluations()}
    assert outcome["dynamodb_install_activity_read_back"][:2] == (False, dg.IntMetadataValue(1))
    assert outcome["dynamodb_github_activity_read_back"][0] is False
    assert outcome["dynamodb_github_activity_read_back"][2] == dg.IntMetadataValue(1)
    assert outcome["postgres_install_activity_read_back"][0] is True
    # A publish compares only what changed, so the deleted Postgres row is caught here, repaired by reconciliation.
    assert outcome["postgres_github_activity_read_back"][0] is False
