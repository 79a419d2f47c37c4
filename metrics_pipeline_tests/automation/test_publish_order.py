"""After a backfill the sinks publish once, after every rollup they project is current."""

import dagster as dg

from metrics_pipeline.installs.assets import daily_installs, monthly_installs, opening_installs, raw_installs, total_installs
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.dynamodb import dynamodb_install_activity
from metrics_pipeline.sinks.postgres import postgres_install_activity
from metrics_pipeline_tests.scenario import Download, Scenario

ROLLUPS = [monthly_installs, opening_installs, total_installs]
SINKS = [dynamodb_install_activity, postgres_install_activity]


def test_the_sinks_wait_for_the_months_and_totals_then_publish_once(tmp_path, dynamodb_endpoint, dynamodb_stack, postgres_database):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-01-31 10:00:00", "napari-foo"), Download("2024-02-01 10:00:00", "napari-foo", times=2)])
    resources = scenario.resources() | {
        "dynamodb": DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint),
        "postgres": PostgresResource(dsn=postgres_database),
    }
    everything = [raw_installs, daily_installs, *ROLLUPS, *SINKS]
    defs = dg.Definitions(assets=everything, resources=resources)
    assert dg.materialize([opening_installs], resources=resources, instance=scenario.instance).success
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=scenario.instance).cursor

    assert scenario.materialize([raw_installs, daily_installs], "2024-01-31", "2024-02-01").success  # a backfill
    ticks = []
    for _ in range(8):  # the automation sensor's ticks, each run done before the next tick
        result = dg.evaluate_automation_conditions(defs=defs, instance=scenario.instance, cursor=cursor)
        cursor = result.cursor
        requested = {a.key.to_user_string(): sorted(result.get_requested_partitions(a.key)) for a in everything
                     if result.get_num_requested(a.key)}
        if not requested:
            break
        ticks.append(requested)
        for asset in everything:
            for partition in requested.get(asset.key.to_user_string(), []):
                assert dg.materialize([asset], partition_key=partition, resources=resources, instance=scenario.instance).success

    assert ticks == [
        {"monthly_installs": ["2024-01-01", "2024-02-01"]},
        {"total_installs": [None]},
        {"dynamodb/install_activity": [None], "postgres/install_activity": [None]},
    ]
