"""Requests `events_job` runs for newly sealed segments: one run per contiguous range of the event
days their seals name, carrying the segments to land. The cursor holds the last tick's UTC day and
the segments seen since the day before it (with when they were requested), so a listing covers two
days, not all history. A segment requested an hour ago and still not landed (its run failed) is
requested again; the warehouse's event_segments_landed keeps it from being landed twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.automation.late_data import contiguous_ranges
from metrics_pipeline.events.assets import EVENT_DAILY
from metrics_pipeline.events.segment_sources import SegmentSource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

EVENTS_JOB = "events_job"
REQUEST_AGAIN_AFTER = timedelta(hours=1)


def plan(
    cursor: str | None, source: SegmentSource, now: datetime,
    landed: Callable[[list[str]], set[str] | None] = lambda names: None,
) -> tuple[list[dg.RunRequest], str]:
    """The run requests for segments not seen before (or requested long ago and still not `landed`:
    names -> the landed ones, None when unknown), and the next cursor."""
    state = json.loads(cursor) if cursor else {}
    today, stamp = now.date(), int(now.timestamp())
    since = date.fromisoformat(state["day"]) - timedelta(days=1) if "day" in state else None
    listed = source.list_sealed(since, today)
    seen: dict[str, int] = state.get("seen", {})
    overdue = [s for s in listed if s.ref in seen and stamp - seen[s.ref] >= REQUEST_AGAIN_AFTER.total_seconds()]
    done = landed([s.name for s in overdue]) if overdue else None
    again = {s.ref for s in overdue if done is not None and s.name not in done}
    new = [segment for segment in listed if segment.ref not in seen or segment.ref in again]
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
    requested = set(refs)
    next_state = {"day": today.isoformat(), "deferred": deferred,
                  "seen": {s.ref: stamp if s.ref in requested else seen[s.ref] for s in sorted(listed)}}
    return requests, json.dumps(next_state)


@dg.sensor(name="event_segments_sensor", job_name=EVENTS_JOB, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Lands newly sealed collector segments into the event days they hold.")
def event_segments_sensor(
    context: dg.SensorEvaluationContext, event_segments: SegmentSource, warehouse: DuckDBWarehouse
):
    requests, cursor = plan(context.cursor, event_segments, datetime.now(timezone.utc), landed_lookup(warehouse))
    if not requests:
        return dg.SensorResult(skip_reason="no newly sealed segments", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def landed_lookup(warehouse: DuckDBWarehouse) -> Callable[[list[str]], set[str] | None]:
    """Which of these segments the warehouse has landed; None while it is busy (ask next tick)."""

    def landed(names: list[str]) -> set[str] | None:
        if not Path(warehouse.path).exists():
            return set()
        try:
            with warehouse.connect(read_only=True, lock_wait_seconds=5) as con:
                rows = con.execute(  # a quarantined segment is done too: asking again would not help
                    "SELECT segment FROM event_segments_landed WHERE list_contains($names, segment) UNION "
                    "SELECT segment FROM event_segments_quarantined WHERE list_contains($names, segment)",
                    {"names": names},
                ).fetchall()
        except WarehouseBusyError:
            return None
        except duckdb.CatalogException:  # no event landed yet: the table does not exist
            return set()
        return {row[0] for row in rows}

    return landed
