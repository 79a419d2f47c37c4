"""The warehouse waits, bounded, for another process's lock on the DuckDB file instead of failing."""

import subprocess
import sys
import time

import pytest

from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(path, seconds) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_connection_waits_for_another_process_then_proceeds(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder = _hold(path, 1.5)
    started = time.monotonic()
    with DuckDBWarehouse(path=str(path), lock_wait_seconds=30).connect() as con:
        waited = time.monotonic() - started
        assert con.execute("SELECT count(*) FROM daily_installs").fetchall() == [(0,)]
    holder.wait()
    assert waited >= 0.5


def test_a_lock_held_past_the_wait_fails_naming_the_setting(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder = _hold(path, 5)
    try:
        with pytest.raises(WarehouseBusyError, match="METRICS_WAREHOUSE_PATH"):
            with DuckDBWarehouse(path=str(path), lock_wait_seconds=0.5).connect():
                pass
    finally:
        holder.kill()
        holder.wait()
