"""`python -m metrics_pipeline.api --host 127.0.0.1 --port 8000`: serve the read API with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from metrics_pipeline.api.app import create_app
from metrics_pipeline.api.settings import ApiSettings, ApiSettingsError, masked_dsn, settings_from_env


def _source(settings: ApiSettings) -> str:
    """Where the answers come from, for the start-up line (the DSN's password masked)."""
    if settings.backend == "duckdb":
        missing = "" if os.path.exists(settings.warehouse_path) else " (does not exist yet: run `make demo` or the pipeline)"
        return f"the DuckDB warehouse {settings.warehouse_path}{missing}"
    if settings.backend == "postgres":
        return f"Postgres {masked_dsn(settings.postgres_dsn)}"
    return f"DynamoDB stack {settings.dynamodb_stack} at {settings.dynamodb_endpoint_url or 'AWS'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metrics_pipeline.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_env(os.environ)
    except ApiSettingsError as error:
        print(f"metrics_pipeline.api: {error}", file=sys.stderr)
        return 2
    app = create_app(settings)
    print(f"read API on http://{args.host}:{args.port} (try /metrics/<plugin>, /export, /docs) from {_source(settings)}",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
