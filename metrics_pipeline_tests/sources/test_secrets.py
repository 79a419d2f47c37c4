"""Credentials: refused or missing ones fail with the setting's name; no secret value ever shows."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from metrics_pipeline.commits.github_assets import github_commits
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.installs.assets import raw_installs
from metrics_pipeline.installs.snowflake_source import SnowflakeInstallsSource
from metrics_pipeline_tests.support.fakesnow import fakesnow_connection
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.secrets import CredentialError, ParameterStoreSecrets
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

SECRET = "Sup3r-s3cret-VALUE-4242"


class _RefusingSnowflake(BaseHTTPRequestHandler):
    """Answers every login like Snowflake does for a wrong password, but echoes the password back,
    so the test also proves the connector's error text is scrubbed."""

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw)
        password = body.get("data", {}).get("PASSWORD", "")
        payload = json.dumps(
            {"data": None, "code": "390100", "success": False,
             "message": f"Incorrect username or password was specified: {password}"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def refusing_snowflake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingSnowflake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def run_asset(tmp_path, caplog, capfd):
    """Materializes one asset for 2024-01-10 and returns (result, every text the run produced)."""
    caplog.set_level(logging.DEBUG)
    registry = tmp_path / "registry.csv"
    registry.write_text("name,code_repository\nnapari-foo,https://github.com/org/napari-foo\n")

    def run(asset, **resources):
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            [asset], partition_key="2024-01-10", instance=instance, raise_on_error=False,
            resources={"registry": PluginRegistry(csv_path=str(registry)),
                       "warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb")), **resources},
        )
        texts = [dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)]
        texts += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
        texts += [event.step_failure_data.error.to_string() for event in result.get_step_failure_events()]
        texts += list(capfd.readouterr())
        return result, "\n".join(texts)

    return run


def _failure(result) -> str:
    return result.get_step_failure_events()[0].step_failure_data.error.to_string()


def test_a_refused_github_token_names_the_setting_and_is_never_shown(run_asset, github_stub, monkeypatch):
    monkeypatch.setenv("METRICS_GITHUB_TOKEN", SECRET)
    github = GitHubApi(token=dg.EnvVar("METRICS_GITHUB_TOKEN"), base_url=github_stub.base_url, seconds_between_requests=0)
    result, text = run_asset(github_commits, github=github)
    assert not result.success
    assert "METRICS_GITHUB_TOKEN" in _failure(result) and "401" in _failure(result)
    assert SECRET not in text
    assert len(github_stub.requests) == 1  # the first refusal stops the run


def test_a_refused_snowflake_password_names_the_setting_and_is_never_shown(run_asset, refusing_snowflake, monkeypatch):
    monkeypatch.setenv("METRICS_SNOWFLAKE_PASSWORD", SECRET)
    source = SnowflakeInstallsSource(snowflake=fakesnow_connection(refusing_snowflake, "DB", password_env="METRICS_SNOWFLAKE_PASSWORD"))
    result, text = run_asset(raw_installs, installs_source=source)
    assert not result.success
    assert "METRICS_SNOWFLAKE_PASSWORD" in _failure(result) and "390100" in _failure(result)
    assert "Incorrect username or password" in _failure(result)
    assert SECRET not in text


def test_a_missing_password_names_the_setting(run_asset, fakesnow_server, monkeypatch):
    """Dagster resolves the EnvVar when it validates the run's config, before any step starts."""
    monkeypatch.delenv("METRICS_SNOWFLAKE_PASSWORD", raising=False)
    source = SnowflakeInstallsSource(snowflake=fakesnow_connection(fakesnow_server.port, "DB", password_env="METRICS_SNOWFLAKE_PASSWORD"))
    with pytest.raises(dg.DagsterInvalidConfigError, match='"METRICS_SNOWFLAKE_PASSWORD" which is not set'):
        run_asset(raw_installs, installs_source=source)


def test_credentials_from_ssm_parameter_store(run_asset, ssm, github_stub, caplog):
    github_stub.token = SECRET
    github_stub.add_commit("org/napari-foo", "a1", "2024-01-10T08:00:00Z")
    ssm.put_parameter(Name="/metrics/test/METRICS_GITHUB_TOKEN", Value=SECRET, Type="SecureString")
    caplog.clear()  # the seeding call above logs its own request; only the run is under test
    store = ParameterStoreSecrets(path="/metrics/test/", region_name="us-east-1")
    github = GitHubApi(base_url=github_stub.base_url, seconds_between_requests=0, secrets=store)
    result, text = run_asset(github_commits, github=github)
    assert result.success
    assert SECRET not in text
    missing = ParameterStoreSecrets(path="/metrics/other", region_name="us-east-1")
    with pytest.raises(CredentialError, match="METRICS_SNOWFLAKE_PASSWORD is not set: SSM parameter /metrics/other/METRICS_SNOWFLAKE_PASSWORD"):
        missing.lookup("METRICS_SNOWFLAKE_PASSWORD")
