"""Lands sealed segments in the warehouse exactly once: events, idempotency keys, the records it
cannot use (in `quarantine`, source 'events') and the segment's name go in together, in one
transaction per segment."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from metrics_pipeline.collector.records import (
    BYTES_TYPES, LATEST_RECEIVED_US, UNPARSEABLE, WRONG_TYPE, Problem, loads, problem,
)
from metrics_pipeline.collector.segments import CorruptSegment, Seal, day_of, read_sealed_frames
from metrics_pipeline.events.segment_sources import SegmentRef, SegmentSource
from metrics_pipeline.resources.warehouse import transaction

QUARANTINE_SOURCE = "events"

_STAGED = pa.schema([
    ("ordinal", pa.int64()), ("event_id", pa.string()), ("event_time", pa.timestamp("us")),
    ("received_at", pa.timestamp("us")), ("product", pa.string()), ("event_type", pa.string()),
    ("user_id", pa.string()), ("session_id", pa.string()), ("idempotency_key", pa.string()),
    ("bytes", pa.int64()), ("response_ms", pa.float64()), ("properties", pa.string()),
])

# The first copy of a (product, idempotency_key) ever landed wins; later copies are kept, marked.
_MARK = """
    CREATE OR REPLACE TEMP TABLE landing_events AS
    SELECT s.event_id, CAST(s.event_time AS DATE), s.event_time, s.received_at, s.product, s.event_type,
           s.user_id, s.session_id, s.idempotency_key, s.bytes, s.response_ms, s.properties,
           s.idempotency_key IS NOT NULL AND (
               k.event_id IS NOT NULL
               OR row_number() OVER (PARTITION BY s.product, s.idempotency_key ORDER BY s.received_at, s.ordinal) > 1
           ) AS is_duplicate
    FROM staged_events s
    LEFT JOIN event_idempotency_keys k ON k.product = s.product AND k.idempotency_key = s.idempotency_key
"""
_INSERT_KEYS = """
    INSERT INTO event_idempotency_keys
    SELECT product, idempotency_key, event_id FROM landing_events WHERE idempotency_key IS NOT NULL AND NOT is_duplicate
"""


# The event days this landing touched wait in event_days_pending until they have ended (UTC).
_PENDING_DAYS = """
    INSERT INTO event_days_pending SELECT DISTINCT CAST(event_time AS DATE) FROM landing_events ON CONFLICT DO NOTHING
"""
_QUARANTINE = """
    INSERT INTO quarantine (source, item, reason, rows, sample, first_day, last_day, recorded_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
_DONE = """
    SELECT 1 FROM event_segments_landed WHERE segment = ?
    UNION ALL SELECT 1 FROM event_segments_quarantined WHERE segment = ?
"""


@dataclass
class Landed:
    segments: int = 0
    events: int = 0
    duplicates: int = 0
    already_landed: int = 0
    quarantined: list[str] = field(default_factory=list)  # whole segments (damaged)
    records_quarantined: Counter = field(default_factory=Counter)  # reason -> records (or frames) set aside
    days: set = field(default_factory=set)


@dataclass
class _Parsed:
    events: list[tuple[int, dict]]  # (ordinal in the segment, record)
    rejected: list[tuple[str, Problem, int | None, int | None]]  # (quarantine item, why, time_us, records)


def _parse(segment: SegmentRef, payloads: list[bytes], seal: Seal) -> _Parsed:
    """Every usable record with its ordinal; each unusable record, or frame that is no JSON array, set aside."""
    parsed, ordinal, whole = _Parsed([], []), 0, True
    for number, payload in enumerate(payloads):
        try:
            batch = loads(payload)
        except (ValueError, RecursionError) as error:
            batch = Problem(UNPARSEABLE, "", str(error)[:200])
        if not isinstance(batch, list):
            why = batch if isinstance(batch, Problem) else Problem(WRONG_TYPE, "", "a frame must hold a JSON array")
            parsed.rejected.append((f"{segment.name}/frame {number}", why, None, None))  # records: unknown
            whole = False
            continue
        for record in batch:
            found = problem(record)
            if found is None:
                parsed.events.append((ordinal, record))
            else:
                parsed.rejected.append((f"{segment.name}/{ordinal}", found, _time_us(record), 1))
            ordinal += 1
    if whole and ordinal != seal.events:
        raise CorruptSegment(f"segment {segment.name}: {ordinal} events but the seal says {seal.events}")
    return parsed


def _time_us(record) -> int | None:
    at = record.get("time_us") if isinstance(record, dict) else None
    return at if type(at) is int and 0 <= at < LATEST_RECEIVED_US else None


def _staged(segment: SegmentRef, events: list[tuple[int, dict]]) -> pa.Table:
    columns = {name: [] for name in _STAGED.names}
    for ordinal, event in events:
        props = event["properties"]
        columns["ordinal"].append(ordinal)
        columns["event_id"].append(f"{segment.name}/{ordinal}")
        columns["event_time"].append(event["time_us"])
        columns["received_at"].append(event["received_us"])
        for key in ("product", "user_id", "session_id", "idempotency_key"):
            columns[key].append(event[key])
        columns["event_type"].append(event["type"])
        columns["bytes"].append(props.get("bytes") if event["type"] in BYTES_TYPES else None)
        columns["response_ms"].append(props.get("response_ms") if event["type"] == "health" else None)
        columns["properties"].append(json.dumps(props, separators=(",", ":"), sort_keys=True))
    return pa.table(columns, schema=_STAGED)


def land_segments(con: duckdb.DuckDBPyConnection, source: SegmentSource, segments: list[SegmentRef]) -> Landed:
    """Land each segment not landed before; a segment already in event_segments_landed is skipped,
    a damaged one is quarantined with its reason (and reported) instead of blocking the others, and
    so is each record no store could take (the rest of its segment lands)."""
    landed = Landed()
    for segment in sorted(set(segments)):
        if con.execute(_DONE, [segment.name, segment.name]).fetchall():
            landed.already_landed += 1
            continue
        try:
            payloads, seal = read_sealed_frames(source.read(segment), segment.name)
            parsed = _parse(segment, payloads, seal)
        except CorruptSegment as damaged:
            con.execute("INSERT INTO event_segments_quarantined VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [segment.name, datetime.now(timezone.utc).replace(tzinfo=None), str(damaged)])
            landed.quarantined.append(segment.ref)
            continue
        con.register("staged_events", _staged(segment, parsed.events))
        try:
            with transaction(con):
                if con.execute("SELECT 1 FROM event_segments_landed WHERE segment = ?", [segment.name]).fetchall():
                    landed.already_landed += 1
                    continue
                con.execute(_MARK)
                con.execute("INSERT INTO event_log SELECT * FROM landing_events")
                con.execute(_INSERT_KEYS)
                duplicates = con.execute("SELECT count(*) FILTER (is_duplicate) FROM landing_events").fetchall()[0][0]
                con.execute(_PENDING_DAYS)
                con.execute("DROP TABLE landing_events")
                now = datetime.now(timezone.utc).replace(tzinfo=None)
                if parsed.rejected:
                    con.executemany(_QUARANTINE, [_quarantine_row(*rejected, now) for rejected in parsed.rejected])
                con.execute("INSERT INTO event_segments_landed VALUES (?, ?, ?, ?)",
                            [segment.name, now, len(parsed.events), duplicates])
        finally:
            con.unregister("staged_events")
        landed.segments += 1
        landed.events += len(parsed.events)
        landed.records_quarantined.update(why.reason for _, why, _, _ in parsed.rejected)
        landed.duplicates += duplicates
        landed.days |= set(seal.days)
    return landed


def _quarantine_row(item: str, why: Problem, time_us: int | None, records: int | None, now: datetime) -> list:
    day = day_of(time_us) if time_us is not None else None
    return [QUARANTINE_SOURCE, item, why.reason, records, why.sample, day, day, now]
