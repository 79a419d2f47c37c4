"""A run worker killed with SIGKILL must not wedge the instance: with the repo's dagster.yaml the run
is failed, its `warehouse` pool slot freed, the queued run proceeds and the killed run is retried,
all without a manual step (real `dagster dev` on 127.0.0.1). When nobody is left to report the
death (its code server gone too), run monitoring's worker health check fails the run."""

import os
import signal
import subprocess
import sys
import time

import dagster as dg
from dagster._core.events import EngineEventData

from metrics_pipeline.operations.run_launcher import LocalRunLauncher, process_alive, worker_pid
from metrics_pipeline_tests.operations.ui_server import dagster_dev, instance_home, launch_job, wait_for

LOCATION = "worker_kill"


def test_a_killed_run_worker_is_failed_its_slot_freed_and_the_next_run_proceeds(tmp_path, monkeypatch):
    home = instance_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance's event logs live under it
    markers = tmp_path / "markers"
    markers.mkdir()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: metrics_pipeline_tests.operations.worker_kill_defs\n"
        f"      location_name: {LOCATION}\n"
    )
    with dagster_dev(home, workspace, {"KILL_TEST_DIR": str(markers)}, tmp_path) as server, \
            dg.DagsterInstance.from_config(str(home)) as instance:

        def status(run_id):
            return instance.get_run_by_id(run_id).status.value

        held = launch_job(server, LOCATION, "hold_job")
        pid = wait_for(lambda: (markers / "hold_started").exists() and worker_pid(instance, held), 90,
                       "the first run's worker to start", server)
        queued = launch_job(server, LOCATION, "next_job")
        wait_for(lambda: status(queued) == "QUEUED", 20, "the second run to be queued", server)
        assert status(held) == "STARTED"
        time.sleep(5)
        assert status(queued) == "QUEUED"  # the pool (limit 1) holds it back while the first run holds the slot

        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not process_alive(pid), 10, "the worker to die", server)
        wait_for(lambda: status(held) == "FAILURE", 120, "the killed run to be failed", server)
        wait_for(lambda: status(queued) in ("SUCCESS", "FAILURE"), 90, "the queued run to finish", server)
        assert status(queued) == "SUCCESS"
        assert (markers / "after_kill_done").exists()

        # run_retries re-runs the killed run (a worker death is not our code's failure).
        def retry_status():
            retries = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": held}))
            return retries and retries[0].status.value in ("SUCCESS", "FAILURE") and retries[0].status.value

        assert wait_for(retry_status, 90, "the retry to finish", server) == "SUCCESS"
        assert (markers / "hold_done").exists()


def test_the_health_check_reports_a_dead_worker_and_only_a_dead_one(tmp_path, monkeypatch):
    home = instance_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance's event logs live under it
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, LocalRunLauncher) and launcher.supports_check_run_worker_health
        assert instance.run_monitoring_enabled and instance.run_retries_enabled

        @dg.op
        def noop():
            pass

        run = instance.create_run_for_job(dg.GraphDefinition("g", node_defs=[noop]).to_job())
        assert launcher.check_run_worker_health(run).status.value == "RUNNING"  # no PID reported yet

        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            instance.report_engine_event(f"Started process for run (pid: {worker.pid}).", run, EngineEventData.in_process(worker.pid))
            assert launcher.check_run_worker_health(run).status.value == "RUNNING"
            worker.kill()
            worker.wait()
            health = launcher.check_run_worker_health(run)
            assert health.status.value == "FAILED"
            assert health.msg == f"run worker process {worker.pid} is gone (killed or crashed)"
        finally:
            worker.kill()
