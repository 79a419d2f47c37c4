"""The events domain loads unconfigured and stays inert; its settings choose the segment source."""

from datetime import datetime, timezone

import dagster as dg

from metrics_pipeline.definitions import defs
from metrics_pipeline.events.definitions import definitions, segment_source_from
from metrics_pipeline.events.segment_sources import LocalSegmentSource, S3SegmentSource
from metrics_pipeline.events.sensor import event_segments_sensor, plan
from metrics_pipeline.resources.warehouse import DuckDBWarehouse


def test_unconfigured_events_load_with_the_rest_and_the_sensor_only_skips(tmp_path, monkeypatch):
    for name in ("METRICS_EVENTS_SPOOL", "METRICS_EVENTS_S3_BUCKET", "METRICS_INFLUXDB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METRICS_HOME", str(tmp_path))
    whole = defs()
    keys = {key.to_user_string() for key in whole.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_events", "daily_events", "monthly_events", "postgres/events", "postgres/events_monthly"} <= keys
    assert "influxdb/events_daily" not in keys  # the InfluxDB sink joins only when METRICS_INFLUXDB_URL is set
    assert whole.resolve_job_def("events_job") is not None
    source = segment_source_from({"METRICS_HOME": str(tmp_path)})
    assert source.spool == str(tmp_path / "events" / "spool")
    requests, cursor = plan(None, source, datetime(2024, 3, 1, tzinfo=timezone.utc))
    assert (requests, cursor) == ([], '{"day": "2024-03-01", "deferred": [], "seen": {}}')
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    result = event_segments_sensor(dg.build_sensor_context(resources={"event_segments": source, "warehouse": warehouse}))
    assert result.skip_reason is not None and not result.run_requests


def test_settings_pick_the_segment_source_and_the_influx_sink():
    assert isinstance(segment_source_from({"METRICS_EVENTS_S3_BUCKET": "b"}), S3SegmentSource)
    assert isinstance(segment_source_from({"METRICS_EVENTS_SPOOL": "/x"}), LocalSegmentSource)
    assets = definitions({"METRICS_INFLUXDB_URL": "http://127.0.0.1:1"}).assets
    assert dg.AssetKey(["influxdb", "events_daily"]) in {key for asset in assets for key in asset.keys}
