"""The collector over real HTTP: authentication, authorization, validation, size limit, spooling."""

import http.client
import json
from collections import Counter

import pytest

from metrics_pipeline.collector.segments import read_sealed
from metrics_pipeline_tests.support.collector_server import JWT_KEYS, TOKENS, Collector, collector_env, jwt_for

STORAGE = {"type": "storage", "action": "uploaded", "file_id": "f-1", "bytes": 10, "time": "2024-02-29T23:59:59Z"}


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    root = tmp_path_factory.mktemp("collector")
    server = Collector(root / "spool", collector_env(root / "spool", METRICS_COLLECTOR_MAX_BYTES="4096")).start()
    yield server
    server.stop()


def spooled_events(collector: Collector) -> list[dict]:
    return [e for path in collector.wait_sealed() for e in read_sealed(path.read_bytes(), path.name)[0]]


def test_bad_or_missing_credentials_get_a_bare_401(collector):
    bad_jwts = [jwt_for("gamma", key="x" * 40), jwt_for("nobody", key=JWT_KEYS["gamma"]), "a.b.c"]
    for token in [None, "wrong-token", TOKENS["alpha"] + "x", *bad_jwts]:
        status, body = collector.post("/events", {"events": [STORAGE]}, token=token)
        assert (status, body) == (401, {"error": "unauthorized"}), token


def test_a_product_cannot_write_another_products_events(collector):
    status, body = collector.post("/events", {"events": [STORAGE, {**STORAGE, "product": "beta"}]}, TOKENS["alpha"])
    assert (status, body) == (403, {"error": "forbidden"})


def test_invalid_events_are_422_naming_the_event_index_and_field(collector):
    events = [STORAGE, {**STORAGE, "bytes": -1}, {"type": "health"}, {"type": "nope"}]
    status, body = collector.post("/events", {"events": events}, TOKENS["alpha"])
    assert status == 422
    assert [(e["event"], e["field"]) for e in body["errors"]] == [(1, "bytes"), (2, "response_ms"), (3, "type")]
    status, body = collector.post("/events/health", {"response_ms": "fast"}, TOKENS["alpha"])
    assert (status, [(e["event"], e["field"]) for e in body["errors"]]) == (422, [(0, "response_ms")])
    status, body = collector.post("/events", {"events": [{**STORAGE, "time": "2024-02-29T23:59:59"}]}, TOKENS["alpha"])
    assert (status, body["errors"][0]["field"]) == (422, "time")  # no UTC offset: ambiguous
    status, body = collector.post("/events", {"events": [{**STORAGE, "time": "2999-01-01T00:00:00Z"}]}, TOKENS["alpha"])
    assert (status, body["errors"][0]["field"]) == (422, "time")  # beyond the skew tolerance
    status, body = collector.post("/events", {"events": []}, TOKENS["alpha"])
    assert (status, body["errors"][0]["field"]) == (422, "events")


def test_oversized_requests_get_413(collector):
    events = [{**STORAGE, "file_id": f"file-{i:05d}"} for i in range(60)]  # > 4096 bytes
    assert collector.post("/events", {"events": events}, TOKENS["alpha"]) == (413, {"error": "request too large"})
    # without a Content-Length (chunked), the limit holds while the body streams in
    connection = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=10)
    chunks = [b'{"events": [', *(json.dumps(e).encode() + b"," for e in events), b"]}"]
    connection.request("POST", "/events", iter(chunks), {"Authorization": f"Bearer {TOKENS['alpha']}"},
                       encode_chunked=True)
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (413, {"error": "request too large"})
    connection.close()


def test_accepted_events_are_spooled_with_the_authenticated_product(collector):
    status, body = collector.post("/events", {"events": [STORAGE, {"type": "health", "response_ms": 12.5,
                                                                   "user_id": "u1"}]}, TOKENS["beta"])
    assert (status, body) == (202, {"accepted": 2})
    assert collector.post("/events/custom", {"name": "clicked", "properties": {"button": "ok", "n": 3}},
                          jwt_for("gamma")) == (202, {"accepted": 1})
    events = spooled_events(collector)
    mine = [(e["product"], e["type"], e["properties"]) for e in events if e["product"] in ("beta", "gamma")]
    assert mine == [
        ("beta", "storage", {"action": "uploaded", "file_id": "f-1", "bytes": 10}),
        ("beta", "health", {"response_ms": 12.5}),
        ("gamma", "custom", {"name": "clicked", "properties": {"button": "ok", "n": 3.0}}),
    ]
    storage = next(e for e in events if e["product"] == "beta" and e["type"] == "storage")
    assert storage["time_us"] == 1709251199_000000  # 2024-02-29T23:59:59Z


def counters(collector: Collector) -> Counter:
    status, text = collector.get("/metrics")
    assert status == 200
    return Counter({line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1])
                    for line in text.splitlines() if not line.startswith("#")})


def test_healthz_and_prometheus_counters(collector):
    assert collector.get("/healthz") == (200, '{"status":"ok"}')
    before = counters(collector)
    collector.post("/events", {"events": [STORAGE]}, "nope")
    collector.post("/events", {"events": [{**STORAGE, "product": "beta"}]}, TOKENS["alpha"])
    collector.post("/events", {"events": [{**STORAGE, "bytes": "many"}]}, TOKENS["alpha"])
    collector.post("/events", {"events": [STORAGE] * 60}, TOKENS["alpha"])
    assert collector.post("/events", {"events": [STORAGE] * 3}, TOKENS["alpha"])[0] == 202
    after = counters(collector)
    after.subtract(before)
    rejected = {f'metrics_collector_requests_rejected_total{{reason="{r}"}}': 1
                for r in ("unauthorized", "forbidden", "invalid", "too_large")}
    assert {k: v for k, v in after.items() if v and "bytes" not in k} == {
        **rejected, "metrics_collector_requests_accepted_total": 1, "metrics_collector_events_accepted_total": 3}
    assert after["metrics_collector_spooled_bytes_total"] > 3 * 100
    spooled_events(collector)  # waits for the age seal
    assert counters(collector)["metrics_collector_segments_sealed_total"] >= 1
