"""The collector's HTTP API (Starlette): POST /events, POST /events/{type}, /healthz, /metrics.

202 means the events are fsync'd in the local spool; nothing here needs the warehouse or Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from datetime import datetime, timedelta, timezone

from pydantic_core import to_json
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from metrics_pipeline.collector.auth import Authenticator, Unauthorized, authenticator_from
from metrics_pipeline.collector.counters import Counters
from metrics_pipeline.collector.schemas import InvalidEvents, parse_batch, parse_single, to_records
from metrics_pipeline.collector.segments import day_of
from metrics_pipeline.collector.settings import CollectorSettings
from metrics_pipeline.collector.spool import GroupCommitSpool, SegmentWriter, recover_orphans

log = logging.getLogger("metrics_pipeline.collector")
JSON = "application/json"
_JSON_HEADERS = [(b"content-type", b"application/json")]
UNAUTHORIZED = (401, b'{"error":"unauthorized"}', [(b"www-authenticate", b"Bearer")])
FORBIDDEN = (403, b'{"error":"forbidden"}', [])
TOO_LARGE = (413, b'{"error":"request too large"}', [])
UNAVAILABLE = (503, b'{"error":"spool unavailable"}', [])


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    """The client went away before its body was complete: nothing to answer, nothing spooled."""


class Collector:
    """Per-process state: settings, authenticator, spool, counters and the optional shipper."""

    def __init__(self, settings: CollectorSettings, auth: Authenticator):
        self.settings, self.auth = settings, auth
        self.max_future = timedelta(seconds=settings.max_future_seconds)
        self.counters = Counters(settings.spool)
        self.spool = GroupCommitSpool(
            SegmentWriter(settings.spool, settings.writer_id, settings.segment_bytes, settings.segment_seconds),
            on_sealed=lambda path: self.counters.add("metrics_collector_segments_sealed_total"),
        )
        self.shipper = None
        if settings.s3_bucket:
            from metrics_pipeline.collector.shipping import S3Shipper

            self.shipper = S3Shipper(settings.spool, settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url)

    def reject(self, reason: str, response: tuple[int, bytes, list]) -> tuple[int, bytes, list]:
        self.counters.add("metrics_collector_requests_rejected_total", reason=reason)
        return response

    async def ticker(self) -> None:
        """Once a second: seal by age, adopt killed writers' segments, ship, publish counters."""
        loop, tick = asyncio.get_running_loop(), 0
        while True:
            await asyncio.sleep(min(1.0, self.settings.segment_seconds / 2))
            tick += 1
            try:
                await self.spool.seal_if_due()
                if tick % 10 == 0:
                    for _ in await loop.run_in_executor(None, recover_orphans, self.settings.spool):
                        self.counters.add("metrics_collector_segments_sealed_total")
                if self.shipper is not None:
                    shipped, failed = await loop.run_in_executor(None, self.shipper.ship)
                    self.counters.add("metrics_collector_segments_shipped_total", shipped)
                    self.counters.add("metrics_collector_ship_failures_total", failed)
                self.counters.publish()
            except Exception:  # keep ticking; the next tick retries
                log.exception("collector housekeeping failed")


async def _body(receive, declared: bytes | None, limit: int) -> bytes:
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLarge
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _ingest(
    collector: Collector, event_type: str | None, headers: dict, receive
) -> tuple[int, bytes, list] | None:
    """The answer to a POST, or None when the client is gone."""
    try:
        authorization = headers.get(b"authorization")
        product = collector.auth.product_for(authorization.decode("latin-1") if authorization else None)
        body = await _body(receive, headers.get(b"content-length"), collector.settings.max_request_bytes)
        events = parse_batch(body) if event_type is None else parse_single(event_type, body)
        if any(event.product is not None and event.product != product for event in events):
            return collector.reject("forbidden", FORBIDDEN)
        records = to_records(events, product, datetime.now(timezone.utc), collector.max_future)
    except Unauthorized:
        return collector.reject("unauthorized", UNAUTHORIZED)
    except _TooLarge:
        return collector.reject("too_large", TOO_LARGE)
    except _Disconnected:
        collector.counters.add("metrics_collector_requests_rejected_total", reason="client_disconnected")
        log.info("a client went away before sending its whole body; nothing was spooled")
        return None
    except InvalidEvents as invalid:
        collector.counters.add("metrics_collector_requests_rejected_total", reason="invalid")
        return 422, to_json({"error": "invalid events", "errors": invalid.errors}), []
    days = Counter(day_of(record["time_us"]) for record in records)
    try:
        written = await collector.spool.append(to_json(records), len(records), days)
    except OSError:
        log.exception("spool append failed")
        return collector.reject("spool_error", UNAVAILABLE)
    counters = collector.counters
    counters.add("metrics_collector_requests_accepted_total")
    counters.add("metrics_collector_events_accepted_total", len(records))
    counters.add("metrics_collector_spooled_bytes_total", written)
    return 202, b'{"accepted":%d}' % len(records), []


class CollectorApp:
    """POST /events and /events/{type} as plain ASGI (the hot path: no framework objects per
    request); everything else, lifespan included, goes to the Starlette app."""

    def __init__(self, starlette: Starlette):
        self.starlette = starlette

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/events") and scope["method"] == "POST":
            rest = path[len("/events"):].strip("/")
            if "/" not in rest:
                answer = await _ingest(self.starlette.state.collector, rest or None, dict(scope["headers"]), receive)
                if answer is None:
                    return
                status, body, extra = answer
                await send({"type": "http.response.start", "status": status, "headers": _JSON_HEADERS + extra})
                await send({"type": "http.response.body", "body": body})
                return
        await self.starlette(scope, receive, send)


async def healthz(request: Request) -> Response:
    healthy = request.app.state.collector.spool.healthy
    return Response(b'{"status":"ok"}' if healthy else b'{"status":"spool failing"}', 200 if healthy else 503,
                    media_type=JSON)


async def metrics(request: Request) -> Response:
    return Response(request.app.state.collector.counters.render(), media_type="text/plain; version=0.0.4")


def create_app(settings: CollectorSettings | None = None, auth: Authenticator | None = None) -> CollectorApp:
    """The ASGI app; settings and authentication come from the environment unless given."""
    settings = settings or CollectorSettings.from_env()
    auth = auth or authenticator_from(os.environ)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        collector = Collector(settings, auth)
        for _ in recover_orphans(settings.spool):  # segments a killed process left open
            collector.counters.add("metrics_collector_segments_sealed_total")
        app.state.collector = collector
        ticker = asyncio.get_running_loop().create_task(collector.ticker())
        try:
            yield
        finally:
            ticker.cancel()
            await collector.spool.close()
            collector.counters.publish()

    return CollectorApp(Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])],
        lifespan=lifespan,
    ))
