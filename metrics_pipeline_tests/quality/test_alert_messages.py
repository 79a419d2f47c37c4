"""What the alert sensor says: a failed run's alert carries each failed step's error, with every
secret of the environment (and anything shaped like a DSN password) redacted; "alerts are off"
is logged once per process. Real runs on an on-disk instance, a real webhook receiver on 127.0.0.1."""

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from metrics_pipeline.installs.assets import raw_installs
from metrics_pipeline.quality.alerts import AlertWebhook, quality_alert_sensor
from metrics_pipeline_tests.quality.quality_helpers import run
from metrics_pipeline_tests.scenario import Download, Scenario

UI = "http://dagster.test"
DSN = "postgresql://metrics:pg-Secret-771@127.0.0.1:5432/metrics"
GITHUB_TOKEN = "ghp_envtoken0123456789abcdefghijklmnopqr"
SNOWFLAKE_PASSWORD = "sf-Secret-552"
OTHER_PASSWORD = "other-Secret-9"  # in no setting: caught by its DSN shape


@pytest.fixture
def receiver():
    payloads: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            payloads.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", payloads
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _tick(instance, url: str | None, cursor: str | None = None):
    webhook = AlertWebhook(url=url, ui_url=UI, attempts=2, backoff_seconds=0.01)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alert_webhook": webhook})
    return quality_alert_sensor.evaluate_tick(context)


@dg.asset
def connect_warehouse_copy() -> None:
    raise RuntimeError(
        f"could not connect to {DSN}; GitHub refused token {GITHUB_TOKEN}; snowflake login with "
        f"password={SNOWFLAKE_PASSWORD} failed; fallback postgresql://ops:{OTHER_PASSWORD}@db.internal/x failed too. "
        + "detail " * 200
    )


@dg.asset
def fetch_registry_mirror() -> None:
    raise dg.Failure(description="2 of 3 mirrors failed to answer")


def test_a_failed_runs_alert_carries_each_steps_error_and_no_secret(instance, receiver, monkeypatch):
    url, payloads = receiver
    monkeypatch.setenv("METRICS_POSTGRES_DSN", DSN)
    monkeypatch.setenv("METRICS_GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("METRICS_SNOWFLAKE_PASSWORD", SNOWFLAKE_PASSWORD)
    result = dg.materialize([connect_warehouse_copy, fetch_registry_mirror], instance=instance, raise_on_error=False)
    assert not result.success

    _tick(instance, url)
    link = f"<{UI}/runs/{result.run_id}|run {result.run_id[:8]}>"
    leaked = (
        "could not connect to ***; GitHub refused token ***; snowflake login with password=*** failed; "
        "fallback postgresql://ops:***@db.internal/x failed too. " + "detail " * 200
    )
    assert payloads == [{"text": (
        ":x: run of `__ephemeral_asset_job__` failed: Execution of run for \"__ephemeral_asset_job__\" failed. "
        "Steps failed: ['connect_warehouse_copy', 'fetch_registry_mirror'].\n"
        f"`connect_warehouse_copy`: {('RuntimeError: ' + leaked)[:399]}…\n"  # clipped to 400 characters
        "`fetch_registry_mirror`: Failure: 2 of 3 mirrors failed to answer\n" + link
    )}]
    sent = json.dumps(payloads)
    for secret in (DSN, "pg-Secret-771", GITHUB_TOKEN, SNOWFLAKE_PASSWORD, OTHER_PASSWORD):
        assert secret not in sent


def test_a_pipeline_steps_own_error_reaches_the_alert(tmp_path, instance, receiver):
    url, payloads = receiver
    scenario = Scenario(tmp_path)
    scenario.instance = instance
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-03-10 09:00:00", "napari-foo", times=4)])
    assert run(scenario, [raw_installs], "2024-03-10").success
    shutil.rmtree(scenario.downloads.directory)  # the source vanishes: the day must not be replaced by nothing
    scenario.downloads.directory.mkdir()
    failed = run(scenario, [raw_installs], "2024-03-10")
    assert not failed.success

    _tick(instance, url)
    assert len(payloads) == 1
    text = payloads[0]["text"]
    assert text.startswith(":x: run of `__ephemeral_asset_job__` [2024-03-10] failed: ")
    assert "\n`raw_installs`: Failure: METRICS_DOWNLOADS_DIR returned 0 installs rows for 2024-03-10..2024-03-11" in text


TICKS = """
import dagster as dg
from metrics_pipeline.quality.alerts import AlertWebhook, quality_alert_sensor
with dg.instance_for_test() as instance:
    cursor = None
    for _ in range(5):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alert_webhook": AlertWebhook()})
        tick = quality_alert_sensor.evaluate_tick(context)
        cursor = tick.cursor
        print(tick.skip_message)
"""


def test_alerts_off_is_logged_once_per_process_however_many_ticks(monkeypatch):
    monkeypatch.delenv("METRICS_ALERT_WEBHOOK_URL", raising=False)
    ticks = subprocess.run([sys.executable, "-c", TICKS], capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).resolve().parents[2])
    assert ticks.returncode == 0, ticks.stderr
    assert ticks.stdout.splitlines() == ["METRICS_ALERT_WEBHOOK_URL is not set"] * 5
    assert (ticks.stdout + ticks.stderr).count("alerts are off") == 1
