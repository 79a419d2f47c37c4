"""The events domain: where sealed segments come from (spool or S3), assets, sinks, job and sensor.

Part of the graph once METRICS_EVENTS_SPOOL or METRICS_EVENTS_S3_BUCKET says where sealed segments
are; the InfluxDB sink only when METRICS_INFLUXDB_URL is set.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.collector.settings import (
    S3_BUCKET_SETTING, S3_ENDPOINT_SETTING, S3_PREFIX_SETTING, SPOOL_SETTING, spool_dir_from,
)
from metrics_pipeline.events.influxdb import URL_SETTING, InfluxDBResource
from metrics_pipeline.events.segment_sources import LocalSegmentSource, S3SegmentSource, SegmentSource


def segment_source_from(env: Mapping[str, str]) -> SegmentSource:
    if env.get(S3_BUCKET_SETTING):
        optional = {"endpoint_url": dg.EnvVar(S3_ENDPOINT_SETTING)} if env.get(S3_ENDPOINT_SETTING) else {}
        prefix = {"prefix": dg.EnvVar(S3_PREFIX_SETTING)} if env.get(S3_PREFIX_SETTING) else {}
        return S3SegmentSource(bucket=dg.EnvVar(S3_BUCKET_SETTING), **prefix, **optional)
    if env.get(SPOOL_SETTING):
        return LocalSegmentSource(spool=dg.EnvVar(SPOOL_SETTING))
    return LocalSegmentSource(spool=str(spool_dir_from(env)))


def events_enabled(env: Mapping[str, str]) -> bool:
    """The domain joins the graph once the pipeline is told where sealed segments are."""
    return bool(env.get(SPOOL_SETTING) or env.get(S3_BUCKET_SETTING))


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    if not events_enabled(env):
        return dg.Definitions()
    # Imported only when enabled: a deployment without events loads nothing of the domain.
    from metrics_pipeline.events.assets import daily_events, monthly_events, raw_events
    from metrics_pipeline.events.sensor import event_segments_sensor
    from metrics_pipeline.events.sinks import influxdb_daily_events, postgres_events, postgres_events_monthly

    influx = bool(env.get(URL_SETTING))
    daily = [raw_events, daily_events, postgres_events] + ([influxdb_daily_events] if influx else [])
    resources: dict = {"event_segments": segment_source_from(env)}
    if influx:
        optional = {key: dg.EnvVar(name) for key, name in (
            ("database", "METRICS_INFLUXDB_DATABASE"), ("username", "METRICS_INFLUXDB_USERNAME"),
            ("password", "METRICS_INFLUXDB_PASSWORD")) if env.get(name)}
        resources["influxdb"] = InfluxDBResource(url=dg.EnvVar(URL_SETTING), **optional)
    return dg.Definitions(
        assets=[*daily, monthly_events, postgres_events_monthly], sensors=[event_segments_sensor], resources=resources,
    )
