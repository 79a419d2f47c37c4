"""A hand-written segment with poison among good records: the good ones land (once), each bad record or
frame is quarantined with its segment, ordinal and reason, and landing it again changes nothing."""

import json
from collections import Counter
from datetime import datetime, timezone

import psycopg

from metrics_pipeline.collector.segments import EVENTS, frame
from metrics_pipeline.collector.spool import SegmentWriter
from metrics_pipeline.events.landing import land_segments
from metrics_pipeline.events.segment_sources import LocalSegmentSource, SegmentRef
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

NOON = 1719835200_000000  # 2024-07-01T12:00:00Z


def record(type_="storage", time_us=NOON, user="u", **properties) -> dict:
    properties = properties or {"action": "uploaded", "file_id": "f", "bytes": 10}
    return {"type": type_, "product": "alpha", "time_us": time_us, "received_us": NOON, "user_id": user,
            "session_id": None, "idempotency_key": None, "properties": properties}


def raw(*records) -> bytes:
    """A frame's payload; JSON constants (Infinity, NaN) and huge integers are spliced in as text."""
    return ("[" + ",".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "]").encode()


POISON_FRAME = raw(
    record(user="good-0"),                                                            # ordinal 0
    record(bytes=2 ** 63),                                                            # 1
    json.dumps(record("health", response_ms=0.0)).replace('"response_ms": 0.0', '"response_ms": Infinity'),  # 2
    json.dumps(record("custom", name="n", properties={"x": 1})).replace('"x": 1', '"x": NaN'),  # 3
    record(time_us=-62135596800_000000),                                              # 4: year 1
    record(time_us=253402300799_000000),                                              # 5: year 9999
    record(time_us="2024-07-01T12:00:00Z"),                                           # 6
    record(bytes="12"),                                                               # 7
    record(user="a\u0000b"),                                                          # 8
    42,                                                                               # 9
    json.dumps(record(user="good-10")).replace('"bytes": 10', '"bytes": ' + "9" * 5000),  # 10
    record("traffic", user="good-11", kind="download", url="/d", bytes=7),            # 11
)
QUARANTINED = {  # item (segment/ordinal or segment/frame) -> (reason, sample)
    "1": ("integer outside int64", "properties.bytes: 9223372036854775808"),
    "2": ("non-finite number", "properties.response_ms: inf"),
    "3": ("non-finite number", "properties.properties.x: nan"),
    "4": ("time out of range", "time_us: -62135596800000000 is not from 1970-01-01 to a day past its receipt "
          "(1719835200000000)"),
    "5": ("time out of range", "time_us: 253402300799000000 is not from 1970-01-01 to a day past its receipt "
          "(1719835200000000)"),
    "6": ("wrong type", "time_us: must be an integer (µs since 1970), not a string"),
    "7": ("wrong type", "properties.bytes: must be an integer, not a string"),
    "8": ("NUL or lone surrogate in text", "user_id: a string of 3 characters"),
    "9": ("wrong type", "a record must be a JSON object, not a number"),
    "10": ("integer outside int64", "properties.bytes: 99999999999999999999… (5000 digits)"),
    "frame 1": ("unparseable JSON", "Expecting value: line 1 column 258 (char 257)"),
}


def poison_segment(spool):
    writer = SegmentWriter(spool, "hand", max_bytes=1 << 20, max_age_seconds=3600)
    unparseable = raw(record(user="lost-with-its-frame"))[:-1] + b',{"type":'
    frames = [POISON_FRAME, unparseable, raw(record("health", user="good-late", response_ms=5.0))]
    writer.append([frame(EVENTS, payload) for payload in frames], 14, Counter({"2024-07-01": 14}))
    sealed = writer.seal()
    return SegmentRef(sealed.parent.name, sealed.name.removesuffix(".seg"))


def test_one_bad_record_quarantines_itself_and_the_rest_land_once(pipeline):
    segment = poison_segment(pipeline.spool).name
    [request] = pipeline.tick(datetime(2024, 7, 2, tzinfo=timezone.utc))
    result = pipeline.run(request)
    assert result.success
    assert pipeline.query("SELECT user_id, event_type, bytes, response_ms, event_id FROM raw_events ORDER BY 1") == [
        ("good-0", "storage", 10, None, f"{segment}/0"),
        ("good-11", "traffic", 7, None, f"{segment}/11"),
        ("good-late", "health", None, 5.0, f"{segment}/12"),  # ordinals go on after the unparseable frame
    ]
    assert pipeline.query("SELECT segment, events, duplicates FROM event_segments_landed") == [(segment, 3, 0)]
    quarantine = "SELECT item, reason, rows, sample, first_day, last_day, recorded_at FROM quarantine ORDER BY item"
    rows = pipeline.query(quarantine)
    assert {item.removeprefix(f"{segment}/"): (reason, sample) for item, reason, _, sample, *_ in rows} == QUARANTINED
    assert pipeline.query("SELECT DISTINCT source FROM quarantine") == [("events",)]
    assert dict(pipeline.query("SELECT reason, count(*) FROM quarantine GROUP BY reason")) == {
        "integer outside int64": 2, "non-finite number": 2, "time out of range": 2, "wrong type": 3,
        "NUL or lone surrogate in text": 1, "unparseable JSON": 1}
    days = {item.removeprefix(f"{segment}/"): (n, str(first), str(last)) for item, _, n, _, first, last, _ in rows}
    assert days["frame 1"] == (None, "None", "None") and days["1"] == (1, "2024-07-01", "2024-07-01")
    assert days["4"] == (1, "None", "None")  # an out-of-range time has no day
    with psycopg.connect(pipeline.postgres_dsn) as connection:
        assert connection.execute("SELECT event_type, events, bytes, response_ms_p50 FROM events_daily ORDER BY 1"
                                  ).fetchall() == [("health", 1, None, 5.0), ("storage", 1, 10, None),
                                                   ("traffic", 1, 7, None)]

    tables = ["raw_events", "event_log", "event_segments_landed", "event_segments_quarantined", "quarantine"]
    before = {table: pipeline.query(f"SELECT * FROM {table} ORDER BY ALL") for table in tables}
    assert pipeline.run(request).success  # landing the same segment again
    assert {table: pipeline.query(f"SELECT * FROM {table} ORDER BY ALL") for table in tables} == before


def test_landing_counts_what_it_quarantines_by_reason(tmp_path):
    ref = poison_segment(tmp_path / "spool")
    source = LocalSegmentSource(spool=str(tmp_path / "spool"))
    with DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")).connect() as con:
        landed = land_segments(con, source, [ref])
        again = land_segments(con, source, [ref])
    assert (landed.segments, landed.events, landed.quarantined) == (1, 3, [])
    assert landed.records_quarantined == Counter({
        "integer outside int64": 2, "non-finite number": 2, "time out of range": 2, "wrong type": 3,
        "NUL or lone surrogate in text": 1, "unparseable JSON": 1})
    assert (again.segments, again.already_landed, again.records_quarantined) == (0, 1, Counter())
