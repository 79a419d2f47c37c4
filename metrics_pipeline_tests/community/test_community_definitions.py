"""The domain is inert unless METRICS_COMMUNITY_SOURCE=github; enabled, it merges with every other
domain, its landing is part of the main job's day and its rollups follow the days a landing dirtied."""

from datetime import datetime, timezone

import dagster as dg
import pytest

from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
from metrics_pipeline.community.definitions import definitions
from metrics_pipeline.community.postgres_sink import postgres_community_activity
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
    assert graph.get(community_github.key).backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(community_monthly.key).partitions_def is None and graph.get(community_total.key).partitions_def is None
    assert graph.get(community_daily.key).freshness_policy is not None
    job = merged.resolve_job_def("daily_metrics_job")  # the day's one run lands and rolls up community too
    assert {"community_github", "community_daily", "community_monthly", "postgres/community_activity"} <= {
        k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert merged.resources["github"] is not None  # the shared client, bound once


def test_a_landed_day_rolls_up_its_month_and_the_totals_and_today_waits(community, stub):
    stub.add_issue("org/alpha", 1, "alice", "2024-02-10T08:00:00Z")
    community.run([community_github, community_daily], "2024-02-10")
    community.run([community_monthly, community_total])
    assert community.query("SELECT CAST(period_start AS VARCHAR) FROM community_monthly GROUP BY 1") == [("2024-02-01",)]
    assert community.query("SELECT count(*) FROM community_total") != [(0,)]
    today = datetime.now(timezone.utc).date()
    with community.warehouse.connect() as con:  # a landing marked today: it has not ended
        con.execute("INSERT INTO community_dirty_days VALUES (?, ?)", [today, datetime(2024, 3, 1, 10)])
    community.run([community_daily])
    assert community.query("SELECT count(*) FROM community_daily WHERE period_start >= ?", [today]) == [(0,)]
    assert {day for (day,) in community.query("SELECT day FROM community_dirty_days")} == {today}  # waits for tomorrow


def test_dirty_days_are_recomputed_once_and_cleared(community):
    with community.warehouse.connect() as con:
        con.execute("INSERT INTO community_dirty_days VALUES ('2024-01-30', ?), ('2024-01-31', ?), ('2024-02-02', ?)",
                    [datetime(2024, 3, 1, 10), datetime(2024, 3, 1, 11), datetime(2024, 3, 1, 10)])
    result = community.run([community_daily])
    assert result.asset_materializations_for_node("community_daily")[0].metadata["days"].value == (
        "2024-01-30..2024-01-31, 2024-02-02")
    assert community.query("SELECT count(*) FROM community_dirty_days") == [(0,)]
