"""A throwaway PostgreSQL cluster on 127.0.0.1 (initdb + pg_ctl as the postgres user), stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from metrics_pipeline.demo.local_servers.process import free_port, wait_for_port

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
OS_USER = "postgres"


def _pg_binary(name: str) -> str:
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's `{name}` was not found; install the server with `apt-get install -y postgresql`"
        )
    return found


def _as_postgres(args: list[str]) -> list[str]:
    """Root may not run the server: drop to the postgres user; other users run it themselves."""
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", OS_USER, "--", *args]
    return ["su", OS_USER, "-s", "/bin/sh", "-c", " ".join(map(_quote, args))]


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\"'\"'") + "'"


@dataclass
class PostgresServer:
    """A running throwaway cluster: connect with `dsn`, stop with `stop()` (removes its files)."""

    dsn: str
    port: int
    pid: int
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def stop(self, timeout: float = 15.0) -> None:
        subprocess.run(
            _as_postgres([_pg_binary("pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "fast", "-w",
                          "-t", str(int(timeout))]),
            capture_output=True, check=False, timeout=timeout + 5,
        )
        _kill_if_alive(self.pid)
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_if_alive(pid: int) -> None:
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def start_postgres(parent_dir: str | None = None, database: str = "metrics", durable: bool = False) -> PostgresServer:
    """initdb a fresh cluster in a new directory, start it on a free port, create `database`.

    `durable=False` turns fsync off: the cluster is thrown away, so crash safety of the OS
    cache does not matter (transactions stay atomic).
    """
    root = Path(tempfile.mkdtemp(prefix="metrics-pg-", dir=parent_dir))
    data_dir, log_path = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER, OS_USER)
    os.chmod(root, 0o755)
    port = free_port()
    try:
        _run([_pg_binary("initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run([_pg_binary("pg_ctl"), "-D", str(data_dir), "-l", str(log_path), "-o", options, "-w", "start"])
        wait_for_port(port, timeout=30)
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        server = PostgresServer(f"postgresql://postgres@127.0.0.1:{port}/{database}", port, pid, root)
        _run([_pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
        return server
    except BaseException:
        pid_file = data_dir / "postmaster.pid"
        if pid_file.exists():
            _kill_if_alive(int(pid_file.read_text().splitlines()[0]))
        shutil.rmtree(root, ignore_errors=True)
        raise


def _run(args: list[str]) -> None:
    result = subprocess.run(_as_postgres(args), capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def ensure_local_postgres(env: dict[str, str]) -> PostgresServer | None:
    """Start a throwaway cluster and set METRICS_POSTGRES_DSN in `env` when none is configured."""
    if env.get("METRICS_POSTGRES_DSN"):
        return None
    server = start_postgres()
    env["METRICS_POSTGRES_DSN"] = server.dsn
    return server
