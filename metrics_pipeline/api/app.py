"""The FastAPI app: the hub's metrics endpoint (+ data_status), its two halves, export and /healthz."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import date

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from metrics_pipeline.api import community, inputs, timeline
from metrics_pipeline.api.backends import make_backend
from metrics_pipeline.api.backends.base import (
    BackendUnavailable, BadRequest, CommunityUnavailable, ExportUnavailable, MetricsBackend,
)
from metrics_pipeline.api.export_route import add_export_route
from metrics_pipeline.api.settings import ApiSettings

LIMIT_DOC = (f"Months in each timeline, ending with last month: ASCII digits only (default 12; anything else: 0; "
             f"above {inputs.MAX_LIMIT}: {inputs.MAX_LIMIT}).")
PLUGIN_DOC = "Plugin name in any spelling: matched after PEP 503 normalization."


def create_app(
    settings: ApiSettings,
    backend: MetricsBackend | None = None,
    export_backend: MetricsBackend | None = None,
    today: Callable[[], date] | None = None,
) -> FastAPI:
    """Build the app over one backend; `today` (default: settings, else the UTC date) is injectable."""
    backend = backend or make_backend(settings.backend, settings)
    if export_backend is None and settings.export_backend:
        export_backend = backend if settings.export_backend == settings.backend else make_backend(settings.export_backend, settings)
    today = today or settings.today_fn()
    # DynamoDB holds no community metrics: they come from the export backend when one is set.
    community_backend = next((b for b in (backend, export_backend) if b is not None and b.serves_community), None)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        backend.close()
        if export_backend is not None and export_backend is not backend:
            export_backend.close()

    app = FastAPI(
        title="metrics_pipeline read API",
        description="Plugin install and commit metrics in the hub's shape, with data freshness, and bulk export.",
        lifespan=lifespan,
    )
    app.add_middleware(inputs.RequireUtf8Names)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest):
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"detail": problems}, status_code=400)

    @app.exception_handler(BackendUnavailable)
    async def unavailable(_: Request, error: BackendUnavailable):
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(ExportUnavailable)
    @app.exception_handler(CommunityUnavailable)
    async def not_served(_: Request, error: ExportUnavailable | CommunityUnavailable):
        return JSONResponse({"detail": str(error)}, status_code=501)

    def checked(plugin: str, limit: str | None) -> tuple[str, int]:
        return inputs.plugin_name(plugin), inputs.parse_limit(limit)

    def answer(plugin: str, limit: str | None, installs: bool, commits: bool) -> JSONResponse:
        name, months = checked(plugin, limit)
        day = today()
        query = timeline.plugin_query(name, months, day, installs, commits)
        facts = backend.read_plugin(query)
        body = {}
        if installs:
            body["usage"] = timeline.usage(query, facts)
        if commits:
            body["maintenance"] = timeline.maintenance(query, facts)
        body["data_status"] = timeline.data_status(query, facts, day, settings.stale_after_days)
        return JSONResponse(body, headers={"X-Backend-Calls": str(facts.backend_calls)})

    @app.get("/metrics/{plugin}", summary="A plugin's install and commit metrics, as the hub reads them")
    def metrics(plugin: str = Path(description=PLUGIN_DOC), limit: str | None = Query(None, description=LIMIT_DOC)):
        """`usage` and `maintenance` exactly as the hub's API returns them, plus `data_status`:
        each source's last complete day (UTC) and whether it is stale."""
        return answer(plugin, limit, installs=True, commits=True)

    @app.get("/metrics/{plugin}/installs", summary="Only the `usage` half (installs)")
    def installs(plugin: str = Path(description=PLUGIN_DOC), limit: str | None = Query(None, description=LIMIT_DOC)):
        return answer(plugin, limit, installs=True, commits=False)

    @app.get("/metrics/{plugin}/commits", summary="Only the `maintenance` half (commits)")
    def commits(plugin: str = Path(description=PLUGIN_DOC), limit: str | None = Query(None, description=LIMIT_DOC)):
        return answer(plugin, limit, installs=False, commits=True)

    @app.get("/metrics/{plugin}/community", summary="Community activity of the plugin's repo: issues, PRs, responsiveness")
    def community_metrics(plugin: str = Path(description=PLUGIN_DOC), limit: str | None = Query(None, description=LIMIT_DOC)):
        """Monthly `timeline` and all-time `stats` of the repo's issues and PRs (hours: null without items);
        unknown plugin or no tracked repo: `repo` null and zeros. DynamoDB: served by the export backend."""
        (name, months), day = checked(plugin, limit), today()
        if community_backend is None:
            raise CommunityUnavailable(community.UNAVAILABLE)
        query = community.community_query(name, months, day)
        facts = community_backend.read_community(query)
        return JSONResponse(community.community_body(query, facts, day, settings.stale_after_days),
                            headers={"X-Backend-Calls": str(facts.backend_calls)})

    @app.get("/healthz", summary="Liveness plus a cheap backend check")
    def healthz():
        backend.ping()
        return {"status": "ok", "backend": backend.name,
                "export_backend": export_backend.name if export_backend else None}

    add_export_route(app, export_backend, settings.public_url)
    return app
