"""A throwaway InfluxDB 1.x (Debian's `influxd`) on 127.0.0.1 with a temporary config, stopped by PID."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from metrics_pipeline.demo.local_servers.process import ServerProcess, free_port, start_server

CONFIG = """
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


def start_influxdb() -> tuple[ServerProcess, str, Path]:
    """Returns the process, its base URL and its scratch directory (remove it after `stop()`)."""
    influxd = shutil.which("influxd") or "/usr/bin/influxd"
    if not Path(influxd).exists():
        raise RuntimeError("influxd was not found; install Debian's `influxdb` package (scripts/setup.sh does)")
    root = Path(tempfile.mkdtemp(prefix="metrics-influx-"))
    port = free_port()
    config = root / "influxdb.conf"
    config.write_text(CONFIG.format(root=root, port=port, rpc_port=free_port()))
    process = start_server([influxd, "-config", str(config)], port, root / "influxd.log")
    return process, f"http://127.0.0.1:{port}", root
