"""The main job on the embedded default: demo data, DuckDB, local sink servers, then a summary.

Usage: python -m metrics_pipeline.demo.run [--start 2024-01-01] [--end 2024-03-31]
With METRICS_DOWNLOADS_DIR / METRICS_COMMITS_DIR / METRICS_REGISTRY_CSV set, it runs on those files.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

DEFAULT_START, DEFAULT_END = "2024-01-01", "2024-03-31"
SOURCE_SETTINGS = ("METRICS_DOWNLOADS_DIR", "METRICS_COMMITS_DIR", "METRICS_REGISTRY_CSV")


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


def _run_job(defs, name: str, instance, first: str | None = None, last: str | None = None) -> None:
    from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    tags = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last} if first else {}
    result = defs.resolve_job_def(name).execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    if not result.success:
        raise SystemExit(f"{name} failed; see the log above")
    print(f"{name}: ok" + (f" ({first} .. {last})" if first else ""))


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
    print(f"\n{'plugin':40} {'total':>9} {'last 30d':>9}")
    for name, total, recent in top:
        print(f"{name:40} {total:>9} {recent:>9}")
    print(f"\n{plugins} plugins with installs, {installs} installs in all; {commits} commits in {repos} repos, latest {latest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default=DEFAULT_START)
    parser.add_argument("--end", default=DEFAULT_END)
    parser.add_argument("--home", default=os.environ.get("METRICS_HOME", ".metrics"), help="where demo data and the warehouse go")
    args = parser.parse_args(argv)
    home = Path(args.home).resolve()
    own_data = [name for name in SOURCE_SETTINGS if os.environ.get(name)]
    for key, value in demo_environment(home, args.start).items():
        os.environ.setdefault(key, value)

    if own_data:  # the caller points at real files: run on those, generate nothing
        print(f"using your data ({', '.join(own_data)}); no demo data generated")
    else:
        from metrics_pipeline.demo.generate import generate

        summary = generate(home / "demo", date.fromisoformat(args.start), date.fromisoformat(args.end))
        print(f"demo data: {summary}")

    import dagster as dg

    from metrics_pipeline.demo.local_servers import local_sink_servers

    # Sink endpoints must be known before the definitions are built: start local servers first.
    with local_sink_servers(os.environ) as started:
        if started:
            print(f"local sink servers on 127.0.0.1 for {', '.join(started)}")
        from metrics_pipeline.definitions import defs

        definitions = defs()
        with dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral() as instance:
            _run_job(definitions, "daily_metrics_job", instance, args.start, args.end)
            _run_job(definitions, "monthly_rollups_job", instance, args.start[:8] + "01", args.end[:8] + "01")
            _run_job(definitions, "totals_job", instance)
            _run_job(definitions, "publish_job", instance)
        print_summary(os.environ["METRICS_WAREHOUSE_PATH"], date.fromisoformat(args.end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
