"""DynamoDB sink against moto_server: exact items, the hub's read patterns, diffs and reruns."""

from datetime import UTC, date, datetime

import dagster as dg

from metrics_pipeline.sinks.assets import dynamodb_github_activity, dynamodb_install_activity
from metrics_pipeline.sinks.dynamodb import (
    github_month_window,
    publish_github_activity,
    publish_install_activity,
)
from metrics_pipeline.sinks.dynamodb_tables import ensure_tables
from metrics_pipeline_tests.sinks.sink_helpers import (
    expected_github_items,
    expected_install_items,
    hub_scenario,
    plain,
    scan_table,
    write_rollups,
)

AS_OF = date(2025, 3, 10)


def materialize(warehouse, dynamodb, as_of=AS_OF) -> dict[str, dict]:
    result = dg.materialize(
        [dynamodb_install_activity, dynamodb_github_activity],
        resources={"warehouse": warehouse, "dynamodb": dynamodb},
        run_config={"ops": {"dynamodb__github_activity": {"config": {"as_of_date": as_of.isoformat()}}}},
    )
    assert result.success
    return {
        name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
        for name in ("dynamodb__install_activity", "dynamodb__github_activity")
    }


def test_github_month_window_is_fifteen_calendar_months():
    assert github_month_window(date(2025, 3, 10)) == (date(2024, 1, 1), date(2025, 3, 1))
    assert github_month_window(date(2025, 1, 31)) == (date(2023, 11, 1), date(2025, 1, 1))


def test_items_equal_rollups_and_hub_reads_work(warehouse, dynamodb):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    metadata = materialize(warehouse, dynamodb)

    installs = scan_table(dynamodb, "install-activity", "type_timestamp")
    assert installs == expected_install_items(rollups)
    assert installs[("napari-foo", "DAY:20240229")] == {"type": "DAY", "install_count": 5, "timestamp": 1709164800000}
    assert installs[("napari-foo", "MONTH:202312")]["timestamp"] == 1701388800000
    github = scan_table(dynamodb, "github-activity", "type_identifier")
    assert github == expected_github_items(rollups, AS_OF)
    assert ("napari-foo", "MONTH:202312:Org/Napari-Foo") not in github  # before the window
    assert github[("napari-foo", "MONTH:202401:Org/Napari-Foo")]["expiry"] == 1740787200  # 2025-03-01
    assert github[("napari-foo", "LATEST:Org/Napari-Foo")]["timestamp"] == 1740916800500

    assert metadata["dynamodb__install_activity"]["written"] == len(installs)
    assert metadata["dynamodb__github_activity"]["written"] == len(github)
    assert metadata["dynamodb__github_activity"]["month_window_start"] == "2024-01-01"

    client, installs_table = dynamodb.client(), dynamodb.table_name("install-activity")
    github_table = dynamodb.table_name("github-activity")
    total = client.get_item(TableName=installs_table, Key={"plugin_name": {"S": "napari-foo"}, "type_timestamp": {"S": "TOTAL:"}})
    assert plain(total["Item"])["install_count"] == 18
    days = client.query(
        TableName=installs_table,
        KeyConditionExpression="plugin_name = :p AND type_timestamp BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "napari-foo"}, ":a": {"S": "DAY:20240101"}, ":b": {"S": "DAY:20240301"}},
    )["Items"]
    assert [(plain(i)["timestamp"], plain(i)["install_count"]) for i in days] == [
        (1704067200000, 4), (1709164800000, 5), (1709251200000, 6)]
    months = client.query(
        TableName=installs_table,
        KeyConditionExpression="plugin_name = :p AND type_timestamp BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "napari-foo"}, ":a": {"S": "MONTH:202312"}, ":b": {"S": "MONTH:202402"}},
    )["Items"]
    assert [plain(i)["install_count"] for i in months] == [3, 4, 5]
    gsi = client.query(
        TableName=installs_table, IndexName=f"{dynamodb.stack}-total-installs",
        KeyConditionExpression="plugin_name = :p AND is_total = :t",
        ExpressionAttributeValues={":p": {"S": "napari-bar"}, ":t": {"S": "true"}},
    )["Items"]
    assert [plain(i)["install_count"] for i in gsi] == [9]
    for key, attribute, value in [("LATEST:Org/Napari-Foo", "timestamp", 1740916800500), ("TOTAL:Org/Napari-Foo", "commit_count", 14)]:
        item = client.get_item(TableName=github_table, Key={"plugin_name": {"S": "napari-foo"}, "type_identifier": {"S": key}})
        assert plain(item["Item"])[attribute] == value
    commit_months = client.query(
        TableName=github_table,
        KeyConditionExpression="plugin_name = :p AND type_identifier BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "napari-foo"}, ":a": {"S": "MONTH:202401"}, ":b": {"S": "MONTH:202503:~"}},
    )["Items"]
    assert [plain(i)["commit_count"] for i in commit_months] == [3, 4, 5]


def test_rerun_writes_nothing_and_changes_are_exact(warehouse, dynamodb):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    materialize(warehouse, dynamodb)
    again = materialize(warehouse, dynamodb)
    for name in ("dynamodb__install_activity", "dynamodb__github_activity"):
        assert (again[name]["written"], again[name]["deleted"], again[name]["batch_requests"]) == (0, 0, 0)
        assert (again[name]["desired_items"], again[name]["scope"]) == (0, "nothing")  # nothing changed: nothing read

    rollups.daily[("napari-foo", date(2024, 2, 29))] = 50  # a changed day
    rollups.total["napari-foo"] = 63
    del rollups.daily[("napari-bar", date(2024, 2, 29))]  # vanished items
    del rollups.monthly[("napari-bar", date(2024, 2, 1))]
    del rollups.total["napari-bar"]
    del rollups.total_commits[("napari-foo", "Org/Napari-Foo")]
    write_rollups(warehouse, rollups)
    later = date(2025, 4, 2)  # the window moves: 2024-01 leaves, nothing else changes
    changed = materialize(warehouse, dynamodb, as_of=later)
    assert (changed["dynamodb__install_activity"]["written"], changed["dynamodb__install_activity"]["deleted"]) == (2, 3)
    assert (changed["dynamodb__github_activity"]["written"], changed["dynamodb__github_activity"]["deleted"]) == (0, 2)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(rollups)
    assert scan_table(dynamodb, "github-activity", "type_identifier") == expected_github_items(rollups, later)


def test_recreated_table_is_rewritten_in_full(warehouse, dynamodb):
    """Published state belongs to one table instance: a new, empty table gets every item."""
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    materialize(warehouse, dynamodb)
    dynamodb.client().delete_table(TableName=dynamodb.table_name("install-activity"))
    result = publish_install_activity(warehouse, dynamodb)
    assert result["written"] == len(expected_install_items(rollups))
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(rollups)


def test_ensure_tables_is_idempotent_and_sets_gsi_and_ttl(dynamodb):
    first = ensure_tables(dynamodb)
    assert ensure_tables(dynamodb) == first
    client = dynamodb.client()
    table = client.describe_table(TableName=dynamodb.table_name("install-activity"))["Table"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == f"{dynamodb.stack}-total-installs"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["plugin_name", "is_total"]
    assert sorted(index["Projection"]["NonKeyAttributes"]) == ["install_count", "last_updated_timestamp"]
    ttl = client.describe_time_to_live(TableName=dynamodb.table_name("github-activity"))["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiry")


def test_assets_declare_kinds_and_rollup_deps():
    assert dynamodb_install_activity.specs_by_key[dg.AssetKey(["dynamodb", "install_activity"])].kinds == {"dynamodb"}
    deps = {dep.asset_key for dep in dynamodb_github_activity.specs_by_key[dg.AssetKey(["dynamodb", "github_activity"])].deps}
    assert deps == {dg.AssetKey(n) for n in ("monthly_commits", "opening_commits", "total_commits", "latest_commits")}


def test_publish_github_defaults_to_today(warehouse, dynamodb):
    write_rollups(warehouse, hub_scenario())
    result = publish_github_activity(warehouse, dynamodb)
    assert result["month_window_end"] == datetime.now(UTC).date().replace(day=1).isoformat()


def test_ensure_tables_adds_a_missing_gsi(dynamodb):
    client, name = dynamodb.client(), dynamodb.table_name("install-activity")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "plugin_name", "AttributeType": "S"},
                              {"AttributeName": "type_timestamp", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "plugin_name", "KeyType": "HASH"}, {"AttributeName": "type_timestamp", "KeyType": "RANGE"}],
    )
    ensure_tables(dynamodb)
    indexes = client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    assert [index["IndexName"] for index in indexes] == [f"{dynamodb.stack}-total-installs"]


def test_a_table_written_by_someone_else_is_adopted_exactly(warehouse, dynamodb):
    """First run against the old pipeline's table: stale values are rewritten, strays deleted."""
    ensure_tables(dynamodb)
    client, table = dynamodb.client(), dynamodb.table_name("install-activity")
    strays = [("napari-gone", "TOTAL:"), ("napari-foo", "DAY:20200101"), ("napari-foo", "TOTAL:")]
    for plugin, sort_key in strays:
        client.put_item(TableName=table, Item={"plugin_name": {"S": plugin}, "type_timestamp": {"S": sort_key},
                                               "install_count": {"N": "1"}, "type": {"S": sort_key.split(":")[0]}})
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    result = publish_install_activity(warehouse, dynamodb)
    assert (result["adopted_existing_keys"], result["deleted"]) == (3, 2)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(rollups)
    assert publish_install_activity(warehouse, dynamodb)["written"] == 0


def test_a_restored_table_with_our_keys_is_rewritten(warehouse, dynamodb):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    publish_install_activity(warehouse, dynamodb)
    with warehouse.connect() as con:  # as if the table had been restored from a backup
        con.execute("UPDATE sink_targets SET target_id = 'another table' WHERE sink = 'dynamodb:install-activity'")
    result = publish_install_activity(warehouse, dynamodb)
    expected = expected_install_items(rollups)
    assert (result["adopted_existing_keys"], result["written"], result["deleted"]) == (len(expected), len(expected), 0)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected
