"""`dagster dev` over the demo's settings, with local sink servers where no endpoints are set.

Usage: python -m metrics_pipeline.demo.dev [dagster dev arguments...]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from metrics_pipeline.demo.run import DEFAULT_START, demo_environment
from metrics_pipeline.sinks.local_servers import local_sink_servers


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("METRICS_HOME", ".metrics")).resolve()
    for key, value in demo_environment(home, DEFAULT_START).items():
        os.environ.setdefault(key, value)
    with local_sink_servers(os.environ) as started:
        if started:
            print(f"local sink servers on 127.0.0.1 for {', '.join(started)}", flush=True)
        try:
            return subprocess.call(["dagster", "dev", "-w", "workspace.yaml", *argv])
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
