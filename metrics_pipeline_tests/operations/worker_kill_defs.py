"""A code location for the run-worker kill test: two jobs in the `warehouse` pool. `hold_job` sleeps on
its first attempt (so its worker can be killed mid-run) and finishes at once when retried."""

import os
import time
from pathlib import Path

import dagster as dg

from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL

MARKERS = Path(os.environ.get("KILL_TEST_DIR", "/nonexistent"))


@dg.asset(pool=WAREHOUSE_POOL)
def hold_warehouse() -> None:
    """First attempt: note the start, then hold the pool slot until killed."""
    first = MARKERS / "hold_started"
    if not first.exists():
        first.touch()
        time.sleep(600)
    (MARKERS / "hold_done").touch()


@dg.asset(pool=WAREHOUSE_POOL)
def after_kill() -> None:
    (MARKERS / "after_kill_done").touch()


defs = dg.Definitions(
    assets=[hold_warehouse, after_kill],
    jobs=[dg.define_asset_job("hold_job", [hold_warehouse]), dg.define_asset_job("next_job", [after_kill])],
    executor=dg.in_process_executor,  # as the pipeline's: the run worker is the only process to kill
)
