"""Items DynamoDB cannot store are quarantined with a count; the rest of the sink is written and
later runs neither fail nor offer the same item again."""

import hashlib
from datetime import date, datetime

import dagster as dg
import psycopg

from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.assets import dynamodb_github_activity, dynamodb_install_activity
from metrics_pipeline.sinks.dynamodb import INSTALL_SINK
from metrics_pipeline.sinks.dynamodb_tables import ensure_tables
from metrics_pipeline.sinks.assets import postgres_github_activity, postgres_install_activity
from metrics_pipeline.sinks.quarantine import (
    ITEM_TOO_LARGE,
    PARTITION_KEY_TOO_LONG,
    POSTGRES_KEY_TOO_LONG,
    SORT_KEY_TOO_LONG,
    item_refusal,
    write_isolating,
)
from metrics_pipeline.sinks.reconcile import reconcile_dynamodb
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
LONG = "napari-" + "é" * 1100  # 1,107 characters, 2,207 UTF-8 bytes: over the 2,048-byte key limit


def materialize(warehouse, dynamodb) -> dict[str, dict]:
    result = dg.materialize(
        [dynamodb_install_activity, dynamodb_github_activity],
        resources={"warehouse": warehouse, "dynamodb": dynamodb},
        run_config={"ops": {"dynamodb__github_activity": {"config": {"as_of_date": AS_OF.isoformat()}}}},
    )
    assert result.success
    return {name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
            for name in ("dynamodb__install_activity", "dynamodb__github_activity")}


def item(pk: str, sk: str, **extra) -> dict:
    return {"plugin_name": {"S": pk}, "type_timestamp": {"S": sk}, "install_count": {"N": "1"}, **extra}


def test_limits_are_utf8_bytes():
    assert item_refusal(item("a" * 2048, "TOTAL:"), "plugin_name", "type_timestamp") is None
    assert item_refusal(item("é" * 1024, "TOTAL:"), "plugin_name", "type_timestamp") is None  # 2,048 bytes
    assert item_refusal(item("é" * 1025, "TOTAL:"), "plugin_name", "type_timestamp").reason == PARTITION_KEY_TOO_LONG
    assert item_refusal(item("a", "D" * 1025), "plugin_name", "type_timestamp").reason == SORT_KEY_TOO_LONG
    big = item_refusal(item("a", "TOTAL:", note={"S": "x" * 410_000}), "plugin_name", "type_timestamp")
    assert (big.reason, big.key_ok) == (ITEM_TOO_LARGE, True)


def test_a_plugin_name_over_the_key_limit_is_quarantined_and_the_rest_is_written(warehouse, dynamodb):
    rollups = hub_scenario()
    clean = hub_scenario()
    rollups.daily[(LONG, date(2024, 2, 29))] = 2
    rollups.monthly[(LONG, date(2024, 2, 1))] = 2
    rollups.total[LONG] = 2
    rollups.latest_commits[(LONG, "Org/Long")] = datetime(2025, 3, 1, 8)
    write_rollups(warehouse, rollups)

    first = materialize(warehouse, dynamodb)
    installs, github = first["dynamodb__install_activity"], first["dynamodb__github_activity"]
    assert (installs["written"], installs["quarantined_now"], installs["quarantined_items"]) == (12, 3, 3)
    assert installs["quarantine_reasons"] == {PARTITION_KEY_TOO_LONG: 3}
    assert "(2207 bytes) TOTAL:" in installs["quarantine_examples"]
    assert (github["written"], github["quarantined_now"]) == (len(expected_github_items(clean, AS_OF)), 1)
    assert scan_table(dynamodb, "install-activity", "type_timestamp") == expected_install_items(clean)
    assert scan_table(dynamodb, "github-activity", "type_identifier") == expected_github_items(clean, AS_OF)
    with warehouse.connect() as con:
        assert con.execute("SELECT sink, sk, reason FROM sink_quarantine ORDER BY sink, sk").fetchall() == [
            ("dynamodb:github-activity", "LATEST:Org/Long", PARTITION_KEY_TOO_LONG),
            ("dynamodb:install-activity", "DAY:20240229", PARTITION_KEY_TOO_LONG),
            ("dynamodb:install-activity", "MONTH:202402", PARTITION_KEY_TOO_LONG),
            ("dynamodb:install-activity", "TOTAL:", PARTITION_KEY_TOO_LONG),
        ]
        assert con.execute("SELECT count(*) FROM sink_published WHERE pk = ?", [LONG]).fetchone() == (0,)

    again = materialize(warehouse, dynamodb)["dynamodb__install_activity"]  # not offered again, still visible
    assert (again["written"], again["quarantined_now"], again["quarantined_items"], again["batch_requests"]) == (0, 0, 3, 0)
    rollups.total[LONG] = 3  # a changed value is checked again (locally) and stays quarantined
    write_rollups(warehouse, rollups)
    changed = materialize(warehouse, dynamodb)["dynamodb__install_activity"]
    assert (changed["written"], changed["quarantined_now"], changed["quarantined_items"]) == (0, 1, 3)

    repairs = reconcile_dynamodb(INSTALL_SINK, warehouse, dynamodb, {})
    assert (repairs["repaired_missing"], repairs["repaired_changed"], repairs["deleted_extra"]) == (0, 0, 0)
    assert repairs["quarantined_items"] == 3
    del rollups.daily[(LONG, date(2024, 2, 29))]  # the plugin's day is gone: its refusal is released
    write_rollups(warehouse, rollups)
    assert reconcile_dynamodb(INSTALL_SINK, warehouse, dynamodb, {})["quarantine_released"] == 1


def test_a_batch_dynamodb_rejects_is_split_to_isolate_the_bad_item(dynamodb):
    ensure_tables(dynamodb)
    client, table = dynamodb.client(), dynamodb.table_name("install-activity")
    requests = [{"PutRequest": {"Item": item(f"napari-p{i:02d}", "TOTAL:", is_total={"S": "true"})}} for i in range(60)]
    requests[37]["PutRequest"]["Item"]["install_count"] = {"N": "not a number"}  # passes the local checks
    stats, rejected = write_isolating(dynamodb, table, requests, client)
    assert [request["PutRequest"]["Item"]["plugin_name"]["S"] for request, _ in rejected] == ["napari-p37"]
    assert "numeric" in rejected[0][1]
    stored = {i["plugin_name"]["S"] for i in client.scan(TableName=table)["Items"]}
    assert stored == {f"napari-p{i:02d}" for i in range(60) if i != 37}
    assert stats.requests >= 3


def test_a_key_postgres_cannot_index_is_quarantined_and_the_rest_is_loaded(warehouse, postgres_database):
    # 2,700 bytes that do not compress (Postgres would otherwise shrink the index entry)
    long_name = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(43))[:2700]
    rollups, clean = hub_scenario(), hub_scenario()
    rollups.daily[(long_name, date(2024, 2, 29))] = 2
    rollups.monthly[(long_name, date(2024, 2, 1))] = 2
    rollups.total[long_name] = 2
    rollups.total_commits[(long_name, "Org/Long")] = 1
    write_rollups(warehouse, rollups)
    resources = {"warehouse": warehouse, "postgres": PostgresResource(dsn=postgres_database)}
    for run in range(2):  # later runs do not fail either
        result = dg.materialize([postgres_install_activity, postgres_github_activity], resources=resources)
        assert result.success
        installs = {k: v.value for k, v in result.asset_materializations_for_node("postgres__install_activity")[0].metadata.items()}
        assert installs["quarantined_now"] == (3 if run == 0 else 0)  # a rerun looks only at what changed
        assert installs["quarantine_reasons"] == {POSTGRES_KEY_TOO_LONG: 3}
        assert installs["written"] == (len(expected_install_rows(clean)) if run == 0 else 0)
    with psycopg.connect(postgres_database) as connection:
        assert set(connection.execute("SELECT plugin_name, granularity, period_start, install_count FROM install_activity")) \
            == expected_install_rows(clean)
        github = set(connection.execute(
            "SELECT plugin_name, repo, granularity, period_start, commit_count, latest_commit_at FROM github_activity"))
    assert github == expected_github_rows(clean)
    with warehouse.connect() as con:
        assert con.execute("SELECT sink, sk FROM sink_quarantine ORDER BY sink, sk").fetchall() == [
            ("postgres:github_activity", "Org/Long|TOTAL|"),
            ("postgres:install_activity", "DAY|2024-02-29"),
            ("postgres:install_activity", "MONTH|2024-02-01"),
            ("postgres:install_activity", "TOTAL|"),
        ]
