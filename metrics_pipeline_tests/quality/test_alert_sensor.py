"""The alert sensor against a real HTTP receiver on 127.0.0.1 and a real (on-disk) Dagster instance:
each failed check and failed run is posted exactly once, through retries and restarts."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from metrics_pipeline.installs.assets import raw_installs
from metrics_pipeline.quality.alerts import AlertWebhook, quality_alert_sensor
from metrics_pipeline.quality.unmatched import raw_installs_unmatched_projects
from metrics_pipeline_tests.quality.quality_helpers import LeakyInstallsSource, run
from metrics_pipeline_tests.scenario import Download, Scenario

UI = "http://dagster.test"


class Receiver:
    """A webhook on 127.0.0.1 that records JSON bodies; `fail_next` requests get HTTP 500."""

    def __init__(self):
        self.payloads: list[dict] = []
        self.requests = 0
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(500)
                else:
                    receiver.payloads.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:  # sqlite storage in a temp DAGSTER_HOME
        yield instance


def _failing_day(scenario: Scenario, day: str) -> dg.ExecuteInProcessResult:
    """A day whose landing lets an untracked plugin through (ERROR: nothing lands, so the look-alike
    project's WARN check, which follows the landing, does not run)."""
    scenario.downloads.write([Download(f"{day} 09:00:00", "napari-foo", times=4), Download(f"{day} 10:00:00", "naparifoo", times=2)])
    leaky = LeakyInstallsSource(directory=str(scenario.downloads.directory), installers=["pip"],
                                extra_rows=[f"{day},napari-gone,pip,1"])
    result = run(scenario, [raw_installs, raw_installs_unmatched_projects], day,
                 installs_source=leaky)
    assert not result.success
    return result


def _expected(result: dg.ExecuteInProcessResult, day: str) -> list[dict]:
    link = f"<{UI}/runs/{result.run_id}|run {result.run_id[:8]}>"
    failure = result.get_run_failure_event().message
    days = f"days_checked=1, days_failing=1, first_day={day}, last_day={day}"
    return [
        {"text": f":red_circle: ERROR check `raw_installs_match_source` failed on `raw_installs`\n"
                 f"1 day(s) failed: {day}. {day}: landed 5 downloads, source 5, untracked_plugin_rows\n{days}\n{link}"},
        {"text": f":x: run of `__ephemeral_asset_job__` [{day}] failed: {failure}\n"
                 f"`raw_installs`: Failure: raw_installs: nothing landed for {day}..{day}: 1 day(s) failed: {day}. "
                 f"{day}: landed 5 downloads, source 5, untracked_plugin_rows\n{link}"},
    ]


def _tick(instance, url: str | None, cursor: str | None, attempts: int = 4):
    webhook = AlertWebhook(url=url, ui_url=UI, attempts=attempts, backoff_seconds=0.01)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alert_webhook": webhook})
    return quality_alert_sensor.evaluate_tick(context)


def test_each_failure_is_posted_once_through_retries_and_a_restart(tmp_path, instance, receiver):
    scenario = Scenario(tmp_path)
    scenario.instance = instance
    scenario.set_registry([("napari-foo", "")])
    first = _failing_day(scenario, "2024-03-10")

    receiver.fail_next = 2  # the first alert needs two retries
    tick = _tick(instance, receiver.url, None)
    assert receiver.payloads == _expected(first, "2024-03-10")
    assert receiver.requests == 4  # two alerts, the first after two failed attempts
    assert _tick(instance, receiver.url, tick.cursor).skip_message == "no new alerts"

    second = _failing_day(scenario, "2024-03-11")
    # A restart: a new process opens the same instance and resumes from the stored cursor.
    restarted = dg.DagsterInstance.from_ref(instance.get_ref())
    _tick(restarted, receiver.url, tick.cursor)
    assert receiver.payloads == _expected(first, "2024-03-10") + _expected(second, "2024-03-11")
    # Even a lost sensor cursor (a crash before the tick was stored) sends nothing twice.
    assert _tick(restarted, receiver.url, None).skip_message == "no new alerts"
    assert len(receiver.payloads) == 4


def test_an_unreachable_webhook_loses_nothing_and_a_bad_one_never_crashes(tmp_path, instance, receiver):
    scenario = Scenario(tmp_path)
    scenario.instance = instance
    scenario.set_registry([("napari-foo", "")])
    failed = _failing_day(scenario, "2024-03-10")

    receiver.fail_next = 10**6
    down = _tick(instance, receiver.url, None, attempts=2)
    assert receiver.payloads == [] and receiver.requests == 2  # gave up on the first alert, kept it
    broken = _tick(instance, "not a url", down.cursor)
    assert broken.skip_message == "alert sensor tick failed: ValueError"
    receiver.fail_next = 0
    _tick(instance, receiver.url, down.cursor)
    assert receiver.payloads == _expected(failed, "2024-03-10")


def test_without_a_webhook_the_sensor_is_a_no_op(tmp_path, instance, receiver):
    scenario = Scenario(tmp_path)
    scenario.instance = instance
    scenario.set_registry([("napari-foo", "")])
    _failing_day(scenario, "2024-03-10")
    off = _tick(instance, None, None)
    assert off.skip_message == "METRICS_ALERT_WEBHOOK_URL is not set"
    # Alerts raised while the webhook was off are not replayed when it is configured.
    assert _tick(instance, receiver.url, off.cursor).skip_message == "no new alerts"
    assert receiver.requests == 0
