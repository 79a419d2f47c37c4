"""One backend class per store, chosen by METRICS_API_BACKEND (and METRICS_API_EXPORT_BACKEND for export)."""

from __future__ import annotations

from metrics_pipeline.api.backends.base import MetricsBackend
from metrics_pipeline.api.settings import ApiSettings


def make_backend(kind: str, settings: ApiSettings) -> MetricsBackend:
    if kind == "duckdb":
        from metrics_pipeline.api.backends.warehouse import WarehouseBackend

        return WarehouseBackend(settings.warehouse_path, settings.warehouse_lock_wait_seconds)
    if kind == "postgres":
        from metrics_pipeline.api.backends.postgres import PostgresBackend

        return PostgresBackend(settings.postgres_dsn)
    if kind == "dynamodb":
        from metrics_pipeline.api.backends.dynamodb import DynamoDBBackend

        return DynamoDBBackend(settings.dynamodb_stack, settings.dynamodb_endpoint_url, settings.aws_region,
                               status_refresh_seconds=settings.status_refresh_seconds,
                               cache_entries=settings.cache_entries)
    raise ValueError(f"unknown backend {kind!r}")
