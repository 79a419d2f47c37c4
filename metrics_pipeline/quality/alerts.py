"""Alert sensor: every failed check (ERROR or WARN) and every failed run, posted once to a
Slack-compatible webhook.

Delivery: finished runs are read in finishing order after a cursor (run, alerts of it sent).
The cursor is saved in the instance's key-value store after each delivered alert, and returned
as the sensor cursor, so a restart resumes after the last alert sent: none lost, none repeated.
An alert that cannot be delivered after bounded retries stops the tick; the next tick retries it.

A failed run's alert names each failed step with its error; every alert's text is redacted first:
values of the environment's secret settings, DSN passwords and well-known token shapes.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import dagster as dg

from metrics_pipeline.resources.secrets import REDACTED, scrub

WEBHOOK_SETTING = "METRICS_ALERT_WEBHOOK_URL"  # secret: never logged
UI_SETTING = "METRICS_DAGSTER_UI_URL"
CURSOR_KEY = "metrics_pipeline/alert_sensor/cursor"
FINISHED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)
BATCH = 100  # finished runs read per status per tick
FIGURES = 8  # metadata entries shown per alert
STEPS_SHOWN = 3  # failed steps named with their error per run alert
STEP_ERROR_CHARS = 400
SECRET_SETTING_WORDS = {"PASSWORD", "PASSWD", "TOKEN", "SECRET", "DSN", "WEBHOOK"}  # a name with one: a secret value
SHORTEST_SECRET = 4  # shorter values are not redacted, or every "1" of an alert would go
SECRET_SHAPES = [  # (pattern, replacement) for secrets no setting of this process holds
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@", re.IGNORECASE), rf"\g<1>{REDACTED}@"),  # URL userinfo
    (re.compile(r"\b(password|passwd|pwd)(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s;,&]+)", re.IGNORECASE), rf"\1\2{REDACTED}"),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16})\b"), REDACTED),
]
_alerts_off_logged = threading.Event()  # "alerts are off" is said once per process, not once per tick


class AlertWebhook(dg.ConfigurableResource):
    """Where alerts go. `url` empty: alerts are off (one log line per process)."""

    url: str | None = None
    ui_url: str = "http://127.0.0.1:3000"
    attempts: int = 4
    backoff_seconds: float = 0.5
    timeout_seconds: float = 10.0

    def post(self, payload: dict) -> None:
        """POST with bounded exponential backoff; raises DeliveryError (never naming the URL)."""
        body = json.dumps(payload).encode()
        for attempt in range(self.attempts):
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    response.read()
                return
            except urllib.error.HTTPError as error:
                reason = f"HTTP {error.code}"
                if 400 <= error.code < 500 and error.code != 429:
                    raise DeliveryError(reason, permanent=True) from None
            except (urllib.error.URLError, OSError) as error:
                reason = type(error).__name__
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff_seconds * 2**attempt)
        raise DeliveryError(f"{reason} after {self.attempts} attempts", permanent=False)


class DeliveryError(Exception):
    def __init__(self, reason: str, permanent: bool):
        super().__init__(reason)
        self.permanent = permanent


def alert_webhook_from(env: Mapping[str, str]) -> AlertWebhook:
    """Values stay EnvVars (resolved at run time, never shown); unset means alerts are off."""
    settings = {"url": dg.EnvVar(WEBHOOK_SETTING)} if env.get(WEBHOOK_SETTING) else {}
    if env.get(UI_SETTING):
        settings["ui_url"] = dg.EnvVar(UI_SETTING)
    return AlertWebhook(**settings)


@dataclass(frozen=True)
class Alert:
    position: tuple[int, int]  # (storage id of the run's finish event, index of the alert in the run)
    payload: dict


def _value(value) -> str:
    raw = value.value if isinstance(value, dg.MetadataValue) else value
    return str(round(raw, 3) if isinstance(raw, float) else raw)


def check_alert(evaluation: dg.AssetCheckEvaluation, run_id: str, ui_url: str) -> dict:
    """Slack-compatible message for a failed check: asset, partition, check, what failed (the
    description names the failing days), its scalar figures, run link."""
    level = evaluation.severity.value
    where = evaluation.asset_key.to_user_string() + (f" [{evaluation.partition}]" if evaluation.partition else "")
    scalars = [(k, v) for k, v in evaluation.metadata.items() if not isinstance(_raw(v), (dict, list))]
    figures = ", ".join(f"{k}={_value(v)}" for k, v in scalars[:FIGURES])
    described = f"{_clip(evaluation.description)}\n" if evaluation.description else ""
    text = (
        f"{':red_circle:' if level == 'ERROR' else ':warning:'} {level} check `{evaluation.check_name}` "
        f"failed on `{where}`\n{described}{figures}\n<{ui_url.rstrip('/')}/runs/{run_id}|run {run_id[:8]}>"
    )
    return {"text": text}


def _raw(value):
    return value.value if isinstance(value, dg.MetadataValue) else value


def run_alert(
    run: dg.DagsterRun | None, run_id: str, message: str, ui_url: str, step_errors: Sequence[str] = ()
) -> dict:
    """Slack-compatible message for a failed run: job, partition, each failed step's error, run link."""
    job = run.job_name if run else "unknown job"
    partition = (run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")) if run else None
    where = f" [{partition}]" if partition else ""
    steps = "".join(f"{line}\n" for line in step_errors)
    text = f":x: run of `{job}`{where} failed: {message[:300]}\n{steps}<{ui_url.rstrip('/')}/runs/{run_id}|run {run_id[:8]}>"
    return {"text": text}


def _error_text(error, failure_description: str | None = None) -> str:
    """`Class: message` of the error a step's code raised, not of the Dagster error wrapping it."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    message = failure_description or error.message.strip()
    qualified, _, rest = message.partition(": ")
    if rest and qualified.split(".")[-1] == error.cls_name:
        message = rest  # "dagster._core.definitions.events.Failure: ..." -> "Failure: ..."
    return f"{error.cls_name}: {' '.join(message.split())}"


def _step_errors(instance: dg.DagsterInstance, run_id: str, event: dg.DagsterEvent) -> list[str]:
    failures = [
        (entry.dagster_event.step_key, entry.dagster_event.event_specific_data)
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    ]
    lines = []
    for step, data in failures[:STEPS_SHOWN]:
        if data is not None and data.error is not None:
            described = data.user_failure_data.description if data.user_failure_data else None
            lines.append(f"`{step}`: {_clip(redact(_error_text(data.error, described)))}")
    if len(failures) > STEPS_SHOWN:
        lines.append(f"(+{len(failures) - STEPS_SHOWN} more failed steps)")
    run_error = getattr(event.event_specific_data, "error", None)
    if not failures and run_error is not None:  # the run failed outside any step (launch, worker)
        lines.append(_clip(redact(_error_text(run_error))))
    return lines


def _clip(text: str) -> str:
    return text if len(text) <= STEP_ERROR_CHARS else text[: STEP_ERROR_CHARS - 1] + "…"


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` without the values of the environment's secret settings (and DSN passwords in them),
    URL and `password=` credentials, or well-known token shapes."""
    env = os.environ if env is None else env
    secrets = []
    for name, value in env.items():
        if SECRET_SETTING_WORDS & set(name.upper().split("_")) and len(value) >= SHORTEST_SECRET:
            secrets.append(value)
            secrets += [p for p in _dsn_passwords(value) if len(p) >= SHORTEST_SECRET]
    text = scrub(text, secrets)
    for pattern, replacement in SECRET_SHAPES:
        text = pattern.sub(replacement, text)
    return text


def _dsn_passwords(value: str) -> list[str]:
    """The password inside a URL-style or key=value DSN, which an error may show on its own."""
    found = re.findall(r"\bpassword\s*=\s*'?([^\s']+)", value, re.IGNORECASE)
    try:
        found.append(urlsplit(value).password or "")
    except ValueError:
        pass
    return [p for p in found if p]


def _run_alerts(instance: dg.DagsterInstance, record, ui_url: str) -> list[dict]:
    """A finished run's alerts, in run order: its failed checks, then the run's own failure; redacted."""
    run_id = record.run_id
    payloads = [
        check_alert(entry.dagster_event.event_specific_data, run_id, ui_url)
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        if not entry.dagster_event.event_specific_data.passed
    ]
    event = record.event_log_entry.dagster_event
    if event.event_type == dg.DagsterEventType.RUN_FAILURE:
        errors = _step_errors(instance, run_id, event)
        payloads.append(run_alert(instance.get_run_by_id(run_id), run_id, event.message or "", ui_url, errors))
    return [{"text": redact(p["text"])} for p in payloads]


def _newest_finish(instance: dg.DagsterInstance) -> int:
    newest = 0
    for event_type in FINISHED:
        records = instance.fetch_run_status_changes(event_type, limit=1, ascending=False).records
        newest = max([newest, *(r.storage_id for r in records)])
    return newest


def pending_alerts(instance: dg.DagsterInstance, after: int, ui_url: str) -> tuple[list[Alert], int]:
    """Alerts of the runs that finished after storage id `after`, in finishing order, and the
    storage id read up to. Finished runs are read from the run-status index, which every event
    log storage (also run-sharded SQLite) can query across runs."""
    read_up_to = _newest_finish(instance)  # read first: runs finishing meanwhile wait for the next tick
    finished = []
    for event_type in FINISHED:
        records = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after), limit=BATCH, ascending=True
        ).records
        if len(records) == BATCH:  # a full batch may stop before the other type's newest
            read_up_to = min(read_up_to, records[-1].storage_id)
        finished += records
    alerts = []
    for record in sorted(finished, key=lambda r: r.storage_id):
        if record.storage_id <= read_up_to:
            alerts += [Alert((record.storage_id, i), p) for i, p in enumerate(_run_alerts(instance, record, ui_url))]
    return alerts, max(after, read_up_to)


def _load_cursor(instance: dg.DagsterInstance, sensor_cursor: str | None) -> tuple[int, int]:
    """Every alert before this position is delivered: the sensor's cursor or the one saved after
    each delivery, whichever is further (the sensor's is lost if a tick dies mid-way)."""
    stored = instance.run_storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
    return max((tuple(json.loads(c)) for c in (sensor_cursor, stored) if c), default=(0, 0))


def _save_cursor(instance: dg.DagsterInstance, position: tuple[int, int]) -> str:
    value = json.dumps(list(position))
    instance.run_storage.set_cursor_values({CURSOR_KEY: value})
    return value


@dg.sensor(
    name="quality_alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts every failed ERROR/WARN check and every failed run to METRICS_ALERT_WEBHOOK_URL, once.",
)
def quality_alert_sensor(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook):
    instance = context.instance
    try:
        position = _load_cursor(instance, context.cursor)
        if not alert_webhook.url:
            cursor = _save_cursor(instance, max(position, (_newest_finish(instance) + 1, 0)))
            if not _alerts_off_logged.is_set():
                _alerts_off_logged.set()
                context.log.info(f"alerts are off: {WEBHOOK_SETTING} is not set")
            return dg.SensorResult(cursor=cursor, skip_reason=f"{WEBHOOK_SETTING} is not set")
        alerts, read_up_to = pending_alerts(instance, position[0] - 1, alert_webhook.ui_url)
        sent = rejected = 0
        for alert in (a for a in alerts if a.position >= position):
            try:
                alert_webhook.post(alert.payload)
                sent += 1
            except DeliveryError as error:
                if not error.permanent:
                    context.log.warning(f"alert webhook unreachable ({error}); will retry next tick")
                    return dg.SensorResult(cursor=_save_cursor(instance, position), skip_reason="alert webhook unreachable")
                context.log.error(f"alert webhook rejected an alert ({error}); skipped: {alert.payload['text'][:200]}")
                rejected += 1
            position = (alert.position[0], alert.position[1] + 1)
            _save_cursor(instance, position)
        cursor = _save_cursor(instance, max(position, (read_up_to + 1, 0)))
        if not sent and not rejected:
            return dg.SensorResult(cursor=cursor, skip_reason="no new alerts")
        context.log.info(f"alerts sent: {sent}, rejected: {rejected}")
        return dg.SensorResult(cursor=cursor)
    except Exception as error:  # a sensor that raises stops alerting; report and retry next tick
        context.log.error(f"alert sensor tick failed: {type(error).__name__}")
        return dg.SkipReason(f"alert sensor tick failed: {type(error).__name__}")
