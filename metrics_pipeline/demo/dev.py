"""`dagster dev` over the demo's settings, with local sink servers where no endpoints are set.

Usage: python -m metrics_pipeline.demo.dev [dagster dev arguments...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from metrics_pipeline.demo.run import DEFAULT_START, demo_environment
from metrics_pipeline.demo.local_servers import local_sink_servers


def _restore_default_signals() -> None:
    # A shell's background job inherits SIGINT/SIGQUIT as ignored; dagster dev must see them.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("METRICS_HOME", ".metrics")).resolve()
    for key, value in demo_environment(home, DEFAULT_START).items():
        os.environ.setdefault(key, value)
    with local_sink_servers(os.environ) as started:
        if started:
            print(f"local sink servers on 127.0.0.1 for {', '.join(started)}", flush=True)
        dev = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", *argv], preexec_fn=_restore_default_signals)

        def stop(signum, _frame):
            dev.send_signal(signal.SIGINT)  # dagster dev shuts its webserver and daemon down on SIGINT

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        code = dev.wait()
    return code  # the local servers are stopped (by PID) on leaving the block


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
