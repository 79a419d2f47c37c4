"""The domain is inert unless METRICS_COMMUNITY_SOURCE=github; enabled, it merges with every other
domain, rolls up by automation and re-runs the days a landing dirtied."""

from datetime import datetime

import dagster as dg
import pytest

from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
from metrics_pipeline.community.definitions import definitions
from metrics_pipeline.community.postgres_sink import postgres_community_activity
from metrics_pipeline.community.sensors import dirty_day_requests
from metrics_pipeline.definitions import domain_definitions
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL

ENABLED = {"METRICS_COMMUNITY_SOURCE": "GitHub "}


def test_off_by_default_and_an_unknown_value_names_the_setting():
    assert definitions({}).assets is None and definitions({"METRICS_COMMUNITY_SOURCE": "off"}).assets is None
    with pytest.raises(ValueError, match="METRICS_COMMUNITY_SOURCE='gitlab' is not one of"):
        definitions({"METRICS_COMMUNITY_SOURCE": "gitlab"})


def test_enabled_it_merges_with_every_domain_and_follows_the_conventions():
    merged = dg.Definitions.merge(*domain_definitions({}), definitions(ENABLED))
    graph = merged.resolve_asset_graph()
    for asset in (community_github, community_daily, community_monthly, community_total, postgres_community_activity):
        node = graph.get(asset.key)
        assert node.pools == {WAREHOUSE_POOL} and node.owners and node.kinds and node.description, asset.key
    assert graph.get(community_daily.key).parent_keys == {community_github.key}
    assert graph.get(community_monthly.key).automation_condition is not None
    assert graph.get(community_total.key).automation_condition is not None
    assert graph.get(community_daily.key).backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(community_daily.key).freshness_policy is not None
    job = merged.resolve_job_def("community_daily_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"community_github", "community_daily"}
    assert merged.resolve_schedule_def("community_daily_schedule").cron_schedule == "15 13 * * *"
    assert "community_dirty_days_sensor" in {s.name for s in merged.sensors}
    assert merged.resources["github"] is not None  # the shared client, bound once


def test_a_changed_day_requests_its_month_then_the_totals(community, stub):
    stub.add_issue("org/alpha", 1, "alice", "2024-02-10T08:00:00Z")
    assets = dg.Definitions(assets=[community_github, community_daily, community_monthly, community_total],
                            resources=community.resources())
    baseline = dg.evaluate_automation_conditions(defs=assets, instance=community.instance)
    community.run([community_github, community_daily], "2024-02-10")
    after = dg.evaluate_automation_conditions(defs=assets, instance=community.instance, cursor=baseline.cursor)
    assert sorted(after.get_requested_partitions(community_monthly.key)) == ["2024-02-01"]
    community.run([community_monthly], "2024-02-01")
    after_monthly = dg.evaluate_automation_conditions(defs=assets, instance=community.instance, cursor=after.cursor)
    assert after_monthly.get_num_requested(community_total.key) == 1


def test_dirty_days_become_one_range_run_each_and_a_recomputed_window_clears_them(community):
    with community.warehouse.connect() as con:
        con.execute("INSERT INTO community_dirty_days VALUES ('2024-01-30', ?), ('2024-01-31', ?), ('2024-02-02', ?)",
                    [datetime(2024, 3, 1, 10), datetime(2024, 3, 1, 11), datetime(2024, 3, 1, 10)])
    requests = dirty_day_requests(community.warehouse)
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"], r.run_key)
            for r in requests] == [("2024-01-30", "2024-01-31", "community-dirty-2024-01-30-2024-01-31-2024-03-01T11:00:00"),
                                   ("2024-02-02", "2024-02-02", "community-dirty-2024-02-02-2024-02-02-2024-03-01T10:00:00")]
    assert all(r.asset_selection == [community_daily.key] for r in requests)
    community.run([community_daily], "2024-01-31", "2024-02-02")
    assert community.query("SELECT CAST(day AS VARCHAR) FROM community_dirty_days") == [("2024-01-30",)]
