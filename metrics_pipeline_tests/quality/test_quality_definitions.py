"""The quality domain loads inside the code location: its checks, their severities and partitions,
the sensor, the settings, and the gate on every sink."""

import dagster as dg

from metrics_pipeline.asset_conventions import NO_FAILED_BLOCKING_CHECK_UPSTREAM
from metrics_pipeline.definitions import defs
from metrics_pipeline.partitions import DAILY, MONTHLY
from metrics_pipeline.quality.alerts import AlertWebhook, alert_webhook_from
from metrics_pipeline.quality.definitions import definitions

BLOCKING = {
    "raw_installs:raw_installs_match_source": DAILY, "raw_commits:raw_commits_match_source": DAILY,
    "daily_installs:daily_installs_match_raw": DAILY, "monthly_installs:monthly_installs_match_days": MONTHLY,
    "monthly_commits:monthly_commits_match_raw": MONTHLY, "total_installs:total_installs_match_months": None,
    "total_commits:total_commits_match_months": None, "latest_commits:latest_commits_match_months": None,
}
WARNING = {
    "daily_installs:daily_installs_anomalies": DAILY, "raw_installs:raw_installs_unmatched_projects": DAILY,
    "raw_commits:raw_commits_unmatched_repos": DAILY, "raw_installs:installs_source_not_stalled": None,
    "raw_commits:commits_source_not_stalled": None,
}
SINKS = ["dynamodb/install_activity", "dynamodb/github_activity", "postgres/install_activity", "postgres/github_activity"]


def test_the_code_location_carries_every_quality_check_and_the_alert_sensor():
    location = defs()
    graph = location.resolve_asset_graph()
    checks = {key.to_user_string(): graph.get(key) for key in graph.asset_check_keys}
    for name, partitions in (BLOCKING | WARNING).items():
        assert checks[name].blocking == (name in BLOCKING), name
        assert checks[name].partitions_def == partitions, name
    assert "quality_alert_sensor" in {s.name for s in location.sensors}
    for sink in SINKS:
        condition = graph.get(dg.AssetKey.from_user_string(sink)).automation_condition
        assert condition.children[-1] == NO_FAILED_BLOCKING_CHECK_UPSTREAM, sink


def test_restatements_reach_postgres_only_when_it_is_configured_and_the_webhook_stays_an_env_var():
    assert definitions({}).assets == []
    assert [a.key.to_user_string() for a in definitions({"METRICS_POSTGRES_DSN": "host=x"}).assets] == ["postgres/restatements"]
    webhook = alert_webhook_from({"METRICS_ALERT_WEBHOOK_URL": "https://hooks.example/secret"})
    assert isinstance(webhook.url, dg.EnvVar) and webhook.url.env_var_name == "METRICS_ALERT_WEBHOOK_URL"
    assert alert_webhook_from({}) == AlertWebhook()
