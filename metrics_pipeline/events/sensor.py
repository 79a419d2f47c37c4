"""Requests one run for newly sealed segments (carrying them to land) and, once a UTC day has ended,
for the days whose events wait to be released: `raw_events` and everything downstream of it. The
cursor holds the last tick's UTC day and the segments seen since the day before it (with when they
were requested), so a listing covers two days, not all history. A segment requested an hour ago and
still not landed (its run failed) is requested again; event_segments_landed keeps it from landing twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb

from metrics_pipeline.automation.consumers import with_downstream
from metrics_pipeline.automation.jobs import TRIGGER_TAG, daily_metrics_job
from metrics_pipeline.events.segment_sources import SegmentSource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

REQUEST_AGAIN_AFTER = timedelta(hours=1)


def plan(
    cursor: str | None, source: SegmentSource, now: datetime,
    landed: Callable[[list[str]], set[str] | None] = lambda names: None,
    days_ended: bool = False,
) -> tuple[list[str] | None, str]:
    """The segments to land now (None: no run; [] with `days_ended`: only release ended days), and
    the next cursor. Segments not seen before, or requested long ago and still not `landed`."""
    state = json.loads(cursor) if cursor else {}
    today, stamp = now.date(), int(now.timestamp())
    since = date.fromisoformat(state["day"]) - timedelta(days=1) if "day" in state else None
    listed = source.list_sealed(since, today)
    seen: dict[str, int] = state.get("seen", {})
    overdue = [s for s in listed if s.ref in seen and stamp - seen[s.ref] >= REQUEST_AGAIN_AFTER.total_seconds()]
    done = landed([s.name for s in overdue]) if overdue else None
    again = {s.ref for s in overdue if done is not None and s.name not in done}
    refs = [segment.ref for segment in listed if segment.ref not in seen or segment.ref in again]
    requested = set(refs)
    next_state = {"day": today.isoformat(),
                  "seen": {s.ref: stamp if s.ref in requested else seen[s.ref] for s in sorted(listed)}}
    return (refs if refs or days_ended else None), json.dumps(next_state)


@dg.sensor(name="event_segments_sensor", job=daily_metrics_job, minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Lands newly sealed collector segments, and releases event days once they have ended.")
def event_segments_sensor(
    context: dg.SensorEvaluationContext, event_segments: SegmentSource, warehouse: DuckDBWarehouse
):
    now = datetime.now(timezone.utc)
    segments, cursor = plan(context.cursor, event_segments, now, landed_lookup(warehouse), days_ended(warehouse, now.date()))
    if segments is None:
        return dg.SensorResult(skip_reason="no newly sealed segments and no ended day waiting", cursor=cursor)
    return dg.SensorResult(run_requests=[run_request(context.repository_def.asset_graph, segments, now.date())], cursor=cursor)


def run_request(graph, segments: list[str], today: date) -> dg.RunRequest:
    """One run: land these segments, release the ended days, and carry them to the sinks."""
    digest = hashlib.sha1(json.dumps([today.isoformat(), *segments]).encode()).hexdigest()[:12]
    return dg.RunRequest(
        run_key=f"events-{digest}",
        asset_selection=with_downstream(graph, [dg.AssetKey("raw_events")]),
        run_config={"ops": {"raw_events": {"config": {"segments": segments}}}},
        tags={TRIGGER_TAG: "events"},
    )


def days_ended(warehouse: DuckDBWarehouse, today: date) -> bool:
    """Whether landed events wait for a day that has now ended (False while the warehouse is busy)."""
    if not Path(warehouse.path).exists():
        return False
    try:
        with warehouse.connect(read_only=True, lock_wait_seconds=5) as con:
            return bool(con.execute("SELECT count(*) FROM event_days_pending WHERE day < ?", [today]).fetchall()[0][0])
    except (WarehouseBusyError, duckdb.CatalogException):
        return False


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
