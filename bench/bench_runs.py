"""Issue 19's harness: the pipeline's runs as separate processes against local servers, beside their floors.

    python bench/bench_runs.py [--scale 1|3] [--repeat 3] [--instance sqlite|postgres] [--scope all|lambda] [--work DIR]
    (make bench)

Generates 300 plugins x 365 days (--scale 3: 1,095 days) of demo data ending 2024-06-30 (the
last day held back as "the new day"), starts a throwaway Postgres cluster and moto_server, then,
`--repeat` times on fresh warehouse/tables: (a) backfill 365 days into empty tables (the main job,
one run), (b) one new day as the 13:00 schedule tick asks for it, (c) the same tick with nothing new,
(d) one late row 200 days back as the late-data sensor's tick asks for it; each its own
process under `/usr/bin/time -v` (whole wall, CPU, peak RSS) reporting its in-process run time
and, within it, the time Dagster spent writing its event log (its bookkeeping, not our work).
Beside them: Dagster's per-run overhead (an empty asset; 26 empty assets, the day's step count; one
and 26 with the day's libraries loaded), a process that only imports Dagster and opens the instance,
a hand-written DuckDB query building raw/daily tables from the same files, and a bare parallel
batch_write_item of the backfill's N items. `--scope lambda` restricts every run to what the
replaced Lambda did (installs to DynamoDB). Writes bench/results/runs-scale{S}[-postgres][-lambda-scope].json
and prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
NEW_DAY = date(2024, 6, 30)
LATE_DAYS_BACK = 200
# What the replaced Lambda did: the day's downloads into daily, monthly and total installs, published
# to DynamoDB's install-activity table (no commits, plugins, Postgres or GitHub activity).
LAMBDA_SCOPE = ["raw_installs", "daily_installs", "monthly_installs", "total_installs", "dynamodb/install_activity"]
TIME_FIELDS = {"User time (seconds)": "user_s", "System time (seconds)": "sys_s",
               "Maximum resident set size (kbytes)": "max_rss_kb", "Elapsed (wall clock) time (h:mm:ss or m:ss)": "wall"}


def _wall_seconds(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def time_figures(path: Path) -> dict:
    """User, system and wall seconds and the peak RSS from a `/usr/bin/time -v -o` file."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.strip().rpartition(": ")
        if name in TIME_FIELDS:
            found[TIME_FIELDS[name]] = _wall_seconds(value) if name.startswith("Elapsed") else float(value)
    return found


def child(scenario: str, args: dict, env: dict, work: Path) -> dict:
    """Run one scenario in a fresh process under /usr/bin/time -v; its figures plus the load average."""
    out, timing = work / f"{scenario}-{uuid.uuid4().hex[:6]}.json", work / "time.txt"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", "-o", str(timing), sys.executable, str(BENCH / "runs_child.py"),
                           scenario, json.dumps(args), str(out)], env=env, capture_output=True, text=True)
    whole = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{scenario} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(out.read_text()) | time_figures(timing)
    result.update(whole_s=round(whole, 3), cpu_s=round(result["user_s"] + result["sys_s"], 2),
                  peak_mib=round(result["max_rss_kb"] / 1024), load_1m=round(load, 2))
    events = f"  events {result['dagster_events']} ({result['dagster_event_writes_s']:.2f}s)" if "dagster_events" in result else ""
    print(f"  {scenario:15s} load {load:4.1f}  whole {whole:6.2f}s  run {result['run_s']:6.3f}s  "
          f"cpu {result['cpu_s']:6.2f}s  peak {result['peak_mib']:5d} MiB{events}", flush=True)
    return result


def prepare_data(work: Path, scale: int) -> dict:
    from metrics_pipeline.demo.generate import generate

    last = NEW_DAY - timedelta(days=1)
    first = last - timedelta(days=365 * scale - 1)
    data = work / f"data-scale{scale}"
    held = data / "held" / f"file_downloads-{NEW_DAY}.parquet"
    if not (data / "registry.csv").exists():
        summary = generate(data, first, NEW_DAY)
        held.parent.mkdir(parents=True)
        (data / "downloads" / f"{NEW_DAY:%Y/%m}" / held.name).rename(held)
        (data / "summary.json").write_text(json.dumps(summary.__dict__))
    return {"dir": data, "first": first, "last": last, "held": held,
            "live": data / "downloads" / f"{NEW_DAY:%Y/%m}" / held.name, **json.loads((data / "summary.json").read_text())}


def write_late_row(data: dict, day: date, target: Path) -> None:
    """One countable download of a registry plugin on `day`, copied from that day's file into a new file."""
    import duckdb
    import pyarrow.parquet as pq

    source = data["dir"] / "downloads" / f"{day:%Y/%m}" / f"file_downloads-{day}.parquet"
    with duckdb.connect() as con:
        row = con.sql(
            """SELECT d.* FROM read_parquet($source) d
               JOIN read_csv($registry, header = true, all_varchar = true) r
                 ON regexp_replace(lower(d.file.project), '[-_.]+', '-', 'g') = regexp_replace(lower(r.name), '[-_.]+', '-', 'g')
               WHERE d.details.installer.name = 'pip' AND d.details.ci IS NOT TRUE ORDER BY d.timestamp LIMIT 1""",
            params={"source": str(source), "registry": str(data["dir"] / "registry.csv")},
        ).to_arrow_table()
    pq.write_table(row, target)


def plans(data: dict, state: Path) -> dict[str, list[dict]]:
    """What each scenario runs: the main job over the range (the demo's and a backfill's one run), the
    13:00 schedule tick for the new day and whatever run it asks for, and the late-data sensor's tick
    with whatever runs it asks for (its cursor kept between processes, as the daemon keeps it)."""
    first, last = data["first"].isoformat(), data["last"].isoformat()
    rng = lambda a, b: {"dagster/asset_partition_range_start": a, "dagster/asset_partition_range_end": b}  # noqa: E731
    tick_at = (NEW_DAY + timedelta(days=1)).isoformat() + "T13:00:00"
    cursor = str(state / "late_data_sensor.cursor")
    return {
        "backfill": [{"job": "daily_metrics_job", "tags": rng(first, last) | {"metrics/trigger": "backfill"}}],
        "day": [{"tick": "schedule", "at": tick_at}],
        "prime": [{"tick": "late_data_sensor", "cursor_file": cursor, "prime": True}],
        "late": [{"tick": "late_data_sensor", "cursor_file": cursor}],
    }


def postgres_instance(config: str, dsn: str, database: str) -> str:
    """The repo's dagster.yaml with deploy/dagster.yaml's storages, on the bench's Postgres (no TLS)."""
    import yaml
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(dsn)
    profile = yaml.safe_load((BENCH.parent / "deploy" / "dagster.yaml").read_text())
    local = yaml.safe_load(config)
    local.pop("event_log_storage", None)
    db = {"scheme": "postgresql+psycopg2", "hostname": params["host"], "port": int(params["port"]),
          "username": params["user"], "password": params.get("password") or "unused", "db_name": database}
    for name in ("run_storage", "event_log_storage", "schedule_storage"):
        local[name] = {**profile[name], "config": {"postgres_db": db}}
    return yaml.safe_dump(local)


def one_repeat(i: int, data: dict, servers: dict, work: Path, instance: str = "sqlite", scope: list[str] | None = None) -> dict:
    import psycopg

    state = work / f"state-{i}"
    shutil.rmtree(state, ignore_errors=True)
    (state / "dagster").mkdir(parents=True)
    database = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(servers["dsn"], autocommit=True) as con:
        con.execute(f"CREATE DATABASE {database}")
        if instance == "postgres":
            con.execute(f"CREATE DATABASE {database}_dagster")
    config = (BENCH.parent / "dagster.yaml").read_text()
    if instance == "postgres":  # the production profile's storage (deploy/dagster.yaml) on the bench cluster
        config = postgres_instance(config, servers["dsn"], f"{database}_dagster")
    (state / "dagster" / "dagster.yaml").write_text(config)
    late_dir = data["dir"] / "downloads" / "late"
    shutil.rmtree(late_dir, ignore_errors=True)
    if data["live"].exists():
        data["live"].rename(data["held"])
    env = {**os.environ, "DAGSTER_HOME": str(state / "dagster"), "METRICS_START_DATE": data["first"].isoformat(),
           "METRICS_DOWNLOADS_DIR": str(data["dir"] / "downloads"), "METRICS_COMMITS_DIR": str(data["dir"] / "commits"),
           "METRICS_REGISTRY_CSV": str(data["dir"] / "registry.csv"), "METRICS_WAREHOUSE_PATH": str(state / "warehouse.duckdb"),
           "METRICS_DYNAMODB_STACK": f"b{uuid.uuid4().hex[:8]}", "METRICS_DYNAMODB_ENDPOINT_URL": servers["endpoint"],
           "METRICS_POSTGRES_DSN": servers["dsn"].rsplit("/", 1)[0] + "/" + database}
    plan, as_of = plans(data, state), NEW_DAY.isoformat()
    runs = lambda name: {"plan": plan[name], "as_of": as_of, "scope": scope}  # noqa: E731
    out = {"backfill": child("backfill", runs("backfill"), env, state)}
    data["held"].rename(data["live"])
    os.utime(data["live"])  # it arrives now
    out["new_day"] = child("day", runs("day"), env, state)
    if not scope:  # with a scope the schedule still sees the rest of the graph's day missing
        out["rerun"] = child("day", runs("day"), env, state)
    child("prime", runs("prime"), env, state)  # the sensor's previous tick: its cursor
    late_dir.mkdir()
    write_late_row(data, data["last"] - timedelta(days=LATE_DAYS_BACK), late_dir / f"late-{i}.parquet")
    out["late_row"] = child("late", runs("late"), env, state)
    out["noop"] = child("noop", {"repeat": 3}, env, state)
    out["noop_26_steps"] = child("noop", {"repeat": 3, "steps": 26}, env, state)
    out["noop_26_steps_libraries"] = child("noop", {"repeat": 3, "steps": 26, "libraries": True}, env, state)
    out["noop_libraries"] = child("noop", {"repeat": 3, "libraries": True}, env, state)  # the fewest steps: one
    out["process_floor"] = child("process_floor", {}, env, state)
    out["floor_duckdb"] = child("floor_duckdb", {
        "db": str(state / "floor.duckdb"), "registry": env["METRICS_REGISTRY_CSV"], "downloads": env["METRICS_DOWNLOADS_DIR"],
        "commits": env["METRICS_COMMITS_DIR"], "first": data["first"].isoformat(), "last": data["last"].isoformat()}, env, state)
    written = sum(out["backfill"]["figures"].get(f"dynamodb/{t}", {}).get("written", 0) for t in ("install_activity", "github_activity"))
    out["floor_dynamodb"] = child("floor_dynamodb", {"endpoint": servers["endpoint"], "stack": f"f{uuid.uuid4().hex[:8]}",
                                                     "items": written}, env, state)
    shutil.rmtree(state, ignore_errors=True)
    return out


def median(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value.get(key, 0) if isinstance(value, dict) else 0
        values.append(value)
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, choices=(1, 3), help="years of history (1: 365 days, 3: 1,095)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--instance", choices=("sqlite", "postgres"), default="sqlite",
                        help="Dagster storage: the repo's dagster.yaml, or deploy/dagster.yaml's Postgres storage")
    parser.add_argument("--scope", choices=("all", "lambda"), default="all",
                        help="every asset, or only what the replaced Lambda did (installs to DynamoDB); "
                             "with lambda there is no nothing-new row (the schedule sees the rest of the day missing)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "metrics-bench",
                        help="generated data (kept between invocations) and scratch state")
    args = parser.parse_args()
    from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION, start_dynamodb
    from metrics_pipeline.demo.local_servers.postgres import start_postgres

    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": LOCAL_REGION}.items():
        os.environ.setdefault(name, value)
    args.work.mkdir(parents=True, exist_ok=True)
    data = prepare_data(args.work, args.scale)
    print(f"data: {data['download_rows']:,} download rows, {data['commit_rows']:,} commit rows, "
          f"{data['first']} .. {data['last']} (+ new day {NEW_DAY})", flush=True)
    postgres = start_postgres()
    moto, endpoint = start_dynamodb()
    runs: list[dict] = []
    (BENCH / "results").mkdir(exist_ok=True)
    suffix = ("" if args.instance == "sqlite" else f"-{args.instance}") + ("" if args.scope == "all" else f"-{args.scope}-scope")
    path = BENCH / "results" / f"runs-scale{args.scale}{suffix}.json"
    scope = LAMBDA_SCOPE if args.scope == "lambda" else None
    report = {"scale": args.scale, "instance": args.instance, "scope": scope or "all", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "nproc": os.cpu_count(),
              "dynamodb_server": "moto_server", "data": {k: str(v) for k, v in data.items() if k not in ("dir", "held", "live")},
              "runs": runs}
    try:
        for i in range(args.repeat):
            print(f"repeat {i + 1}/{args.repeat}", flush=True)
            runs.append(one_repeat(i, data, {"dsn": postgres.dsn, "endpoint": endpoint}, args.work, args.instance, scope))
            path.write_text(json.dumps(report, indent=1))  # kept after each repeat
    finally:
        moto.stop()
        postgres.stop()
    print(f"\nwrote {path}\n\n| run | whole s | runs | run s | of which Dagster event writes s (events, ms each) | CPU s "
          "| peak MiB | items written (DynamoDB) | load 1m |\n|---|---|---|---|---|---|---|---|---|")
    for name in ("backfill", "new_day", "rerun", "late_row", "noop", "noop_26_steps", "noop_26_steps_libraries",
                 "noop_libraries", "process_floor", "floor_duckdb", "floor_dynamodb"):
        rs = [r[name] for r in runs if name in r]
        if not rs:
            continue
        items = sum(median(rs, "figures", f"dynamodb/{t}", "written") for t in ("install_activity", "github_activity"))
        items = median(rs, "items") if name == "floor_dynamodb" else items
        count, seconds = median(rs, "dagster_events"), median(rs, "dagster_event_writes_s")
        events = f"{seconds:.2f} ({count:,.0f}, {1000 * seconds / count:.1f})" if count else "—"
        print(f"| {name} | {median(rs, 'whole_s'):.2f} | {median(rs, 'runs'):.0f} | {median(rs, 'run_s'):.3f} | {events} "
              f"| {median(rs, 'cpu_s'):.2f} | {median(rs, 'peak_mib'):.0f} | {items:,.0f} | {', '.join(str(r['load_1m']) for r in rs)} |")


if __name__ == "__main__":
    main()
