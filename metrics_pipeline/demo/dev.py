"""`dagster dev` over the demo's settings, with local sink servers where no endpoints are set.

The local servers are new each time, so before the UI starts the sinks are re-published into them
from the warehouse (a publish_job run): the sinks hold what the UI shows as materialized.
Usage: python -m metrics_pipeline.demo.dev [dagster dev arguments...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from metrics_pipeline.api.settings import masked_dsn
from metrics_pipeline.demo.local_servers import local_sink_servers
from metrics_pipeline.demo.run import demo_environment, demo_window, saved_start


def _restore_default_signals() -> None:
    # A shell's background job inherits SIGINT/SIGQUIT as ignored; dagster dev must see them.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def republish() -> None:
    """Fill this session's fresh sink servers from the warehouse, recorded as a publish_job run."""
    import dagster as dg

    from metrics_pipeline.automation.jobs import TRIGGER_TAG
    from metrics_pipeline.definitions import defs
    from metrics_pipeline.demo.progress import Stages

    print("re-publishing the sinks into this session's local servers", flush=True)
    with dg.DagsterInstance.get() as instance:
        Stages(total=1).run(defs(), "publish_job", instance, {TRIGGER_TAG: "dev"})


def _ui_url(argv: list[str]) -> str:
    """Where `dagster dev` listens, from its own -h/--host and -p/--port arguments (its defaults otherwise)."""
    options = {"-h": "--host", "-p": "--port"}
    found = {"--host": "127.0.0.1", "--port": "3000"}
    for flag, value in zip(argv, argv[1:]):
        if options.get(flag, flag) in found:
            found[options.get(flag, flag)] = value
    for arg in argv:
        name, _, value = arg.partition("=")
        if name in found and value:
            found[name] = value
    return f"http://{found['--host']}:{found['--port']}"


def _print_servers(started: list[str]) -> None:
    """The addresses of the servers this session started, passwords masked."""
    print("local sink servers on 127.0.0.1 (stopped with the UI):", flush=True)
    for setting in started:
        value = os.environ[setting]
        if setting == "METRICS_POSTGRES_DSN":
            value = masked_dsn(value)
        elif setting == "METRICS_DYNAMODB_ENDPOINT_URL":
            value += f"  (stack {os.environ.get('METRICS_DYNAMODB_STACK', '')}, region {os.environ.get('AWS_REGION', '')})"
        print(f"  {setting}={value}", flush=True)


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("METRICS_HOME", ".metrics")).resolve()
    start = saved_start(home) or demo_window()[0].isoformat()
    for key, value in demo_environment(home, start).items():
        os.environ.setdefault(key, value)
    with local_sink_servers(os.environ) as started:
        if started:
            _print_servers(started)
            if Path(os.environ["METRICS_WAREHOUSE_PATH"]).exists() and os.environ.get("DAGSTER_HOME"):
                republish()
        print(f"Dagster UI: {_ui_url(argv)}  (read API: make api, http://127.0.0.1:8000)", flush=True)
        dev = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", *argv], preexec_fn=_restore_default_signals)

        def stop(signum, _frame):
            dev.send_signal(signal.SIGINT)  # dagster dev shuts its webserver and daemon down on SIGINT

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        code = dev.wait()
    return code  # the local servers are stopped (by PID) on leaving the block


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
