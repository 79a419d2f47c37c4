"""GET /export/{dataset}: validated filters and paging, CSV or JSON streamed in chunks, Link + count headers."""

from __future__ import annotations

import csv
import io
import json
import dataclasses
import math
from collections.abc import Iterator
from datetime import date, datetime
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from metrics_pipeline.api.backends.base import BadRequest, ExportUnavailable, MetricsBackend
from metrics_pipeline.api.inputs import plugin_name, positive, shown, shown_digits
from metrics_pipeline.api.export import DATASETS, PAGE_SIZE_MAX, ExportRequest
from metrics_pipeline.plugins.export import plugin_datasets

CHUNK_ROWS = 200
MAX_PAGE = 10**12  # more pages than any table has rows; a larger page number is refused unparsed
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _value(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # naive UTC from both SQL backends
    if isinstance(value, date):
        return value.isoformat()
    return value


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}={shown(text)} is not a date (YYYY-MM-DD)") from None


def _chunks(columns: tuple[str, ...], rows: list[tuple], fmt: str) -> Iterator[bytes]:
    if fmt == "csv":
        for first in range(0, max(len(rows), 1), CHUNK_ROWS):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if first == 0:
                writer.writerow(columns)
            writer.writerows([_value(v) for v in row] for row in rows[first:first + CHUNK_ROWS])
            yield buffer.getvalue().encode()
        return
    yield b"["
    for first in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[first:first + CHUNK_ROWS]
        text = ",".join(json.dumps(dict(zip(columns, map(_value, row), strict=True))) for row in chunk)
        yield ((b"," if first else b"") + text.encode())
    yield b"]"


def _links(request: Request, dataset: str, pages: dict[str, int], public_url: str | None) -> str:
    """Relative, or on the configured public base URL: never on the request's Host header."""
    base = f"{public_url or ''}/export/{dataset}"
    others = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return ", ".join(f'<{base}?{urlencode([*others, ("page", n)])}>; rel="{rel}"' for rel, n in pages.items())


def add_export_route(app: FastAPI, backend: MetricsBackend | None, public_url: str | None = None) -> None:
    plugins = plugin_datasets()  # the installed metric plugins' models join the fixed list
    datasets = {**DATASETS, **plugins}
    names = ", ".join(datasets)  # the 404 names every dataset, plugin models included

    @app.get("/export", summary="The export datasets: the fixed ones and the installed plugins' models")
    def export_index():
        """Each dataset's name, columns and date column (None: no start/stop); plugin datasets are
        `plugin_<name>_daily|monthly|total`."""
        return [{"name": d.name, "columns": list(d.columns), "date_column": d.date_column, "plugin": d.name in plugins}
                for d in datasets.values()]

    @app.get("/export/{dataset}", summary="Bulk export of one dataset, paged, as CSV or JSON")
    def export(
        request: Request,
        dataset: str = Path(description=f"One of: {names}, or a plugin dataset listed by GET /export."),
        format: str = Query("csv", description="csv or json."),
        plugin: str | None = Query(None, description="Only this plugin (any spelling; PEP 503-normalized)."),
        start: str | None = Query(None, description="First day or month start to include (YYYY-MM-DD)."),
        stop: str | None = Query(None, description="Last day or month start to include (YYYY-MM-DD)."),
        page: str = Query("1", description="1-based page number."),
        rows_per_page: str = Query(str(PAGE_SIZE_MAX), description=f"1..{PAGE_SIZE_MAX}."),
        order: str = Query("asc", description="asc or desc: the direction of the dataset's date column."),
    ):
        """Rows ordered by plugin (, repo), then date (`order=desc`: newest first); plugin datasets by date,
        then their dimensions. `X-Total-Count` gives the row count, `Link` the first/prev/next/last pages.
        Datasets are a fixed list plus the installed plugins' models; filters are bound values."""
        if dataset not in datasets:
            raise HTTPException(404, f"unknown dataset {shown(dataset)}: choose one of {names}")
        if format not in FORMATS:
            raise BadRequest(f"format={shown(format)}: choose csv or json")
        if order not in ("asc", "desc"):
            raise BadRequest(f"order={shown(order)}: choose asc or desc")
        chosen = datasets[dataset]
        if plugin and "plugin_name" not in chosen.columns:
            raise BadRequest(f"dataset {dataset} has no plugin_name column: plugin does not apply")
        if order == "desc" and chosen.date_column:
            chosen = dataclasses.replace(chosen, order_by=tuple(
                f"{c} DESC" if c == chosen.date_column else c for c in chosen.order_by))
        first_day, last_day = _day(start, "start"), _day(stop, "stop")
        if chosen.date_column is None and (first_day or last_day):
            raise BadRequest(f"dataset {dataset} has no dates: start/stop do not apply")
        if first_day and last_day and first_day > last_day:
            raise BadRequest(f"start={start} is after stop={stop}")
        page_number, size = positive(page, "page", MAX_PAGE), positive(rows_per_page, "rows_per_page", PAGE_SIZE_MAX)
        if size > PAGE_SIZE_MAX:
            raise BadRequest(f"rows_per_page={shown_digits(rows_per_page)} is above the maximum of {PAGE_SIZE_MAX}")
        name = plugin_name(plugin) if plugin else None
        if backend is None:
            raise ExportUnavailable(
                "export reads Postgres or the DuckDB warehouse (DynamoDB is read by key only): "
                "set METRICS_API_EXPORT_BACKEND=postgres or duckdb"
            )
        wanted = ExportRequest(chosen, name, first_day, last_day)
        result = backend.export_page(wanted, (page_number - 1) * size, size)  # past the end: counted, not queried
        last_page = max(1, math.ceil(result.total_rows / size))
        if page_number > last_page:
            raise BadRequest(f"page={shown_digits(page)} is beyond the last page ({last_page}) of {result.total_rows} rows "
                             f"at rows_per_page={size}")
        links = {"first": 1, "last": last_page}
        if page_number > 1:
            links["prev"] = page_number - 1
        if page_number < last_page:
            links["next"] = page_number + 1
        headers = {
            "X-Total-Count": str(result.total_rows),
            "Link": _links(request, dataset, links, public_url),
            "X-Backend-Calls": str(result.backend_calls),
        }
        if format == "csv":
            headers["Content-Disposition"] = f'attachment; filename="{dataset}-page{page_number}.csv"'
        return StreamingResponse(_chunks(chosen.columns, result.rows, format), media_type=FORMATS[format], headers=headers)
