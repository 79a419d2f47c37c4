"""The events domain loads unconfigured and stays inert; its settings choose the segment source."""

from datetime import datetime, timezone

import dagster as dg

from metrics_pipeline.definitions import defs
from metrics_pipeline.events.definitions import definitions, segment_source_from
from metrics_pipeline.events.segment_sources import LocalSegmentSource, S3SegmentSource
from metrics_pipeline.events.sensor import event_segments_sensor, plan
from metrics_pipeline.resources.warehouse import DuckDBWarehouse


def test_events_join_the_graph_once_told_where_segments_are_and_the_sensor_then_only_skips(tmp_path, monkeypatch):
    for name in ("METRICS_EVENTS_SPOOL", "METRICS_EVENTS_S3_BUCKET", "METRICS_INFLUXDB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METRICS_HOME", str(tmp_path))
    keys = {key.to_user_string() for key in defs().resolve_asset_graph().get_all_asset_keys()}
    assert not {"raw_events", "daily_events"} & keys  # not configured: not in the graph, no runs, no events
    monkeypatch.setenv("METRICS_EVENTS_SPOOL", str(tmp_path / "events" / "spool"))
    whole = defs()
    keys = {key.to_user_string() for key in whole.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_events", "daily_events", "monthly_events", "postgres/events", "postgres/events_monthly"} <= keys
    assert "influxdb/events_daily" not in keys  # the InfluxDB sink joins only when METRICS_INFLUXDB_URL is set
    job = whole.resolve_job_def("daily_metrics_job")  # the day's one run carries events too
    assert {"raw_events", "daily_events", "postgres/events"} <= {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    source = segment_source_from({"METRICS_HOME": str(tmp_path)})
    assert source.spool == str(tmp_path / "events" / "spool")
    segments, cursor = plan(None, source, datetime(2024, 3, 1, tzinfo=timezone.utc))
    assert (segments, cursor) == (None, '{"day": "2024-03-01", "seen": {}}')
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    with dg.build_sensor_context(resources={"event_segments": source, "warehouse": warehouse}) as context:
        result = event_segments_sensor(context)
    assert result.skip_reason is not None and not result.run_requests


def test_settings_pick_the_segment_source_and_the_influx_sink():
    assert isinstance(segment_source_from({"METRICS_EVENTS_S3_BUCKET": "b"}), S3SegmentSource)
    assert isinstance(segment_source_from({"METRICS_EVENTS_SPOOL": "/x"}), LocalSegmentSource)
    assets = definitions({"METRICS_INFLUXDB_URL": "http://127.0.0.1:1", "METRICS_EVENTS_SPOOL": "/x"}).assets
    assert dg.AssetKey(["influxdb", "events_daily"]) in {key for asset in assets for key in asset.keys}
