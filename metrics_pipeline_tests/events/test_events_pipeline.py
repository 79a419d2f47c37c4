"""Collector over HTTP -> sealed segments -> sensor -> raw_events (ended days) -> rollups -> Postgres and InfluxDB."""

from datetime import date, datetime, timedelta, timezone

import psycopg

from metrics_pipeline.events.influxdb import InfluxDBResource
from metrics_pipeline.events.sensor import landed_lookup
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline_tests.support.collector_server import TOKENS

YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)


def storage(time, nbytes, user=None, action="uploaded", key=None):
    return {"type": "storage", "action": action, "file_id": "f", "bytes": nbytes, "time": time, "user_id": user,
            "idempotency_key": key}


FIRST = [
    storage("2024-02-28T23:59:59.999999Z", 100, "u1"),                      # last instant of 02-28
    storage("2024-02-29T00:00:00Z", 40, "u1", action="deleted"),             # first instant of the leap day
    {"type": "traffic", "kind": "download", "url": "/d", "bytes": 7, "user_id": "u2",
     "time": "2024-03-01T00:30:00+01:00"},                                   # 02-29 23:30 UTC
    {"type": "traffic", "kind": "page_view", "url": "/", "user_id": "u2", "time": "2024-02-29T23:59:59.999999Z"},
    storage("2024-02-29T10:00:00Z", 5, "u3", key="k1"),
    *({"type": "health", "response_ms": ms, "time": f"2024-03-01T{h:02d}:00:00Z"}
      for h, ms in [(0, 10.0), (6, 40.0), (12, 20.0), (23, 30.0)]),
    {"type": "custom", "name": "opened", "user_id": "u9", "time": f"{YESTERDAY}T12:00:00Z"},
]
SECOND = [
    storage("2024-03-01T10:00:00Z", 999, "u3", key="k1"),                   # a retry of k1: dropped
    storage("2024-02-28T12:00:00Z", 1, "u1"),                               # late event for 02-28
]
DAILY = {  # (day, type): (events, distinct users, bytes, p50, p95), computed by hand
    ("2024-02-28", "storage"): (2, 1, 101, None, None),
    ("2024-02-29", "storage"): (2, 2, 45, None, None),
    ("2024-02-29", "traffic"): (2, 1, 7, None, None),
    ("2024-03-01", "health"): (4, 0, None, 25.0, 38.5),  # p95 = 30 + 0.85 * (40 - 30)
    (str(YESTERDAY), "custom"): (1, 1, None, None, None),
}


def daily_rows(pipeline):
    return {(str(d), t): tuple(v) for d, p, t, *v in pipeline.query("SELECT * FROM daily_events")}


def landed_days(result) -> str:
    (materialization,) = result.asset_materializations_for_node("raw_events")
    return materialization.metadata["days_rebuilt"].value


def test_events_land_once_in_their_utc_days_and_fan_out(pipeline):
    collector = pipeline.collector().start()
    try:
        assert collector.post("/events", {"events": FIRST[:5]}, TOKENS["alpha"]) == (202, {"accepted": 5})
        assert collector.post("/events", {"events": FIRST[5:]}, TOKENS["alpha"]) == (202, {"accepted": 5})
        collector.wait_sealed()
        first = pipeline.tick()
        assert len(first) == 1  # one run for everything sealed
        result = pipeline.run(first[0])
        assert result.success and landed_days(result) == f"2024-02-28..2024-03-01, {YESTERDAY}"
        assert pipeline.tick() == []  # nothing new: nothing requested

        for event in SECOND:
            assert collector.post("/events", {"events": [event]}, TOKENS["alpha"]) == (202, {"accepted": 1})
        collector.wait_sealed()
    finally:
        collector.stop()
    (second,) = pipeline.tick()
    result = pipeline.run(second)
    assert result.success and landed_days(result) == "2024-02-28, 2024-03-01"
    assert pipeline.run(first[0]).success  # a rerun of an old request lands nothing twice

    assert daily_rows(pipeline) == {(d, t): v[:3] + v[3:] for (d, t), v in DAILY.items()}
    assert pipeline.query("SELECT count(*), sum(events), sum(duplicates) FROM event_segments_landed") == [(2, 12, 1)]
    names = [name for (name,) in pipeline.query("SELECT segment FROM event_segments_landed")]
    assert landed_lookup(DuckDBWarehouse(path=str(pipeline.warehouse_path)))(names + ["not-sealed-yet"]) == set(names)
    assert pipeline.query("SELECT event_day, count(*) FROM raw_events GROUP BY 1 ORDER BY 1") == [
        (date(2024, 2, 28), 2), (date(2024, 2, 29), 4), (date(2024, 3, 1), 4), (YESTERDAY, 1)]

    assert pipeline.query("SELECT event_type, events, distinct_users, bytes FROM monthly_events "
                          "WHERE month_start = '2024-02-01' ORDER BY 1") == [
        ("storage", 4, 2, 146), ("traffic", 2, 1, 7)]  # u1 on two days counts once in the month

    with psycopg.connect(pipeline.postgres_dsn) as connection:
        assert {(str(d), t): tuple(v) for d, p, t, *v in connection.execute("SELECT * FROM events_daily")} == DAILY
        # raw events are kept 90 days: only yesterday's remain
        assert connection.execute("SELECT event_day, event_type, user_id FROM events_raw").fetchall() == [
            (YESTERDAY, "custom", "u9")]
        assert connection.execute("SELECT event_type, events, bytes FROM events_monthly "
                                  "WHERE month_start = '2024-02-01' ORDER BY 1").fetchall() == [
            ("storage", 4, 146), ("traffic", 2, 7)]

    influx = InfluxDBResource(url=pipeline.influxdb_url, database=pipeline.influx_database)
    series = influx.query('SELECT "events", "bytes", "response_ms_p95" FROM "events_daily" GROUP BY "type"')[0]["series"]
    points = {(s["tags"]["type"], v[0][:10]): tuple(v[1:]) for s in series for v in s["values"]}
    assert points == {(t, d): (e, b, p95) for (d, t), (e, _, b, _, p95) in DAILY.items()}
