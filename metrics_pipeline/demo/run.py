"""The main job on the embedded default: demo data, DuckDB, local sink servers, then a summary.

Usage: python -m metrics_pipeline.demo.run [--days 400] [--end YYYY-MM-DD] [--start YYYY-MM-DD]
Demo data ends yesterday (UTC) by default. With METRICS_DOWNLOADS_DIR / METRICS_COMMITS_DIR /
METRICS_REGISTRY_CSV set, it runs on those files instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

DEFAULT_DAYS = 400
DEMO_PLUGINS, DEMO_UNTRACKED = 150, 60  # keeps `make demo` near a minute on two cores
SOURCE_SETTINGS = ("METRICS_DOWNLOADS_DIR", "METRICS_COMMITS_DIR", "METRICS_REGISTRY_CSV")
SETTINGS_FILE = "demo/settings.env"  # under METRICS_HOME: the demo's window, for make dev / demo_env.sh


def demo_window(days: int = DEFAULT_DAYS, today: date | None = None) -> tuple[date, date]:
    """`days` UTC days ending yesterday: the newest partition the schedule would run is covered."""
    end = (today or datetime.now(UTC).date()) - timedelta(days=1)
    return end - timedelta(days=days - 1), end


def demo_environment(home: Path, start: str) -> dict[str, str]:
    """Settings the demo uses unless the caller already set them."""
    data = home / "demo"
    return {
        "METRICS_START_DATE": start,
        "METRICS_DOWNLOADS_DIR": str(data / "downloads"),
        "METRICS_COMMITS_DIR": str(data / "commits"),
        "METRICS_REGISTRY_CSV": str(data / "registry.csv"),
        "METRICS_WAREHOUSE_PATH": str(home / "warehouse.duckdb"),
    }


def saved_start(home: Path) -> str | None:
    """METRICS_START_DATE of the last `make demo` under `home` (None before the first)."""
    path = home / SETTINGS_FILE
    if not path.exists():
        return None
    settings = dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)
    return settings.get("METRICS_START_DATE")


def print_summary(warehouse_path: str, end: date) -> None:
    import duckdb

    with duckdb.connect(warehouse_path, read_only=True) as con:
        top = con.execute(
            """
            SELECT t.plugin_name, t.install_count,
                   coalesce(sum(d.install_count) FILTER (WHERE d.download_day > ?::DATE - 30), 0)
            FROM total_installs t LEFT JOIN daily_installs d USING (plugin_name)
            GROUP BY ALL ORDER BY t.install_count DESC, t.plugin_name LIMIT 10
            """,
            [end],
        ).fetchall()
        (plugins, installs), = con.execute("SELECT count(*), sum(install_count) FROM total_installs").fetchall()
        (repos, commits), = con.execute("SELECT count(*), sum(commit_count) FROM total_commits").fetchall()
        (latest,), = con.execute("SELECT max(latest_commit_at) FROM latest_commits").fetchall()
        (first_day, last_day), = con.execute("SELECT min(download_day), max(download_day) FROM daily_installs").fetchall()
    print(f"\nTop plugins by installs ({first_day} .. {last_day}, UTC days):")
    print(f"  {'plugin':40} {'total':>10} {'last 30 d':>10}")
    for name, total, recent in top:
        print(f"  {name:40} {total:>10,} {recent:>10,}")
    print(f"\n{plugins} plugins with installs, {installs or 0:,} installs in all; "
          f"{commits or 0:,} commits in {repos} repos, latest {latest}")


def _generate(home: Path, start: date, end: date) -> None:
    from metrics_pipeline.demo.generate import generate

    started = time.monotonic()
    summary = generate(home / "demo", start, end, plugins=DEMO_PLUGINS, untracked=DEMO_UNTRACKED)
    print(f"demo data {start} .. {end} ({(end - start).days + 1} days): {summary.plugins} plugins, "
          f"{summary.download_rows:,} download rows, {summary.commit_rows:,} commit rows "
          f"({time.monotonic() - started:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    default_start, default_end = demo_window()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of demo data, ending --end")
    parser.add_argument("--end", type=date.fromisoformat, default=default_end, help="last UTC day (default: yesterday)")
    parser.add_argument("--start", type=date.fromisoformat, help="first UTC day (default: --days before --end)")
    parser.add_argument("--home", default=os.environ.get("METRICS_HOME", ".metrics"), help="where demo data and the warehouse go")
    args = parser.parse_args(argv)
    start = args.start or args.end - timedelta(days=args.days - 1)
    home = Path(args.home).resolve()
    own_data = [name for name in SOURCE_SETTINGS if os.environ.get(name)]
    for key, value in demo_environment(home, start.isoformat()).items():
        os.environ.setdefault(key, value)

    if own_data:  # the caller points at real files: run on those, generate nothing
        print(f"using your data ({', '.join(own_data)}); no demo data generated")
    else:
        _generate(home, start, args.end)
        (home / SETTINGS_FILE).write_text(f"METRICS_START_DATE={os.environ['METRICS_START_DATE']}\n")

    import dagster as dg

    from metrics_pipeline.demo.local_servers import local_sink_servers
    from metrics_pipeline.demo.progress import Stages
    from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
    from metrics_pipeline.automation.jobs import TRIGGER_TAG

    started = time.monotonic()
    # Sink endpoints must be known before the definitions are built: start local servers first.
    with local_sink_servers(os.environ) as servers:
        if servers:
            print(f"local sink servers on 127.0.0.1 for {', '.join(servers)} (stopped at exit)", flush=True)
        from metrics_pipeline.definitions import defs

        definitions = defs()
        first, last = start.isoformat(), args.end.isoformat()
        stages = Stages(total=1)
        with dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral() as instance:
            # One run: every day of the range landed, then every rollup, plugin model and sink.
            stages.run(definitions, "daily_metrics_job", instance,
                       {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last, TRIGGER_TAG: "demo"},
                       f"{first} .. {last}")
        print_summary(os.environ["METRICS_WAREHOUSE_PATH"], args.end)
    failed = Counter(stages.failed)
    checks = f"{stages.passed:,} check evaluations passed" + (
        "; did not pass: " + ", ".join(f"{name} x{count}" for name, count in failed.most_common()) if failed else "")
    print(f"{checks}\npipeline {time.monotonic() - started:.0f} s; warehouse {os.environ['METRICS_WAREHOUSE_PATH']}")
    if os.environ.get("DAGSTER_HOME"):
        print("See the runs, assets and partitions in the UI: make dev  (http://127.0.0.1:3000)")
    return 1 if any("(ERROR)" in failed for failed in stages.failed) else 0


if __name__ == "__main__":
    sys.exit(main())
