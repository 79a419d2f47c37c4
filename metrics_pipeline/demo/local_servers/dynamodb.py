"""A DynamoDB-compatible HTTP server (moto_server) on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from metrics_pipeline.demo.local_servers.process import ServerProcess, free_port, start_server

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
LOCAL_REGION = "us-east-1"


def _moto_command(port: int) -> list[str]:
    executable = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(executable).exists():
        raise RuntimeError("moto_server was not found; install it with `pip install 'moto[server]'`")
    return [executable, "-H", "127.0.0.1", "-p", str(port)]


@dataclass
class MotoServerProcess(ServerProcess):
    """moto_server's process; `stop()` also removes the scratch directory we made for its log."""

    scratch_dir: Path | None = None

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)


def start_dynamodb(log_dir: str | None = None) -> tuple[MotoServerProcess, str]:
    """Start moto_server on a free port (state in memory); returns the process and its endpoint URL."""
    port = free_port()
    scratch = None if log_dir else Path(tempfile.mkdtemp(prefix="metrics-moto-"))
    try:
        process = start_server(_moto_command(port), port, Path(log_dir or scratch) / "moto_server.log")
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return MotoServerProcess(process.pid, process.port, process.log_path, scratch), f"http://127.0.0.1:{port}"


def ensure_local_dynamodb(env: dict[str, str]) -> MotoServerProcess | None:
    """Start moto_server and point METRICS_DYNAMODB_ENDPOINT_URL at it when none is configured.

    Local-only credentials and region are filled in only where the environment has none.
    """
    if env.get("METRICS_DYNAMODB_ENDPOINT_URL"):
        return None
    server, endpoint = start_dynamodb()
    env["METRICS_DYNAMODB_ENDPOINT_URL"] = endpoint
    env.setdefault("METRICS_DYNAMODB_STACK", "local")
    env.setdefault("AWS_REGION", LOCAL_REGION)
    for name, value in LOCAL_CREDENTIALS.items():
        env.setdefault(name, value)
    return server
