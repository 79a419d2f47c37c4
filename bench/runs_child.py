"""One scenario of bench/bench_runs.py in its own process (the parent wraps it in /usr/bin/time -v).

    python bench/runs_child.py SCENARIO '{"json": "arguments"}' OUT.json

Scenarios: backfill, day, late (the pipeline's jobs, as the schedule and automation run them),
noop (Dagster's own per-run cost, one step or as many as the day's run), process_floor (a process
that only imports Dagster and opens its instance), floor_duckdb and floor_dynamodb (hand-written
baselines).
Settings come from the environment (METRICS_*, DAGSTER_HOME), like a deployed run's.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

STARTED = time.perf_counter()

FLOOR_SQL = """
CREATE TABLE raw_installs AS
SELECT CAST(timestamp AS DATE) AS download_day, regexp_replace(lower(file.project), '[-_.]+', '-', 'g') AS plugin_name,
       details.installer.name AS installer_name, count(*)::BIGINT AS download_count
FROM read_parquet($downloads, union_by_name = true)
WHERE timestamp IS NOT NULL AND details.installer.name = 'pip' AND details.ci IS NOT TRUE
  AND regexp_replace(lower(file.project), '[-_.]+', '-', 'g') IN (SELECT name FROM registry)
  AND CAST(timestamp AS DATE) BETWEEN $first AND $last
GROUP BY ALL;
CREATE TABLE daily_installs AS SELECT download_day, plugin_name, sum(download_count)::BIGINT AS install_count
FROM raw_installs GROUP BY ALL;
CREATE TABLE raw_commits AS
SELECT DISTINCT ON (r.name, lower(c.repo), c.sha) CAST(c.commit_author_date AS DATE) AS commit_day, r.name AS plugin_name,
       r.repo, c.sha, c.author_id, c.commit_author_date, c.commit_message
FROM read_parquet($commits, union_by_name = true) c JOIN registry r ON lower(c.repo) = lower(r.repo)
WHERE c.sha IS NOT NULL AND CAST(c.commit_author_date AS DATE) BETWEEN $first AND $last;
"""


def time_event_writes(instance) -> dict:
    """Count Dagster's event-log writes and the time spent in them (its own bookkeeping, not our work)."""
    storage, totals = instance.event_log_storage, {"count": 0, "seconds": 0.0}
    store = storage.store_event

    def timed(event) -> None:
        started = time.perf_counter()
        try:
            store(event)
        finally:
            totals["count"] += 1
            totals["seconds"] += time.perf_counter() - started

    storage.store_event = timed
    return totals


def _load():
    import dagster as dg

    from metrics_pipeline.definitions import defs

    definitions = defs()
    return dg, definitions, time.perf_counter() - STARTED


def _execute(dg, definitions, instance, request, steps: dict, figures: dict) -> float | None:
    """One RunRequest (or plan entry) executed in process like the run worker would; its seconds
    (None: nothing of the request's scope to run)."""
    from metrics_pipeline.demo.progress import QUIET_RUN_CONFIG, asset_figures

    job = definitions.resolve_job_def(request.get("job", "daily_metrics_job"))
    selection, ops, left_out = request.get("assets"), None, tuple(request.get("exclude_prefixes") or ())
    if request.get("scope"):  # only these assets of whatever the request asks for (--scope lambda)
        scope = {dg.AssetKey.from_user_string(key) for key in request["scope"]}
        selection = [key for key in selection or job.asset_layer.asset_graph.get_all_asset_keys() if key in scope]
        if not selection:
            return None
    if left_out:  # e.g. ["dynamodb/"]: the job less those assets (or ops naming them), to measure the rest
        keys = job.asset_layer.asset_graph.get_all_asset_keys()
        if keys:
            selection = [key for key in keys if not key.to_user_string().startswith(left_out)]
        else:
            names = [prefix.strip("/") for prefix in left_out]
            ops = [node.name for node in job.graph.nodes if not any(name in node.name for name in names)]
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance, run_config=QUIET_RUN_CONFIG, partition_key=request.get("partition"), op_selection=ops,
        tags=request.get("tags", {}), asset_selection=selection, raise_on_error=not left_out,
    )
    seconds = time.perf_counter() - started
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = steps.get(event.step_key, 0) + event.event_specific_data.duration_ms / 1000
    for name, values in asset_figures(result).items():
        for key, value in values.items():
            if isinstance(value, int):
                figures.setdefault(name, {}).setdefault(key, 0)
                figures[name][key] += value
    return seconds


def _as_dict(dg, request) -> dict:
    out = {"tags": dict(request.tags), "assets": list(request.asset_selection or []) or None}
    if request.partition_key:
        out["partition"] = request.partition_key
    return out


def run_jobs(plan: list[dict], as_of: str, scope: list[str] | None = None) -> dict:
    """Run each planned job, or what a schedule/sensor tick asks for, in process on the persistent
    instance (as the run worker would); "run" is the time inside Dagster runs."""
    dg, definitions, loaded = _load()
    from datetime import datetime, timezone

    from metrics_pipeline.automation.schedule import daily_metrics_schedule
    from metrics_pipeline.automation.sensors import late_data_sensor

    jobs, steps, figures, run_s, ticks = [], {}, {}, 0.0, []
    repository = definitions.get_repository_def()
    with dg.DagsterInstance.get() as instance:
        events = time_event_writes(instance)
        for entry in plan:
            requests = []
            if entry.get("tick") == "schedule":
                started = time.perf_counter()
                at = datetime.fromisoformat(entry["at"]).replace(tzinfo=timezone.utc)
                context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at, repository_def=repository)
                data = daily_metrics_schedule.evaluate_tick(context)
                requests = [_as_dict(dg, r) for r in data.run_requests or []]
                ticks.append({"tick": "schedule", "seconds": round(time.perf_counter() - started, 3),
                              "requests": len(requests), "skip": data.skip_message})
            elif entry.get("tick") == "late_data_sensor":
                started = time.perf_counter()
                cursor_file = entry["cursor_file"]
                cursor = open(cursor_file).read() if os.path.exists(cursor_file) else None
                resources = {k: definitions.resources[k] for k in ("installs_source", "commits_source", "registry", "warehouse")}
                with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository,
                                             resources=resources) as context:
                    data = late_data_sensor.evaluate_tick(context)
                if data.cursor:
                    with open(cursor_file, "w") as handle:
                        handle.write(data.cursor)
                requests = [_as_dict(dg, r) for r in data.run_requests or []]
                ticks.append({"tick": "late_data_sensor", "seconds": round(time.perf_counter() - started, 3),
                              "requests": len(requests), "skip": data.skip_message})
                if entry.get("prime"):
                    requests = []
            else:
                requests = [entry]
            for request in requests:
                if scope:
                    request = {**request, "scope": scope}
                seconds = _execute(dg, definitions, instance, request, steps, figures)
                if seconds is None:  # nothing of the scope in this request: no run
                    continue
                run_s += seconds
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # the process's peak so far
                jobs.append({"job": request.get("job", "daily_metrics_job"), "seconds": round(seconds, 3),
                             "peak_mib_after": peak})
    return {"load_defs_s": round(loaded, 3), "run_s": round(run_s, 3), "jobs": jobs, "runs": len(jobs), "ticks": ticks,
            "dagster_events": events["count"], "dagster_event_writes_s": round(events["seconds"], 3),
            "steps_s": {k: round(v, 3) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])}, "figures": figures}


def load_libraries() -> None:
    """What the day's run loads before any data: DuckDB, Arrow (whose first array imports pandas), a
    DynamoDB client (boto3 and its service model) and psycopg."""
    import boto3
    import duckdb
    import psycopg  # noqa: F401
    import pyarrow as pa

    duckdb.connect().register("one", pa.table({"a": pa.array([1])}))
    boto3.session.Session().client("dynamodb", region_name="us-east-1")


def noop(repeat: int, steps: int = 1, libraries: bool = False) -> dict:
    """Dagster's own cost of one run: `steps` assets in a chain that do nothing, on the same kind of
    instance (26 is the step count of the day's run); with `libraries`, in a process that has also loaded
    the libraries the day's run loads (the memory floor)."""
    import dagster as dg

    if libraries:
        load_libraries()

    def nothing(n: int) -> dg.AssetsDefinition:
        @dg.asset(name=f"nothing_{n}", deps=[f"nothing_{n - 1}"] if n else [])
        def _nothing() -> None:
            return None

        return _nothing

    job = dg.Definitions(assets=[nothing(n) for n in range(steps)]).resolve_implicit_global_asset_job_def()
    times = []
    with dg.DagsterInstance.get() as instance:
        events = time_event_writes(instance)
        for _ in range(repeat + 1):  # the first run also warms caches: not counted
            started = time.perf_counter()
            job.execute_in_process(instance=instance, run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            times.append(time.perf_counter() - started)
    return {"run_s": round(sorted(times[1:])[len(times[1:]) // 2], 4), "runs_s": [round(t, 4) for t in times[1:]],
            "first_run_s": round(times[0], 4), "import_s": round(time.perf_counter() - STARTED - sum(times), 3),
            "steps": steps, "events_per_run": events["count"] // (repeat + 1)}


def process_floor() -> dict:
    """A fresh process that imports Dagster and opens the instance, as every tick and run process does."""
    import dagster as dg

    imported = time.perf_counter() - STARTED
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage  # noqa: B018 - opening the storage is the cost measured
    return {"run_s": 0.0, "import_dagster_s": round(imported, 3), "instance_s": round(time.perf_counter() - STARTED - imported, 3)}


def floor_duckdb(args: dict) -> dict:
    import glob

    import duckdb

    con = duckdb.connect(args["db"])
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE registry AS SELECT regexp_replace(lower(name), '[-_.]+', '-', 'g') AS name, "
        "regexp_replace(regexp_replace(code_repository, '^https://github.com/', ''), '(\\.git)?/?$', '') AS repo "
        "FROM read_csv(?, header = true, all_varchar = true)", [args["registry"]])
    params = {
        "downloads": sorted(glob.glob(os.path.join(args["downloads"], "**", "*.parquet"), recursive=True)),
        "commits": sorted(glob.glob(os.path.join(args["commits"], "**", "*.parquet"), recursive=True)),
        "first": args["first"], "last": args["last"],
    }
    for statement in filter(str.strip, FLOOR_SQL.split(";")):
        con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    run_s = time.perf_counter() - started
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("raw_installs", "daily_installs", "raw_commits")}
    return {"run_s": round(run_s, 3), "rows": counts}


def floor_dynamodb(args: dict) -> dict:
    """N DAY-shaped items with a bare parallel batch_write_item (25 per request, the sink's worker count)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config

    from metrics_pipeline.resources.dynamodb import DynamoDBResource
    from metrics_pipeline.sinks.dynamodb_tables import ensure_tables

    resource = DynamoDBResource(stack=args["stack"], endpoint_url=args["endpoint"])
    ensure_tables(resource)
    table = resource.table_name("install-activity")
    client = boto3.client("dynamodb", endpoint_url=args["endpoint"], region_name=os.environ.get("AWS_REGION", "us-east-1"),
                          config=Config(max_pool_connections=16))
    now = str(int(time.time() * 1000))
    items = [{"plugin_name": {"S": f"plugin-{i % 300}"}, "type_timestamp": {"S": f"DAY:{20000000 + i // 300}"},
              "type": {"S": "DAY"}, "install_count": {"N": str(i % 97 + 1)}, "timestamp": {"N": str(i)},
              "last_updated_timestamp": {"N": now}} for i in range(args["items"])]
    batches = [[{"PutRequest": {"Item": item}} for item in items[i:i + 25]] for i in range(0, len(items), 25)]

    def send(pending: list[dict]) -> None:
        while pending:
            pending = client.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {}).get(table, [])

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=resource.max_workers) as pool:
        list(pool.map(send, batches))
    return {"run_s": round(time.perf_counter() - started, 3), "cpu_s": round(time.process_time() - cpu, 3),
            "items": len(items), "workers": resource.max_workers}


def main() -> None:
    scenario, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    if scenario in ("backfill", "day", "late", "prime"):
        result = run_jobs(args["plan"], args["as_of"], args.get("scope"))
    elif scenario == "noop":
        result = noop(args.get("repeat", 3), args.get("steps", 1), args.get("libraries", False))
    elif scenario == "process_floor":
        result = process_floor()
    elif scenario == "floor_duckdb":
        result = floor_duckdb(args)
    elif scenario == "floor_dynamodb":
        result = floor_dynamodb(args)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    result["process_s"] = round(time.perf_counter() - STARTED, 3)
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
