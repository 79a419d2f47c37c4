"""Requests `events_job` runs for newly sealed segments: one run per contiguous range of the event
days their seals name, carrying the segments to land. The cursor holds the last tick's UTC day and
the segments seen since the day before it, so a listing covers two days, not all history; the
warehouse's event_segments_landed keeps a segment from being landed twice even if asked again."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.automation.late_data import contiguous_ranges
from metrics_pipeline.events.assets import EVENT_DAILY
from metrics_pipeline.events.segment_sources import SegmentSource

EVENTS_JOB = "events_job"


def plan(cursor: str | None, source: SegmentSource, now: datetime) -> tuple[list[dg.RunRequest], str]:
    """The run requests for segments not seen before, and the next cursor."""
    state = json.loads(cursor) if cursor else {}
    today = now.date()
    since = date.fromisoformat(state["day"]) - timedelta(days=1) if "day" in state else None
    listed = source.list_sealed(since, today)
    seen = set(state.get("seen", []))
    new = [segment for segment in listed if segment.ref not in seen]
    days = set(state.get("deferred", []))
    for segment in new:
        days |= set(source.seal(segment).days)
    first = EVENT_DAILY.start.date().isoformat()  # earlier days belong to no partition (counted at landing)
    ready = sorted(d for d in days if first <= d <= today.isoformat())  # EVENT_DAILY's last partition is today
    deferred = sorted(d for d in days if d > today.isoformat())  # clock skew past midnight: tomorrow's partition
    refs = [segment.ref for segment in new]
    if refs and not ready:  # only days before the first partition or tomorrow's: land them with today
        ready = [today.isoformat()]
    digest = hashlib.sha1(json.dumps(refs + ready).encode()).hexdigest()[:12]
    requests = []
    for low, high in contiguous_ranges([date.fromisoformat(d) for d in ready]):
        requests.append(dg.RunRequest(
            run_key=f"events-{low}-{high}-{digest}",
            job_name=EVENTS_JOB,
            run_config={"ops": {"raw_events": {"config": {"segments": refs}}}},
            tags={PARTITION_RANGE_START_TAG: low.isoformat(), PARTITION_RANGE_END_TAG: high.isoformat(),
                  "metrics/reason": "sealed-segments"},
        ))
    next_state = {"day": today.isoformat(), "seen": sorted(s.ref for s in listed), "deferred": deferred}
    return requests, json.dumps(next_state)


@dg.sensor(name="event_segments_sensor", job_name=EVENTS_JOB, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Lands newly sealed collector segments into the event days they hold.")
def event_segments_sensor(context: dg.SensorEvaluationContext, event_segments: SegmentSource):
    requests, cursor = plan(context.cursor, event_segments, datetime.now(timezone.utc))
    if not requests:
        return dg.SensorResult(skip_reason="no newly sealed segments", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
