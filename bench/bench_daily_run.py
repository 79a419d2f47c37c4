"""Daily run time at two history lengths (1 and 3 years of demo data): it must stay flat.

Usage: python bench/bench_daily_run.py [--years 1 3] [--repeat 3]
For each history length: generate demo data, backfill all of it as one run, then time the
daily work for the last day (raw + daily for the day, its month, totals) `--repeat` times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("METRICS_START_DATE", "2021-01-01")  # before the partitions are defined

import dagster as dg  # noqa: E402

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline.commits.sources import FileCommitsSource
from metrics_pipeline.demo.generate import generate
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.installs.sources import FileInstallsSource
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

LAST_DAY = date(2024, 6, 30)


def _materialize(assets, resources, instance, first=None, last=None) -> None:
    tags = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first} if first else {}
    result = dg.materialize(assets, resources=resources, instance=instance, tags=tags)
    assert result.success


def measure(years: int, repeat: int, work: Path) -> dict:
    first = LAST_DAY - timedelta(days=365 * years - 1)
    data = work / f"demo-{years}y"
    started = time.perf_counter()
    summary = generate(data, first, LAST_DAY)
    generated = time.perf_counter() - started
    resources = {
        "warehouse": DuckDBWarehouse(path=str(work / f"warehouse-{years}y.duckdb")),
        "registry": PluginRegistry(csv_path=str(data / "registry.csv")),
        "installs_source": FileInstallsSource(directory=str(data / "downloads")),
        "commits_source": FileCommitsSource(directory=str(data / "commits")),
    }
    instance = dg.DagsterInstance.ephemeral()
    month = LAST_DAY.replace(day=1).isoformat()
    started = time.perf_counter()
    _materialize([raw_installs, daily_installs, raw_commits], resources, instance, first.isoformat(), LAST_DAY.isoformat())
    _materialize([monthly_installs, monthly_commits], resources, instance, first.replace(day=1).isoformat(), month)
    _materialize([total_installs, total_commits, latest_commits], resources, instance)
    backfill = time.perf_counter() - started
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        _materialize([raw_installs, daily_installs, raw_commits], resources, instance, LAST_DAY.isoformat())
        _materialize([monthly_installs, monthly_commits], resources, instance, month)
        _materialize([total_installs, total_commits, latest_commits], resources, instance)
        timings.append(time.perf_counter() - started)
    return {
        "years": years,
        "days": (LAST_DAY - first).days + 1,
        "download_rows": summary.download_rows,
        "generate_s": generated,
        "backfill_s": backfill,
        "daily_median_s": statistics.median(timings),
        "daily_runs_s": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results = [measure(years, args.repeat, Path(work)) for years in args.years]
    print("| history | download rows | full backfill (one run) | daily run, median |")
    print("|---|---|---|---|")
    for r in results:
        print(
            f"| {r['years']} y ({r['days']} days) | {r['download_rows']:,} | {r['backfill_s']:.1f} s "
            f"| {r['daily_median_s']:.2f} s (runs: {', '.join(f'{t:.2f}' for t in r['daily_runs_s'])}) |"
        )


if __name__ == "__main__":
    main()
