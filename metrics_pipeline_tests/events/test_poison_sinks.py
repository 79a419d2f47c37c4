"""Defence in depth: values an older collector let into the warehouse (non-finite numbers, NUL) never
reach Postgres or InfluxDB; the rows or values are left out and counted, and the day is written."""

import json
from collections import Counter
from datetime import datetime, time, timedelta, timezone

import dagster as dg
import duckdb
import psycopg

from metrics_pipeline import changes
from metrics_pipeline.collector.segments import EVENTS, frame
from metrics_pipeline.collector.spool import SegmentWriter
from metrics_pipeline.events.influxdb import InfluxDBResource
from metrics_pipeline.events.sinks import influxdb_daily_events, postgres_events

DAY = datetime.now(timezone.utc).date() - timedelta(days=1)  # inside events_raw's 90 days
NOON_US = int(datetime.combine(DAY, time(12), timezone.utc).timestamp()) * 1_000_000


def record(type_: str, user: str, **properties) -> dict:
    return {"type": type_, "product": "alpha", "time_us": NOON_US, "received_us": NOON_US, "user_id": user,
            "session_id": None, "idempotency_key": None, "properties": properties}


RECORDS = [
    record("health", "h-inf", response_ms=1.0),
    record("health", "h-ok", response_ms=3.0),
    record("custom", "c-nan", name="n", properties={"x": 1.0}),
    record("custom", "c-nul", name="n", properties={"x": 2.0}),
    record("custom", "c-ok", name="n", properties={"x": 3.0}),
]
# As an older collector and landing left them in the warehouse (DuckDB takes all of these).
POISON = [
    """UPDATE raw_events SET response_ms = 'inf'::DOUBLE, properties = '{"response_ms":Infinity}'
       WHERE user_id = 'h-inf'""",
    """UPDATE raw_events SET properties = '{"name":"n","properties":{"x":NaN}}' WHERE user_id = 'c-nan'""",
    "UPDATE raw_events SET user_id = 'c-' || chr(0) || 'nul' WHERE user_id = 'c-nul'",
    """UPDATE daily_events SET response_ms_p50 = 'nan'::DOUBLE, response_ms_p95 = '-inf'::DOUBLE
       WHERE event_type = 'health'""",
]


def test_non_finite_values_and_nul_never_reach_the_sinks(pipeline):
    writer = SegmentWriter(pipeline.spool, "old", max_bytes=1 << 20, max_age_seconds=3600)
    writer.append([frame(EVENTS, json.dumps(RECORDS).encode())], len(RECORDS), Counter({DAY.isoformat(): 5}))
    writer.seal()
    [request] = pipeline.tick()
    assert pipeline.run(request).success
    with duckdb.connect(str(pipeline.warehouse_path)) as con:
        for statement in POISON:
            con.execute(statement)
        changes.record(con, "raw_events", [(DAY, DAY)])  # the sinks write the day again
        changes.record(con, "daily_events", [(DAY, DAY)])

    result = dg.materialize([postgres_events, influxdb_daily_events],
                            resources=pipeline.defs.resources, instance=pipeline.instance)
    assert result.success
    postgres = result.asset_materializations_for_node("postgres__events")[0].metadata
    assert (postgres["raw_events_written"].value, postgres["raw_rows_refused"].value) == (2, 3)
    assert postgres["raw_refusals_by_reason"].value == {"non-finite number": 2, "NUL or lone surrogate in text": 1}
    assert postgres["daily_values_left_out"].value == 2
    influx = result.asset_materializations_for_node("influxdb__events_daily")[0].metadata
    assert influx["values_left_out"].value == 2
    assert influx["values_left_out_examples"].value == [f"{DAY} alpha health response_ms_p50: nan",
                                                       f"{DAY} alpha health response_ms_p95: -inf"]

    with psycopg.connect(pipeline.postgres_dsn) as connection:
        assert connection.execute("SELECT user_id, response_ms, properties FROM events_raw ORDER BY 1").fetchall() == [
            ("c-ok", None, {"name": "n", "properties": {"x": 3.0}}), ("h-ok", 3.0, {"response_ms": 3.0})]
        assert connection.execute("SELECT event_type, events, response_ms_p50, response_ms_p95 FROM events_daily "
                                  "ORDER BY 1").fetchall() == [("custom", 3, None, None), ("health", 2, None, None)]
    points = InfluxDBResource(url=pipeline.influxdb_url, database=pipeline.influx_database).query(
        'SELECT "events", "users", "response_ms_p50", "response_ms_p95" FROM "events_daily" GROUP BY "type"')
    assert {s["tags"]["type"]: s["values"][0][1:] for s in points[0]["series"]} == {
        "custom": [3, 3, None, None], "health": [2, 2, None, None]}
