"""Collector settings from the environment (shared with the events domain: where the spool is)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from metrics_pipeline.collector.records import MAX_FUTURE_LIMIT_SECONDS

SPOOL_SETTING = "METRICS_EVENTS_SPOOL"
S3_BUCKET_SETTING = "METRICS_EVENTS_S3_BUCKET"
S3_PREFIX_SETTING = "METRICS_EVENTS_S3_PREFIX"
S3_ENDPOINT_SETTING = "METRICS_EVENTS_S3_ENDPOINT_URL"


def spool_dir_from(env: Mapping[str, str]) -> Path:
    """METRICS_EVENTS_SPOOL, else `events/spool` under METRICS_HOME (default `.metrics`)."""
    if env.get(SPOOL_SETTING):
        return Path(env[SPOOL_SETTING])
    return Path(env.get("METRICS_HOME") or ".metrics") / "events" / "spool"


def _number(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float | None = None) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}, got {raw!r}")
    return value


@dataclass(frozen=True)
class CollectorSettings:
    spool: Path
    max_request_bytes: int
    segment_bytes: int
    segment_seconds: float
    max_future_seconds: float
    writer_id: str
    s3_bucket: str | None
    s3_prefix: str
    s3_endpoint_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CollectorSettings:
        from metrics_pipeline.collector.spool import default_writer_id

        return cls(
            spool=spool_dir_from(env),
            max_request_bytes=int(_number(env, "METRICS_COLLECTOR_MAX_BYTES", 1 << 20, 1024)),
            segment_bytes=int(_number(env, "METRICS_EVENTS_SEGMENT_BYTES", 8 << 20, 1)),
            segment_seconds=_number(env, "METRICS_EVENTS_SEGMENT_SECONDS", 60, 0.1),
            max_future_seconds=_number(env, "METRICS_COLLECTOR_MAX_FUTURE_SECONDS", 300, 0, MAX_FUTURE_LIMIT_SECONDS),
            writer_id=(env.get("METRICS_COLLECTOR_ID") or default_writer_id()),
            s3_bucket=env.get(S3_BUCKET_SETTING) or None,
            s3_prefix=(env.get(S3_PREFIX_SETTING) or "events").strip("/"),
            s3_endpoint_url=env.get(S3_ENDPOINT_SETTING) or None,
        )
