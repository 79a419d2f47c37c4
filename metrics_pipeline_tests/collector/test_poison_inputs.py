"""Poison inputs over real HTTP: what the pipeline cannot store is a 422 naming event and field, never
a 202 (nor a 500), and a client that goes away mid-body costs one counted line, not a traceback."""

import socket
import time
from pathlib import Path

import pytest

from metrics_pipeline.collector.segments import read_sealed
from metrics_pipeline.collector.settings import CollectorSettings
from metrics_pipeline_tests.support.collector_server import TOKENS, Collector, collector_env

GOOD = '{"type":"storage","action":"uploaded","file_id":"f","bytes":1,"user_id":"good-%d"}'
STORAGE = '{"type":"storage","action":"uploaded","file_id":"f","bytes":%s}'
TIMED = '{"type":"storage","action":"uploaded","file_id":"f","bytes":1,"time":"%s"}'
HEALTH = '{"type":"health","response_ms":%s}'
CUSTOM = '{"type":"custom","name":"n","properties":{"x":%s}}'
INT64_MESSAGE = "must be an integer from -9223372036854775808 to 9223372036854775807"
FINITE = "Input should be a finite number"
TIME_RANGE = "must be from 1970-01-01T00:00:00Z to 300 s past the collector's clock"
NO_NUL = "must not contain NUL (\\u0000)"

POISON = [  # (event JSON, field, message)
    (STORAGE % (2 ** 63), "bytes", "Input should be less than or equal to 9223372036854775807"),
    (STORAGE % ("9" * 5000), "bytes", "Input should be less than or equal to 9223372036854775807"),
    ('{"type":"traffic","kind":"download","url":"/d","bytes":%d}' % 2 ** 64, "bytes",
     "Input should be less than or equal to 9223372036854775807"),
    ('{"type":"health","response_ms":1,"queue_length":%d}' % 2 ** 63, "queue_length",
     "Input should be less than or equal to 9223372036854775807"),
    (CUSTOM % 2 ** 63, "properties.x", INT64_MESSAGE),
    (CUSTOM % -(2 ** 63 + 1), "properties.x", INT64_MESSAGE),
    (CUSTOM % ("1" + "0" * 400), "properties.x", INT64_MESSAGE),
    (STORAGE % "Infinity", "bytes", FINITE),
    (HEALTH % "Infinity", "response_ms", FINITE),
    (HEALTH % "-Infinity", "response_ms", FINITE),
    (HEALTH % "NaN", "response_ms", FINITE),
    (HEALTH % "1e400", "response_ms", FINITE),
    (CUSTOM % "NaN", "properties.x", "must be a finite number"),
    (CUSTOM % "-Infinity", "properties.x", "must be a finite number"),
    (CUSTOM % "1e999", "properties.x", "must be a finite number"),
    (TIMED % "0001-01-01T00:00:00Z", "time", TIME_RANGE),
    (TIMED % "0001-01-01T00:00:00+01:00", "time", TIME_RANGE),
    (TIMED % "9999-12-31T23:59:59Z", "time", TIME_RANGE),
    (TIMED % "9999-12-31T23:59:59-01:00", "time", TIME_RANGE),
    (TIMED % "1969-12-31T23:59:59.999999Z", "time", TIME_RANGE),
    ('{"type":"storage","action":"uploaded","file_id":"f","bytes":1,"user_id":"a\\u0000b"}', "user_id", NO_NUL),
    (CUSTOM % '"a\\u0000"', "properties.x", NO_NUL),
]


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    root = tmp_path_factory.mktemp("poison")
    server = Collector(root / "spool", collector_env(root / "spool")).start()
    yield server
    server.stop()


def rejected(collector: Collector, reason: str) -> int:
    status, text = collector.get("/metrics")
    line = f'metrics_collector_requests_rejected_total{{reason="{reason}"}} '
    return sum(int(row[len(line):]) for row in text.splitlines() if row.startswith(line))


def spooled_users(collector: Collector) -> list[str]:
    paths = collector.wait_sealed()
    return sorted(e["user_id"] or "" for path in paths for e in read_sealed(path.read_bytes(), path.name)[0])


def test_poison_is_refused_naming_event_and_field_and_never_spooled(collector):
    answers = []
    for n, (poison, _, _) in enumerate(POISON):
        body = ('{"events":[%s,%s]}' % (GOOD % n, poison)).encode()
        status, answer = collector.post("/events", None, TOKENS["alpha"], raw=body)
        answers.append((status, [(e["event"], e["field"], e["message"]) for e in answer.get("errors", [])]))
    assert answers == [(422, [(1, field, message)]) for _, field, message in POISON]
    single = collector.post("/events/health", None, TOKENS["alpha"], raw=b'{"response_ms":Infinity}')
    assert single == (422, {"error": "invalid events", "errors": [
        {"event": 0, "field": "response_ms", "message": FINITE}]})
    earliest = ('{"events":[%s]}' % (TIMED % "1970-01-01T00:00:00Z")).encode()
    assert collector.post("/events", None, TOKENS["alpha"], raw=earliest) == (202, {"accepted": 1})
    valid = ('{"events":[%s]}' % (GOOD % 999)).encode()
    assert collector.post("/events", None, TOKENS["alpha"], raw=valid) == (202, {"accepted": 1})
    assert spooled_users(collector) == ["", "good-999"]  # nothing of a refused batch
    assert "Traceback" not in collector.process.log_path.read_text()


def test_a_client_going_away_mid_body_logs_no_traceback_and_spools_nothing(tmp_path):
    server = Collector(tmp_path / "spool", collector_env(tmp_path / "spool")).start()
    try:
        head = ("POST /events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
                % TOKENS["alpha"])
        for framing in ("Content-Length: 4000\r\n\r\n", "Transfer-Encoding: chunked\r\n\r\n20\r\n"):
            with socket.create_connection(("127.0.0.1", server.port)) as client:
                client.sendall((head + framing + '{"events":[' + GOOD % 1).encode())
                time.sleep(0.2)  # the server is waiting for the rest of the body
        assert server.post("/events", None, TOKENS["alpha"], raw=b'{"events":[%s]}' % (GOOD % 2).encode()) == (
            202, {"accepted": 1})
        log = server.process.log_path.read_text()
        assert "Traceback" not in log and "ERROR" not in log, log
        assert rejected(server, "client_disconnected") == 2
        assert spooled_users(server) == ["good-2"]
    finally:
        server.stop()


def test_the_skew_tolerance_is_at_most_a_day():
    env = collector_env(Path("/nonexistent"), METRICS_COLLECTOR_MAX_FUTURE_SECONDS="86401")
    with pytest.raises(ValueError, match="METRICS_COLLECTOR_MAX_FUTURE_SECONDS must be at most 86400"):
        CollectorSettings.from_env(env)
