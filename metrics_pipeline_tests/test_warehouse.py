"""The warehouse waits, bounded, for another process's lock on the DuckDB file instead of failing; it
and the scratch DuckDBs keep to their memory limits by spilling to disk."""

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError, scratch

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


# ~3M groups: DuckDB's hash table for them needs well over 64 MB.
LARGE_GROUP_BY = "SELECT count(*) FROM (SELECT i % 3000000 AS k, count(*) FROM range(6000000) t(i) GROUP BY k)"


def test_the_query_does_not_fit_in_64mb_without_spilling():
    with duckdb.connect(config={"memory_limit": "64MB", "temp_directory": ""}) as con:
        with pytest.raises(duckdb.OutOfMemoryException):
            con.execute(LARGE_GROUP_BY).fetchall()


def test_the_warehouse_keeps_to_its_memory_limit_by_spilling_beside_the_file(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with DuckDBWarehouse(path=str(path), memory_limit="64MB").connect() as con:
        assert con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall() == [
            ("61.0 MiB", f"{path}.tmp")]
        assert con.execute(LARGE_GROUP_BY).fetchall() == [(3_000_000,)]


def test_a_scratch_duckdb_spills_to_a_folder_removed_with_it():
    with scratch("64MB") as con:
        spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
        assert spill.is_dir() and spill != Path.cwd()
        assert con.execute(LARGE_GROUP_BY).fetchall() == [(3_000_000,)]
    assert not spill.exists()


def test_a_bad_memory_limit_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match="METRICS_WAREHOUSE_MEMORY_LIMIT='lots'"):
        with DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"), memory_limit="lots").connect():
            pass
