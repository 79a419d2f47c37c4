"""API settings from the environment; an unknown or malformed value fails naming its variable."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

BACKEND_SETTING = "METRICS_API_BACKEND"
EXPORT_BACKEND_SETTING = "METRICS_API_EXPORT_BACKEND"
BACKENDS = ("dynamodb", "postgres", "duckdb")
EXPORT_BACKENDS = ("postgres", "duckdb")  # export reads tables; DynamoDB would need a Scan


def masked_dsn(dsn: str) -> str:
    """A Postgres DSN (URI or key=value) with its password replaced by ***, for printing."""
    dsn = re.sub(r"^(\w+://[^:/@?]*:)[^@/?]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)


class ApiSettingsError(ValueError):
    """A METRICS_API_* (or backend) setting is missing or malformed."""


@dataclass(frozen=True)
class ApiSettings:
    backend: str
    export_backend: str | None = None  # None: export answers 501 (the metrics backend is DynamoDB)
    stale_after_days: int = 1
    today: date | None = None  # fixed "today" (tests, demo); None means the UTC date now
    warehouse_path: str | None = None
    warehouse_lock_wait_seconds: float = 2.0
    postgres_dsn: str | None = None
    dynamodb_stack: str | None = None
    dynamodb_endpoint_url: str | None = None
    aws_region: str | None = None
    public_url: str | None = None  # base of the export's Link headers; None: relative links
    status_refresh_seconds: float = 30.0  # DynamoDB: how often the pipeline-status items are re-read
    cache_entries: int = 4096  # DynamoDB: per-plugin answers kept in process; 0 turns the cache off

    def today_fn(self) -> Callable[[], date]:
        fixed = self.today
        return (lambda: fixed) if fixed else (lambda: datetime.now(UTC).date())


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = (env.get(name) or "").strip().lower() or default
    if value is not None and value not in allowed:
        raise ApiSettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ApiSettingsError(f"{name}={text!r} is not {'a whole number' if kind is int else 'a number'}") from None
    if not math.isfinite(value) or value < 0:
        raise ApiSettingsError(f"{name}={text!r} must be a finite number, not negative")
    return value


def _public_url(env: Mapping[str, str]) -> str | None:
    """Links are built on this base, never on the request's Host header."""
    text = (env.get("METRICS_API_PUBLIC_URL") or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ApiSettingsError(
            f"METRICS_API_PUBLIC_URL={text!r} is not an http(s) base URL without query (e.g. https://metrics.example.org/api)")
    return text.rstrip("/")


def settings_from_env(env: Mapping[str, str]) -> ApiSettings:
    """Read METRICS_API_* plus the pipeline's own backend settings (warehouse path, DSN, stack)."""
    backend = _choice(env, BACKEND_SETTING, BACKENDS, None)
    if backend is None:
        raise ApiSettingsError(f"{BACKEND_SETTING} is not set: choose one of {', '.join(BACKENDS)}")
    default_export = backend if backend in EXPORT_BACKENDS else None
    export_backend = _choice(env, EXPORT_BACKEND_SETTING, EXPORT_BACKENDS, default_export)
    today_text = (env.get("METRICS_API_TODAY") or "").strip()
    try:
        today = date.fromisoformat(today_text) if today_text else None
    except ValueError:
        raise ApiSettingsError(f"METRICS_API_TODAY={today_text!r} is not a YYYY-MM-DD date") from None
    settings = ApiSettings(
        backend=backend,
        export_backend=export_backend,
        stale_after_days=int(_number(env, "METRICS_API_STALE_AFTER_DAYS", 1, int)),
        today=today,
        warehouse_path=env.get("METRICS_WAREHOUSE_PATH") or None,
        warehouse_lock_wait_seconds=_number(env, "METRICS_API_WAREHOUSE_LOCK_WAIT_SECONDS", 2.0, float),
        postgres_dsn=env.get("METRICS_POSTGRES_DSN") or None,
        dynamodb_stack=env.get("METRICS_DYNAMODB_STACK") or None,
        dynamodb_endpoint_url=env.get("METRICS_DYNAMODB_ENDPOINT_URL") or None,
        aws_region=env.get("AWS_REGION") or None,
        public_url=_public_url(env),
        status_refresh_seconds=_number(env, "METRICS_API_STATUS_REFRESH_SECONDS", 30.0, float),
        cache_entries=int(_number(env, "METRICS_API_CACHE_ENTRIES", 4096, int)),
    )
    if settings.status_refresh_seconds <= 0:
        raise ApiSettingsError("METRICS_API_STATUS_REFRESH_SECONDS must be above 0")
    required = {"duckdb": ("warehouse_path", "METRICS_WAREHOUSE_PATH"), "postgres": ("postgres_dsn", "METRICS_POSTGRES_DSN"),
                "dynamodb": ("dynamodb_stack", "METRICS_DYNAMODB_STACK")}
    for kind in {backend, export_backend} - {None}:
        field, variable = required[kind]
        if not getattr(settings, field):
            raise ApiSettingsError(f"{variable} is not set (needed by the {kind} backend of the read API)")
    return settings
