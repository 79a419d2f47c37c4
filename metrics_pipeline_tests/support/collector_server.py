"""The collector as a real server for tests: uvicorn in its own process on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from metrics_pipeline.demo.local_servers.process import ServerProcess, free_port, start_server, stop_pid

TOKENS = {"alpha": "alpha-token-0123456789", "beta": "beta-token-0123456789"}
JWT_KEYS = {"gamma": "gamma-signing-key-0123456789abcdef0123"}


def collector_env(spool: Path, **extra: str) -> dict[str, str]:
    return {
        "METRICS_EVENTS_SPOOL": str(spool),
        "METRICS_COLLECTOR_TOKENS": ",".join(f"{p}:{hashlib.sha256(t.encode()).hexdigest()}" for p, t in TOKENS.items()),
        "METRICS_COLLECTOR_JWT_KEYS": json.dumps(JWT_KEYS),
        "METRICS_EVENTS_SEGMENT_SECONDS": "0.5",
        **extra,
    }


def jwt_for(product: str, key: str | None = None) -> str:
    return jwt.encode({"product": product}, key or JWT_KEYS[product], algorithm="HS256")


@dataclass
class Collector:
    spool: Path
    env: dict[str, str]
    workers: int = 1
    process: ServerProcess | None = None
    port: int = field(default_factory=free_port)

    def start(self) -> Collector:
        command = [sys.executable, "-m", "metrics_pipeline.collector", "--port", str(self.port),
                   "--workers", str(self.workers)]
        self.process = start_server(command, self.port, self.spool.parent / "collector.log", env=self.env)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hook runs, open segments stay open."""
        os.killpg(self.process.pid, signal.SIGKILL)
        stop_pid(self.process.pid, timeout=5)
        self.process = None

    def post(self, path: str, body, token: str | None = None, raw: bytes | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            connection.request("POST", path, raw if raw is not None else json.dumps(body).encode(), headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def wait_sealed(self, timeout: float = 10.0) -> list[Path]:
        """Wait until no open segment holds events (the age seal ran); returns the sealed files."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(_size(p) for p in (self.spool / "open").glob("*.open")):
                return sorted((self.spool / "sealed").glob("*/*.seg"))
            time.sleep(0.1)
        raise TimeoutError("open spool segments were not sealed in time")


def _size(path: Path) -> int:
    """A listed open segment may be sealed (renamed away) before it is looked at: then it holds nothing."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
