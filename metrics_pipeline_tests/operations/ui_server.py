"""A real `dagster dev` (webserver + daemon) on 127.0.0.1 with its own DAGSTER_HOME, driven through the
GraphQL API the UI uses, and stopped by PID (with every process it started) even when a test fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from metrics_pipeline.demo.local_servers.process import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class DagsterDev:
    url: str
    home: Path
    log_path: Path

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def instance_home(parent: Path, overrides: str = "") -> Path:
    """A DAGSTER_HOME holding the repo's dagster.yaml (plus `overrides` appended, if any)."""
    home = parent / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text() + overrides)
    return home


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_tree(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGINT dagster dev (it stops its webserver, daemon and code servers), then SIGKILL any left."""
    tree = [process.pid, *_descendants(process.pid)]
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for pid in tree:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass


@contextmanager
def dagster_dev(home: Path, workspace: Path, env: dict[str, str], log_dir: Path, timeout: float = 120) -> Iterator[DagsterDev]:
    """Start `dagster dev -w workspace` on a free port; yields once the code location has loaded."""
    port = free_port()
    log_path = log_dir / "dagster_dev.log"
    executable = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [executable, "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGQUIT, signal.SIG_DFL)),
        )
    server = DagsterDev(f"http://127.0.0.1:{port}", home, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
            try:
                data = server.graphql(LOCATIONS, timeout=5)
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                    if errors:
                        raise RuntimeError(f"code location failed to load: {errors}")
                    break
            except (OSError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"dagster dev did not load within {timeout:.0f}s:\n{server.log_tail()}")
            time.sleep(1)
        yield server
    finally:
        stop_tree(process)


LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""

LAUNCH_RUN = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message stack }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }
"""


def launch_job(server: DagsterDev, location: str, job: str, tags: dict[str, str] | None = None) -> str:
    params = {
        "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    result = server.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def wait_for(predicate, timeout: float, what: str, server: DagsterDev, interval: float = 1.0):
    """Poll `predicate()` until it returns a truthy value; fail naming `what` with the server's log."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n--- dagster dev log ---\n{server.log_tail()}")
        time.sleep(interval)
