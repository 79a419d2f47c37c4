"""The code location loads, and its shape (keys, jobs, schedule, sensors, conventions) is pinned."""

from datetime import datetime

import dagster as dg
import pytest

from metrics_pipeline.definitions import defs
from metrics_pipeline.definitions import domain_definitions
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL

WAREHOUSE_ASSETS = {
    "raw_installs", "daily_installs", "monthly_installs", "total_installs",
    "raw_commits", "monthly_commits", "total_commits", "latest_commits",
}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def _assets(definitions):
    return {key.to_user_string(): spec for key, spec in ((s.key, s) for s in definitions.resolve_all_asset_specs())}


def test_asset_keys_jobs_schedules_and_sensors(definitions):
    assert WAREHOUSE_ASSETS <= set(_assets(definitions))
    jobs = {j.name: j for j in definitions.resolve_all_job_defs()}
    assert {"daily_metrics_job", "publish_job", "sink_reconciliation_job"} <= set(jobs)
    # The main job is the whole graph: one run takes a day from the landing to every sink.
    assert set(jobs["daily_metrics_job"].asset_layer.executable_asset_keys) == {
        dg.AssetKey.from_user_string(name) for name in _assets(definitions)}
    assert [s.name for s in definitions.schedules] == ["daily_metrics_schedule", "sink_reconciliation_schedule"]
    assert {s.name for s in definitions.sensors} >= {"late_data_sensor", "catch_up_sensor", "quality_alert_sensor"}
    assert not [s for s in definitions.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)]
    graph = definitions.resolve_asset_graph()
    assert {n.key.to_user_string() for n in graph.asset_nodes if n.partitions_def is not None} == {"raw_installs", "raw_commits"}


def test_every_asset_carries_kinds_group_owners_description_and_schema(definitions):
    for name, spec in _assets(definitions).items():
        assert spec.kinds, name
        assert spec.group_name and spec.group_name != "default", name
        assert spec.owners, name
        assert spec.description, name
        if name in WAREHOUSE_ASSETS:
            assert "dagster/column_schema" in spec.metadata, name


def test_warehouse_assets_share_one_pool_and_days_backfill_in_one_run(definitions):
    graph = definitions.resolve_asset_graph()
    for name in WAREHOUSE_ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.pools == {WAREHOUSE_POOL}, name
        if node.partitions_def is not None:
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), name


def test_an_unknown_source_kind_names_the_setting():
    with pytest.raises(ValueError, match="METRICS_INSTALLS_SOURCE='bigquery' is not one of"):
        domain_definitions({"METRICS_INSTALLS_SOURCE": "bigquery"})
    with pytest.raises(ValueError, match="METRICS_INSTALLERS"):
        domain_definitions({"METRICS_INSTALLERS": " , "})


def test_github_commits_mode_lands_before_raw_commits_in_the_daily_job(monkeypatch):
    monkeypatch.setenv("METRICS_COMMITS_SOURCE", "github")
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    assert graph.get(dg.AssetKey("raw_commits")).parent_keys == {dg.AssetKey("github_commits")}
    job = definitions.resolve_job_def("daily_metrics_job")
    assert {"raw_installs", "daily_installs", "raw_commits", "github_commits"} <= {
        k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    spec = _assets(definitions)["github_commits"]
    assert spec.kinds and spec.owners and spec.description and spec.group_name == "commits"


def test_snowflake_mode_loads(monkeypatch):
    monkeypatch.setenv("METRICS_INSTALLS_SOURCE", "snowflake")
    monkeypatch.setenv("METRICS_COMMITS_SOURCE", "snowflake")
    resources = defs().resources
    assert type(resources["installs_source"]).__name__ == "SnowflakeInstallsSource"
    assert type(resources["commits_source"]).__name__ == "SnowflakeCommitsSource"
