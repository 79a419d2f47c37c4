"""Alert sensor: every failed check (ERROR or WARN) and every failed run, posted once to a
Slack-compatible webhook.

Delivery: events are read in event-log order after a cursor (the newest storage id delivered).
The cursor is saved in the instance's key-value store after each delivered alert, and returned
as the sensor cursor, so a restart resumes after the last alert sent: none lost, none repeated.
An alert that cannot be delivered after bounded retries stops the tick; the next tick retries it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

WEBHOOK_SETTING = "METRICS_ALERT_WEBHOOK_URL"  # secret: never logged
UI_SETTING = "METRICS_DAGSTER_UI_URL"
CURSOR_KEY = "metrics_pipeline/alert_sensor/cursor"
EVENT_TYPES = (dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.DagsterEventType.RUN_FAILURE)
BATCH = 200  # events read per type per tick
FIGURES = 8  # metadata entries shown per alert


class AlertWebhook(dg.ConfigurableResource):
    """Where alerts go. `url` empty: alerts are off (one log line per tick)."""

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
    storage_id: int
    payload: dict


def _value(value) -> str:
    raw = getattr(value, "value", value)
    return str(raw if not isinstance(raw, float) else round(raw, 3))


def check_alert(evaluation: dg.AssetCheckEvaluation, run_id: str, ui_url: str) -> dict:
    """Slack-compatible message for a failed check: asset, partition, check, figures, run link."""
    level = evaluation.severity.value
    where = evaluation.asset_key.to_user_string() + (f" [{evaluation.partition}]" if evaluation.partition else "")
    figures = ", ".join(f"{k}={_value(v)}" for k, v in list(evaluation.metadata.items())[:FIGURES])
    text = (
        f"{':red_circle:' if level == 'ERROR' else ':warning:'} {level} check `{evaluation.check_name}` "
        f"failed on `{where}`\n{figures}\n<{ui_url.rstrip('/')}/runs/{run_id}|run {run_id[:8]}>"
    )
    return {"text": text}


def run_alert(run: dg.DagsterRun | None, run_id: str, message: str, ui_url: str) -> dict:
    job = run.job_name if run else "unknown job"
    partition = (run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")) if run else None
    where = f" [{partition}]" if partition else ""
    text = f":x: run of `{job}`{where} failed: {message[:300]}\n<{ui_url.rstrip('/')}/runs/{run_id}|run {run_id[:8]}>"
    return {"text": text}


def pending_alerts(instance: dg.DagsterInstance, after: int, ui_url: str) -> tuple[list[Alert], int]:
    """Alerts for events after storage id `after`, in event-log order, and the storage id read up to."""
    alerts, read_up_to = [], _newest_storage_id(instance)  # read first: later events wait for the next tick
    for event_type in EVENT_TYPES:
        records = instance.get_event_records(
            dg.EventRecordsFilter(event_type=event_type, after_cursor=after), limit=BATCH, ascending=True
        )
        if records:
            # A full batch may stop before the other type's newest: read only up to the smaller.
            if len(records) == BATCH:
                read_up_to = min(read_up_to, records[-1].storage_id)
        for record in records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event_type == dg.DagsterEventType.RUN_FAILURE:
                payload = run_alert(instance.get_run_by_id(entry.run_id), entry.run_id, event.message or "", ui_url)
            elif event.event_specific_data.passed:
                continue
            else:
                payload = check_alert(event.event_specific_data, entry.run_id, ui_url)
            alerts.append(Alert(record.storage_id, payload))
    alerts = sorted((a for a in alerts if a.storage_id <= read_up_to), key=lambda a: a.storage_id)
    return alerts, max(after, read_up_to)


def _newest_storage_id(instance: dg.DagsterInstance) -> int:
    newest = 0
    for event_type in EVENT_TYPES:
        records = instance.get_event_records(dg.EventRecordsFilter(event_type=event_type), limit=1, ascending=False)
        newest = max([newest, *(r.storage_id for r in records)])
    return newest


def _stored_cursor(instance: dg.DagsterInstance, sensor_cursor: str | None) -> int:
    stored = instance.run_storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
    return max(int(sensor_cursor or 0), int(stored or 0))


def _save_cursor(instance: dg.DagsterInstance, storage_id: int) -> None:
    instance.run_storage.set_cursor_values({CURSOR_KEY: str(storage_id)})


@dg.sensor(
    name="quality_alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts every failed ERROR/WARN check and every failed run to METRICS_ALERT_WEBHOOK_URL, once.",
)
def quality_alert_sensor(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook):
    instance = context.instance
    try:
        cursor = _stored_cursor(instance, context.cursor)
        if not alert_webhook.url:
            newest = max(cursor, _newest_storage_id(instance))
            _save_cursor(instance, newest)
            context.log.info(f"alerts are off: {WEBHOOK_SETTING} is not set")
            return dg.SensorResult(cursor=str(newest), skip_reason=f"{WEBHOOK_SETTING} is not set")
        sent = skipped = 0
        alerts, read_up_to = pending_alerts(instance, cursor, alert_webhook.ui_url)
        delivered_all = True
        for alert in alerts:
            try:
                alert_webhook.post(alert.payload)
                sent += 1
            except DeliveryError as error:
                if not error.permanent:
                    context.log.warning(f"alert webhook unreachable ({error}); will retry next tick")
                    delivered_all = False
                    break
                context.log.error(f"alert webhook rejected an alert ({error}); skipped: {alert.payload['text'][:200]}")
                skipped += 1
            cursor = alert.storage_id
            _save_cursor(instance, cursor)
        if delivered_all and read_up_to > cursor:  # events read that needed no alert
            cursor = read_up_to
            _save_cursor(instance, cursor)
        if not sent and not skipped:
            return dg.SensorResult(cursor=str(cursor), skip_reason="no new alerts")
        context.log.info(f"alerts sent: {sent}, rejected: {skipped}")
        return dg.SensorResult(cursor=str(cursor))
    except Exception as error:  # a sensor that raises stops alerting; report and retry next tick
        context.log.error(f"alert sensor tick failed: {type(error).__name__}")
        return dg.SkipReason(f"alert sensor tick failed: {type(error).__name__}")
