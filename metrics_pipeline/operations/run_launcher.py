"""Dagster's default run launcher plus a run-worker health check, so run monitoring can fail the run
of a worker that died (SIGKILL, OOM) and free its `warehouse` pool slot instead of leaving it STARTED.

Single-host only (`dagster dev`, one VM): the worker's PID, which it reports in its first engine
event, is looked up on this machine. Scaled-out deployments use a launcher with its own health
check (EcsRunLauncher, K8sRunLauncher; see deploy/).
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The PID in the run's "Started process for run (pid: N)" engine event, if it has one yet."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    for record in records:
        event = record.event_log_entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event and event.engine_event_data else None
        if pid is not None:
            return int(pid.value)
    return None


def process_alive(pid: int) -> bool:
    """True while `pid` runs on this machine; a zombie (exited, not yet reaped) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class LocalRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose run workers' liveness run monitoring can check."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        grpc_info = json.loads(run.tags.get(GRPC_INFO_TAG, "{}"))
        if grpc_info.get("host", "localhost") not in LOCAL_HOSTS:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker on another host: not checked")
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:  # not started yet: run monitoring's start timeout covers this case
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker has not reported its PID yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (killed or crashed)", run_worker_id=str(pid)
        )
