"""Nothing acknowledged is lost: a collector SIGKILLed mid-batch, and Postgres down while events land."""

import json
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import dagster as dg
import psycopg

from metrics_pipeline.collector.segments import EVENTS, frame
from metrics_pipeline.collector.spool import SegmentWriter
from metrics_pipeline.demo.local_servers.postgres import _pg_binary, _run, start_postgres
from metrics_pipeline.automation.sensors import catch_up
from metrics_pipeline.events.sensor import landed_lookup
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline_tests.events.conftest import EventsPipeline
from metrics_pipeline_tests.support.collector_server import TOKENS


def test_every_acknowledged_event_lands_exactly_once_after_sigkill(pipeline):
    collector = pipeline.collector(METRICS_EVENTS_SEGMENT_SECONDS="3600")  # nothing seals by age
    collector.workers = 2  # two writer processes, each with its open segment
    collector.start()
    acked, stop = [], threading.Event()

    def client(worker: int) -> None:
        for n in range(10_000):
            if stop.is_set():
                return
            marker = f"w{worker}-{n}"
            batch = [{"type": "custom", "name": "tick", "user_id": marker, "properties": {"i": i}} for i in range(5)]
            try:
                status, _ = collector.post("/events", {"events": batch}, TOKENS["alpha"])
            except OSError:
                return  # the server died under us: not acknowledged
            if status == 202:
                acked.append(marker)

    with ThreadPoolExecutor(8) as pool:
        for worker in range(8):
            pool.submit(client, worker)
        while len(acked) < 200:
            time.sleep(0.01)
        collector.kill()  # mid-batch: requests are in flight
        stop.set()
    assert list((pipeline.spool / "open").glob("*.open")), "the killed writers' segments are still open"

    restarted = pipeline.collector().start()  # recovers: cuts a torn tail, seals the orphan
    try:
        restarted.wait_sealed()
        assert not list((pipeline.spool / "open").glob("*.open"))
    finally:
        restarted.stop()
    requests = pipeline.tick()
    assert all(pipeline.run(request).success for request in requests)
    assert all(pipeline.run(request).success for request in requests)  # rerun: still once
    # Today's events wait in the event log until the day has ended; each lands there exactly once.
    landed = dict(pipeline.query("SELECT user_id, count(*) FROM event_log WHERE NOT is_duplicate GROUP BY user_id"))
    assert {marker: landed.get(marker) for marker in acked} == {marker: 5 for marker in acked}
    assert set(landed.values()) == {5}  # unacknowledged batches land whole or not at all


class RefusingPort:
    """Holds Postgres's stopped port and refuses the first connection, so the sink's first attempt fails
    at a known moment; then Postgres comes back on the same port within the retry wait."""

    def __init__(self, port: int):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.refused = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        connection.close()
        self.listener.close()
        self.refused.set()


def test_postgres_down_during_ingest_loses_nothing(monkeypatch, tmp_path, influxdb_url):
    server = start_postgres()
    try:
        pipeline = EventsPipeline(monkeypatch, tmp_path / "run", server.dsn, influxdb_url)
        _run([_pg_binary("pg_ctl"), "-D", str(server.data_dir), "stop", "-m", "fast", "-w"])
        collector = pipeline.collector().start()
        try:  # the collector needs no database: events are accepted while Postgres is down
            events = [{"type": "traffic", "kind": "download", "url": f"/f/{i}", "bytes": i, "user_id": f"u{i % 3}",
                       "time": "2024-07-01T12:00:00Z", "idempotency_key": str(uuid.uuid4())} for i in range(1, 101)]
            assert collector.post("/events", {"events": events}, TOKENS["alpha"]) == (202, {"accepted": 100})
            collector.wait_sealed()
        finally:
            collector.stop()
        refusing = RefusingPort(server.port)

        def restart_postgres() -> None:
            refusing.refused.wait(60)
            time.sleep(0.2)
            options = f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories={server.root}"
            _run([_pg_binary("pg_ctl"), "-D", str(server.data_dir), "-l", str(server.root / "server.log"),
                  "-o", options, "-w", "start"])

        restarter = threading.Thread(target=restart_postgres)
        restarter.start()
        [request] = pipeline.tick(datetime(2024, 7, 2, tzinfo=timezone.utc))
        result = pipeline.run(request)
        restarter.join()
        assert result.success and refusing.refused.is_set()
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert {e.step_key for e in retries} <= {"postgres__events", "postgres__events_monthly"}
        assert "postgres__events" in {e.step_key for e in retries}
        assert pipeline.query("SELECT count(*), sum(bytes) FROM raw_events") == [(100, 5050)]
        with psycopg.connect(server.dsn) as connection:
            assert connection.execute("SELECT events, distinct_users, bytes FROM events_daily").fetchall() == [
                (100, 3, 5050)]
    finally:
        server.stop()


def test_a_sink_that_stays_down_fails_alone(monkeypatch, tmp_path, postgres_database):
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there: InfluxDB is down for the whole run
    pipeline = EventsPipeline(monkeypatch, tmp_path, postgres_database, f"http://127.0.0.1:{port}")
    sealed_health_segment(pipeline.spool, 5.0)
    [request] = pipeline.tick(datetime(2024, 7, 2, tzinfo=timezone.utc))
    result = pipeline.run(request)
    assert not result.success
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    succeeded = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert failed == {"influxdb__events_daily"}
    assert succeeded == {"raw_events", "daily_events", "monthly_events", "postgres__events", "postgres__events_monthly"}
    with psycopg.connect(postgres_database) as connection:
        assert connection.execute("SELECT events, response_ms_p50 FROM events_daily").fetchall() == [(1, 5.0)]


def sealed_health_segment(spool, response_ms: float):
    writer = SegmentWriter(spool, "t", max_bytes=1 << 20, max_age_seconds=3600)
    event = {"type": "health", "product": "alpha", "time_us": 1719835200_000000, "received_us": 1719835200_000000,
             "user_id": None, "session_id": None, "idempotency_key": None, "properties": {"response_ms": response_ms}}
    writer.append([frame(EVENTS, json.dumps([event]).encode())], 1, Counter({"2024-07-01": 1}))
    return writer.seal()


def test_a_damaged_segment_is_quarantined_and_the_others_land(pipeline):
    good = sealed_health_segment(pipeline.spool, 5.0)
    damaged = sealed_health_segment(pipeline.spool, 7.0)
    data = bytearray(damaged.read_bytes())
    data[12] ^= 0xFF  # inside the first frame's payload
    damaged.write_bytes(bytes(data))
    [request] = pipeline.tick(datetime(2024, 7, 2, tzinfo=timezone.utc))
    result = pipeline.run(request)
    assert result.success
    metadata = result.asset_materializations_for_node("raw_events")[0].metadata
    assert (metadata["segments_landed_now"].value, metadata["segments_quarantined_now"].value) == (1, 1)
    assert pipeline.query("SELECT response_ms FROM raw_events") == [(5.0,)]
    [(segment, reason)] = pipeline.query("SELECT segment, reason FROM event_segments_quarantined")
    assert segment == damaged.name.removesuffix(".seg") and "fails its checksum" in reason
    names = [good.name.removesuffix(".seg"), segment]
    assert landed_lookup(DuckDBWarehouse(path=str(pipeline.warehouse_path)))(names) == set(names)  # not asked again
    assert pipeline.run(request).success  # a rerun neither lands nor quarantines anything twice
    assert pipeline.query("SELECT count(*) FROM event_log") == [(1,)]


def test_a_sink_down_past_its_retries_is_asked_again_once_its_store_answers(monkeypatch, tmp_path, influxdb_url):
    """Nothing re-requested the failed days before: the catch-up sensor now does, once Postgres answers."""
    server = start_postgres()
    try:
        pipeline = EventsPipeline(monkeypatch, tmp_path / "run", server.dsn, influxdb_url)
        sealed_health_segment(pipeline.spool, 5.0)
        _run([_pg_binary("pg_ctl"), "-D", str(server.data_dir), "stop", "-m", "fast", "-w"])
        [request] = pipeline.tick(datetime(2024, 7, 2, tzinfo=timezone.utc))
        result = pipeline.run(request)
        failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
        assert "postgres__events" in failed and not result.success
        postgres = PostgresResource(dsn=server.dsn)

        def catch_up_tick(cursor=None):
            context = dg.build_sensor_context(instance=pipeline.instance, cursor=cursor,
                                              repository_def=pipeline.defs.get_repository_def())
            return catch_up(context, pipeline.warehouse, postgres, None), context.cursor

        waiting, _ = catch_up_tick()
        assert isinstance(waiting, dg.SkipReason) and "waiting for Postgres to answer" in waiting.skip_message
        options = f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories={server.root}"
        _run([_pg_binary("pg_ctl"), "-D", str(server.data_dir), "-l", str(server.root / "server.log"), "-o", options,
              "-w", "start"])
        again, _ = catch_up_tick()
        assert isinstance(again, dg.RunRequest)
        assert {"postgres/events", "postgres/events_monthly"} <= {k.to_user_string() for k in again.asset_selection}
        assert pipeline.run(again).success
        with psycopg.connect(server.dsn) as connection:
            assert connection.execute("SELECT events, response_ms_p50 FROM events_daily").fetchall() == [(1, 5.0)]
            assert connection.execute("SELECT count(*) FROM events_raw").fetchall() == [(0,)]  # older than 90 days
    finally:
        server.stop()
