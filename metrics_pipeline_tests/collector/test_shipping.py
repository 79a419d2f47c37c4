"""Production transport: sealed segments shipped to S3 (moto_server), listed and landed from there."""

import time
from datetime import date

import boto3

from metrics_pipeline.collector.segments import read_sealed
from metrics_pipeline.events.segment_sources import S3SegmentSource
from metrics_pipeline_tests.support.collector_server import TOKENS, Collector, collector_env


def test_sealed_segments_are_shipped_to_s3_and_read_back(tmp_path, dynamodb_endpoint):
    boto3.client("s3", endpoint_url=dynamodb_endpoint).create_bucket(Bucket="events-ship")
    spool = tmp_path / "spool"
    env = collector_env(spool, METRICS_EVENTS_S3_BUCKET="events-ship", METRICS_EVENTS_S3_PREFIX="prod/events",
                        METRICS_EVENTS_S3_ENDPOINT_URL=dynamodb_endpoint)
    collector = Collector(spool, env).start()
    try:
        for n in range(3):
            event = {"type": "health", "response_ms": float(n), "time": "2024-12-31T23:59:59Z"}
            assert collector.post("/events/health", event, TOKENS["alpha"]) == (202, {"accepted": 1})
        source = S3SegmentSource(bucket="events-ship", prefix="prod/events", endpoint_url=dynamodb_endpoint)
        refs = []
        for _ in range(100):
            refs = source.list_sealed(None, today=date.today())
            if sum(source.seal(ref).events for ref in refs) == 3 and not list(spool.glob("sealed/*/*.seg")):
                break
            time.sleep(0.1)
        status, text = collector.get("/metrics")
    finally:
        collector.stop()
    found = [e for ref in refs for e in read_sealed(source.read(ref), ref.name)[0]]
    assert sorted(e["properties"]["response_ms"] for e in found) == [0.0, 1.0, 2.0]
    assert sum(source.seal(ref).days["2024-12-31"] for ref in refs) == 3
    assert list(spool.glob("sealed/*/*.seg")) == []  # deleted locally once shipped
    shipped = [line for line in text.splitlines() if line.startswith("metrics_collector_segments_shipped_total")]
    assert shipped == [f"metrics_collector_segments_shipped_total {len(refs)}"]
