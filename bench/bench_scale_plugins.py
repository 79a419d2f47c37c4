"""Peak memory, wall and CPU of a 400-day backfill and a full sink reconciliation at 5,000 plugins.

    nice -n 19 python bench/bench_scale_plugins.py [--plugins 5000] [--days 400] [--last 2024-06-29]
        [--commit REV] [--work /tmp/scale5000] [--scenarios backfill,full_republish] [--without dynamodb/]

Generates the demo data set (metrics_pipeline.demo.generate, seed 7, `--plugins` registry plugins,
120 untracked) for `--days` days ending `--last` (kept in --work between invocations), starts a
throwaway Postgres cluster and moto_server, then runs in fresh processes under `/usr/bin/time -v`
(bench/runs_child.py's run_jobs, on one shared state): (a) daily_metrics_job over the whole range as
one backfill run, (b) sink_reconciliation_job (compares every sink whole with the warehouse and
repairs it). Inside each process every step's start and end event records the process's peak RSS so
far (ru_maxrss) and its current RSS, and a thread samples the current RSS every 0.1 s, so the step
that sets the process peak is known. `--commit REV` runs a `git archive` snapshot of REV's
metrics_pipeline (so uncommitted edits in the work tree are not measured); `--without` leaves assets
(and reconciliation ops) out by key prefix, to measure the rest without moto_server's minutes (a
blocking check that needs them then fails; the run goes on). Writes
bench/results/scale-{plugins}-plugins.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
STEP_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE"}


# --- inside the child process ---------------------------------------------------------------------

def _current_rss_kb() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class StepMemory:
    """Per step: process peak RSS (ru_maxrss) at its start and end, and the highest sampled current RSS."""

    def __init__(self, interval: float = 0.1) -> None:
        self.steps: dict[str, dict] = {}
        self.current: str | None = None
        self.observations: dict[str, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stop.wait(interval):
            step = self.current
            if step is not None:
                rss = _current_rss_kb()
                entry = self.steps[step]
                entry["sampled_rss_kb"] = max(entry.get("sampled_rss_kb", 0), rss)

    def event(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind = event.event_type_value
        if kind in STEP_EVENTS:
            hwm, rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _current_rss_kb()
            step = self.steps.setdefault(event.step_key, {})
            if kind == "STEP_START":
                step.update(start_hwm_kb=hwm, start_rss_kb=rss, started=time.perf_counter())
                self.current = event.step_key
            else:
                step.update(end_hwm_kb=hwm, end_rss_kb=rss, outcome=kind,
                            seconds=round(time.perf_counter() - step.get("started", time.perf_counter()), 3))
                step["sampled_rss_kb"] = max(step.get("sampled_rss_kb", 0), rss)
                self.current = None
        elif kind == "ASSET_OBSERVATION":  # the reconciliation reports its repairs as observations
            observation = event.event_specific_data.asset_observation
            figures = {k: getattr(v, "value", v) for k, v in observation.metadata.items()}
            self.observations[observation.asset_key.to_user_string()] = {
                k: v for k, v in figures.items() if isinstance(v, int | str) and not isinstance(v, bool)}

    def report(self) -> dict:
        self._stop.set()
        out = {}
        for key, step in self.steps.items():
            out[key] = {"seconds": step.get("seconds"), "outcome": step.get("outcome"),
                        "peak_mib_before": round(step.get("start_hwm_kb", 0) / 1024),
                        "peak_mib_after": round(step.get("end_hwm_kb", 0) / 1024),
                        "rss_mib_start": round(step.get("start_rss_kb", 0) / 1024),
                        "rss_mib_end": round(step.get("end_rss_kb", 0) / 1024),
                        "rss_mib_max_sampled": round(step.get("sampled_rss_kb", 0) / 1024)}
        return out


def child_main(scenario: str, args: str, out: str) -> None:
    """bench/runs_child.py's main, with a StepMemory fed by every event the instance stores."""
    import runs_child

    memory = StepMemory()
    time_event_writes = runs_child.time_event_writes

    def recording(instance) -> dict:
        totals = time_event_writes(instance)
        storage = instance.event_log_storage
        store = storage.store_event

        def store_and_record(event) -> None:
            store(event)
            memory.event(event)

        storage.store_event = store_and_record
        return totals

    runs_child.time_event_writes = recording
    sys.argv = [runs_child.__file__, scenario, args, out]
    runs_child.main()
    result = json.loads(Path(out).read_text())
    final = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the step during which the process reached its final peak (None: the peak came outside any step)
    result["peak_step"] = next((k for k, s in memory.steps.items()
                                if s.get("start_hwm_kb", 0) < final <= s.get("end_hwm_kb", 0)), None)
    result["peak_mib_in_process"] = round(final / 1024)
    result["step_memory"] = memory.report()
    result["observations"] = memory.observations
    Path(out).write_text(json.dumps(result))


# --- the parent ------------------------------------------------------------------------------------

def prepare_data(work: Path, plugins: int, first: date, last: date) -> dict:
    from metrics_pipeline.demo.generate import generate

    data = work / f"data-{plugins}x{(last - first).days + 1}"
    summary_file = data / "summary.json"
    if not summary_file.exists():  # written last: a half-generated directory is generated again
        shutil.rmtree(data, ignore_errors=True)
        started = time.perf_counter()
        summary = generate(data, first, last, seed=7, plugins=plugins, untracked=120)
        summary_file.write_text(json.dumps({**summary.__dict__, "generate_s": round(time.perf_counter() - started, 1)}))
    return {"dir": data, **json.loads(summary_file.read_text())}


def run_child(name: str, plan: list[dict], env: dict, state: Path) -> dict:
    """One scenario in a fresh process under /usr/bin/time -v, the load average sampled while it runs."""
    from bench_runs import time_figures

    out, timing = state / f"{name}-{uuid.uuid4().hex[:6]}.json", state / f"{name}.time.txt"
    loads, done = [os.getloadavg()], threading.Event()

    def sample_load() -> None:
        while not done.wait(5):
            loads.append(os.getloadavg())

    sampler = threading.Thread(target=sample_load, daemon=True)
    sampler.start()
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", "-o", str(timing), sys.executable, str(Path(__file__).resolve()),
                           "--child", "backfill", json.dumps({"plan": plan, "as_of": None}), str(out)],
                          env=env, capture_output=True, text=True)
    whole = time.perf_counter() - started
    done.set()
    sampler.join()
    (state / f"{name}.stderr.txt").write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(out.read_text()) | time_figures(timing)
    one_minute = [load[0] for load in loads]
    result.update(whole_s=round(whole, 1), cpu_s=round(result["user_s"] + result["sys_s"], 1),
                  peak_mib=round(result["max_rss_kb"] / 1024), load_1m_start=round(one_minute[0], 2),
                  load_1m_max=round(max(one_minute), 2), load_1m_mean=round(sum(one_minute) / len(one_minute), 2))
    print(f"  {name:14s} whole {whole:7.1f}s  cpu {result['cpu_s']:7.1f}s  peak {result['peak_mib']:5d} MiB"
          f"  (step {result['peak_step']})  load 1m mean {result['load_1m_mean']} max {result['load_1m_max']}", flush=True)
    return result


def snapshot(commit: str, work: Path) -> tuple[Path, str]:
    """REV's metrics_pipeline and dagster.yaml, extracted with git archive (the repository is only read)."""
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", commit], check=True, capture_output=True, text=True).stdout.strip()
    src = work / f"src-{rev[:10]}"
    if not (src / "metrics_pipeline").exists():
        src.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "metrics_pipeline", "dagster.yaml"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src, rev


def moto_peak_mib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(round(int(line.split()[1]) / 1024) for line in handle if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=5000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--last", type=date.fromisoformat, default=date(2024, 6, 29), help="last day of data and of the backfill")
    parser.add_argument("--commit", help="measure this commit's metrics_pipeline (git archive) instead of the work tree")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "scale5000",
                        help="generated data (kept between invocations), code snapshot and scratch state")
    parser.add_argument("--out", type=Path, help="default: bench/results/scale-{plugins}-plugins.json")
    parser.add_argument("--scenarios", default="backfill,full_republish", help="comma-separated: backfill, full_republish")
    parser.add_argument("--without", default="", help="comma-separated asset-key prefixes left out of every run "
                        "(e.g. dynamodb/: moto_server's minutes, when measuring the rest)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env_code, config = {}, (REPO / "dagster.yaml").read_text()
    code = {"commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
            "work_tree_changes": subprocess.run(["git", "-C", str(REPO), "status", "--short", "metrics_pipeline"],
                                                capture_output=True, text=True).stdout.splitlines()}
    if args.commit:
        src, rev = snapshot(args.commit, args.work)
        sys.path.insert(0, str(src))
        env_code = {"PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
        config = (src / "dagster.yaml").read_text()
        code = {"commit": rev, "snapshot": str(src), "work_tree_changes": "not measured (git archive of the commit)"}

    from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION, start_dynamodb
    from metrics_pipeline.demo.local_servers.postgres import start_postgres

    import metrics_pipeline
    code["imported_from"] = str(Path(metrics_pipeline.__file__).parent)
    first = args.last - timedelta(days=args.days - 1)
    data = prepare_data(args.work, args.plugins, first, args.last)
    print(f"data: {data['plugins']:,} plugins, {data['download_rows']:,} download rows, {data['commit_rows']:,} commit rows, "
          f"{first} .. {args.last}; code {code['commit'][:10]} from {code['imported_from']}", flush=True)
    out = args.out or BENCH / "results" / f"scale-{args.plugins}-plugins.json"
    out.parent.mkdir(exist_ok=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "nproc": os.cpu_count(), "code": code,
              "plugins": data["plugins"], "days": args.days, "first": first.isoformat(), "last": args.last.isoformat(),
              "download_rows": data["download_rows"], "commit_rows": data["commit_rows"], "files": data["files"],
              "generate_s": data.get("generate_s"), "dynamodb_server": "moto_server", "target_peak_mib": 1024, "scenarios": {}}
    import psycopg

    postgres = start_postgres()
    moto, endpoint = start_dynamodb()
    state = args.work / "state"
    try:
        shutil.rmtree(state, ignore_errors=True)
        (state / "dagster").mkdir(parents=True)
        (state / "dagster" / "dagster.yaml").write_text(config)
        database = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres.dsn, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {database}")
        env = {**os.environ, **env_code, **LOCAL_CREDENTIALS, "AWS_REGION": LOCAL_REGION,
               "DAGSTER_HOME": str(state / "dagster"), "METRICS_START_DATE": first.isoformat(),
               "METRICS_DOWNLOADS_DIR": str(data["dir"] / "downloads"), "METRICS_COMMITS_DIR": str(data["dir"] / "commits"),
               "METRICS_REGISTRY_CSV": str(data["dir"] / "registry.csv"),
               "METRICS_WAREHOUSE_PATH": str(state / "warehouse.duckdb"),
               "METRICS_DYNAMODB_STACK": f"s{uuid.uuid4().hex[:8]}", "METRICS_DYNAMODB_ENDPOINT_URL": endpoint,
               "METRICS_POSTGRES_DSN": postgres.dsn.rsplit("/", 1)[0] + "/" + database}
        without = [prefix for prefix in args.without.split(",") if prefix]
        plans = {
            "backfill": [{"job": "daily_metrics_job", "exclude_prefixes": without, "tags": {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": args.last.isoformat(), "metrics/trigger": "backfill"}}],
            "full_republish": [{"job": "sink_reconciliation_job", "exclude_prefixes": without}],
        }
        report["left_out"] = without
        for name in args.scenarios.split(","):
            plan = plans[name]
            result = run_child(name, plan, env, state)
            report["scenarios"][name] = result
            if name == "backfill":
                report["dynamodb_items"] = sum(result["figures"].get(f"dynamodb/{t}", {}).get("written", 0)
                                               for t in ("install_activity", "github_activity"))
                report["warehouse_mib"] = round((state / "warehouse.duckdb").stat().st_size / 2**20)
            out.write_text(json.dumps(report, indent=1))  # kept after each scenario
        report["moto_server_peak_mib"] = moto_peak_mib(moto.pid)
    finally:
        moto.stop()
        postgres.stop()
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    for name, result in report["scenarios"].items():
        top = sorted(result["step_memory"].items(), key=lambda kv: -kv[1]["rss_mib_max_sampled"])[:3]
        print(f"  {name}: peak {result['peak_mib']} MiB (target < 1024), set in step {result['peak_step']}; "
              f"highest sampled RSS: " + ", ".join(f"{k} {v['rss_mib_max_sampled']} MiB" for k, v in top))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(*sys.argv[2:5])
    else:
        main()
