"""Run the events collector: `python -m metrics_pipeline.collector --host 127.0.0.1 --port 8080 --workers 2`.

Settings come from the environment (METRICS_COLLECTOR_TOKENS / _JWT_KEYS, METRICS_EVENTS_SPOOL, ...).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from metrics_pipeline.collector.auth import authenticator_from
from metrics_pipeline.collector.counters import reset
from metrics_pipeline.collector.settings import CollectorSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metrics_pipeline.collector", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="default 8080")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes, each with its own spool segment (default: one per core)")
    args = parser.parse_args(argv)
    try:  # fail fast, naming the setting, before any worker starts
        settings = CollectorSettings.from_env()
        authenticator_from(os.environ)
    except ValueError as error:
        parser.exit(2, f"collector: {error}\n")
    settings.spool.mkdir(parents=True, exist_ok=True)
    reset(settings.spool)
    uvicorn.run(
        "metrics_pipeline.collector.app:create_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, loop="auto", http="auto", access_log=False, log_level="warning",
        proxy_headers=False, server_header=False, timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
