"""The quality domain loads inside the code location: its checks, their severities and partitions,
the sensor, the settings, and the gate on every sink."""

import dagster as dg

from metrics_pipeline.definitions import defs
from metrics_pipeline.quality.alerts import AlertWebhook, alert_webhook_from
from metrics_pipeline.quality.definitions import definitions

# Every check reports one result per run (failing days named); the landings' and rollups' checks run
# in their asset's own step, and the blocking ones stop what follows in the run.
BLOCKING = [
    "raw_installs:raw_installs_match_source", "raw_installs:source_files_readable", "raw_commits:raw_commits_match_source",
    "raw_commits:source_files_readable", "daily_installs:daily_installs_match_raw",
    "monthly_installs:monthly_installs_match_days", "monthly_commits:monthly_commits_match_raw",
    "total_installs:total_installs_match_months", "total_commits:total_commits_match_months",
    "latest_commits:latest_commits_match_months", "dynamodb/install_activity:dynamodb_install_activity_read_back",
    "dynamodb/github_activity:dynamodb_github_activity_read_back",
    "postgres/install_activity:postgres_install_activity_read_back",
    "postgres/github_activity:postgres_github_activity_read_back",
]
WARNING = [
    "daily_installs:daily_installs_anomalies", "raw_installs:raw_installs_unmatched_projects",
    "raw_commits:raw_commits_unmatched_repos", "raw_installs:installs_source_not_stalled",
    "raw_commits:commits_source_not_stalled",
]


def test_the_code_location_carries_every_quality_check_and_the_alert_sensor():
    location = defs()
    graph = location.resolve_asset_graph()
    checks = {key.to_user_string(): graph.get(key) for key in graph.asset_check_keys}
    for name in BLOCKING + WARNING:
        assert checks[name].blocking == (name in BLOCKING), name
        assert checks[name].partitions_def is None, name
        assert "What to do" in (checks[name].description or "") or name in WARNING, name
    assert "quality_alert_sensor" in {s.name for s in location.sensors}


def test_restatements_reach_postgres_only_when_it_is_configured_and_the_webhook_stays_an_env_var():
    assert definitions({}).assets == []
    assert [a.key.to_user_string() for a in definitions({"METRICS_POSTGRES_DSN": "host=x"}).assets] == ["postgres/restatements"]
    webhook = alert_webhook_from({"METRICS_ALERT_WEBHOOK_URL": "https://hooks.example/secret"})
    assert isinstance(webhook.url, dg.EnvVar) and webhook.url.env_var_name == "METRICS_ALERT_WEBHOOK_URL"
    assert alert_webhook_from({}) == AlertWebhook()
