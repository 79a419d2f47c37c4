"""Read API latency: /metrics/{plugin} over HTTP against each backend, and against napari-hub's reader
(not run in CI).

    python bench/bench_api.py [--plugins 100] [--days 400] [--requests 2000] [--concurrency 1 8] [--delay-ms 5]
        [--targets dynalite-5ms dynalite-5ms-nocache hub-dynalite-5ms duckdb postgres dynalite moto]
        [--dynalite /tmp/dynalite_api/node_modules/dynalite/cli.js]

Builds one synthetic warehouse and publishes it with the real sinks to a throwaway Postgres and
moto_server; dynalite (`npm install dynalite` into a temp dir) gets a copy of moto's items:
moto's Query scans the whole table, dynalite's uses its key index. The `*-5ms` targets reach
dynalite through a proxy adding --delay-ms to every request (bench/api_peers.py), as a remote
DynamoDB would; `hub-dynalite-5ms` is napari-hub's reader on the same tables, `-nocache` our API
with METRICS_API_CACHE_ENTRIES=0. Times `/metrics/{plugin}` from client threads with keep-alive
(10 % unknown plugins, the same sequence for every target). DynamoDB requests per page come from
`X-Backend-Calls`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx

from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION, start_dynamodb
from metrics_pipeline.demo.local_servers.postgres import start_postgres
from metrics_pipeline.demo.local_servers.process import free_port, start_server
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_github_activity, publish_install_activity
from metrics_pipeline.sinks.dynamodb_tables import GITHUB_ACTIVITY, INSTALL_ACTIVITY, _total_installs_gsi
from metrics_pipeline.sinks.postgres import GITHUB_ACTIVITY as PG_GITHUB
from metrics_pipeline.sinks.postgres import INSTALL_ACTIVITY as PG_INSTALLS
from metrics_pipeline.sinks.postgres import publish
from metrics_pipeline.sinks.status import last_complete_days, publish_status, publish_status_dynamodb
from metrics_pipeline.api.backends.warehouse import WarehouseBackend
from metrics_pipeline.api.timeline import plugin_query

FIRST_DAY = date(2023, 1, 1)


def build_warehouse(path: Path, plugins: int, days: int) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(path=str(path))
    with warehouse.connect() as con:
        con.execute("""INSERT INTO daily_installs SELECT ?::DATE + d::INTEGER, 'napari-plugin-' || p, (p * 7 + d) % 97 + 1
                       FROM range(?) ps(p), range(?) ds(d)""", [FIRST_DAY, plugins, days])
        con.execute("INSERT INTO monthly_installs SELECT date_trunc('month', download_day)::DATE, plugin_name,"
                    " sum(install_count) FROM daily_installs GROUP BY ALL")
        con.execute("INSERT INTO total_installs SELECT plugin_name, sum(install_count) FROM monthly_installs GROUP BY ALL")
        con.execute("""INSERT INTO monthly_commits
                       SELECT DISTINCT date_trunc('month', download_day)::DATE AS m, plugin_name, 'Org/' || plugin_name,
                              hash(plugin_name, date_trunc('month', download_day)) % 5 + 1,
                              date_trunc('month', download_day) + INTERVAL 36 HOUR
                       FROM daily_installs""")
        con.execute("INSERT INTO total_commits SELECT plugin_name, repo, sum(commit_count) FROM monthly_commits GROUP BY ALL")
        con.execute("INSERT INTO latest_commits SELECT plugin_name, repo, max(latest_commit_at) FROM monthly_commits GROUP BY ALL")
        con.execute("INSERT INTO source_fingerprints SELECT s, ?::DATE + d::INTEGER, 1, NULL, now()::TIMESTAMP"
                    " FROM (VALUES ('installs'), ('commits')) v(s), range(?) ds(d)", [FIRST_DAY, days])
        views = {n for (n,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        for view, table in (("installs_by_month", "monthly_installs"), ("commits_by_month", "monthly_commits")):
            if view not in views:  # until the lead's views land
                con.execute(f"CREATE VIEW {view} AS SELECT * FROM {table}")
    return warehouse


def copy_to_dynalite(source: DynamoDBResource, target: DynamoDBResource, warehouse: DuckDBWarehouse) -> int:
    """dynalite lacks TTL, which the sink's table set-up enables: create the tables here and copy
    every item the real sink wrote to moto_server."""
    src, dst, copied = source.client(), target.client(), 0
    for suffix, range_key in ((INSTALL_ACTIVITY, "type_timestamp"), (GITHUB_ACTIVITY, "type_identifier")):
        attributes = [{"AttributeName": "plugin_name", "AttributeType": "S"}, {"AttributeName": range_key, "AttributeType": "S"}]
        extra = {}
        if suffix == INSTALL_ACTIVITY:
            attributes.append({"AttributeName": "is_total", "AttributeType": "S"})
            extra["GlobalSecondaryIndexes"] = [_total_installs_gsi(target.stack)]
        dst.create_table(TableName=target.table_name(suffix), BillingMode="PAY_PER_REQUEST", AttributeDefinitions=attributes,
                         KeySchema=[{"AttributeName": "plugin_name", "KeyType": "HASH"},
                                    {"AttributeName": range_key, "KeyType": "RANGE"}], **extra)
        dst.get_waiter("table_exists").wait(TableName=target.table_name(suffix))
        items, kwargs = [], {"TableName": source.table_name(suffix)}
        while True:  # set-up only: the API never scans
            page = src.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        target.write_batches(target.table_name(suffix), [{"PutRequest": {"Item": i}} for i in items], dst)
        copied += len(items)
    with warehouse.connect(read_only=True) as con:
        publish_status_dynamodb(target, last_complete_days(con))
    return copied


def hammer(url: str, plugins: list[str], requests: int, concurrency: int) -> dict:
    """p50/p99 of `requests` pages from `concurrency` threads; the unknown names differ per level (new misses)."""
    rng = random.Random(7 + concurrency)
    names = [rng.choice(plugins) if rng.random() < 0.9 else f"not-a-plugin-{concurrency}-{rng.randrange(1000)}"
             for _ in range(requests)]
    with httpx.Client(base_url=url, timeout=60) as warm:
        for name in names[:50]:
            assert warm.get(f"/metrics/{name}").status_code == 200
    latencies, calls, lock = [], [], threading.Lock()

    def worker(chunk: list[str]) -> None:
        mine, my_calls = [], []
        with httpx.Client(base_url=url, timeout=60) as client:
            for name in chunk:
                started = time.perf_counter()
                response = client.get(f"/metrics/{name}")
                mine.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                my_calls.append(int(response.headers["X-Backend-Calls"]))
        with lock:
            latencies.extend(mine)
            calls.extend(my_calls)

    threads = [threading.Thread(target=worker, args=(names[i::concurrency],)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies), "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))], "rps": len(latencies) / wall,
        "calls": statistics.mean(calls),
    }


PEERS = str(Path(__file__).with_name("api_peers.py"))
DELAYED = ("dynalite-5ms", "dynalite-5ms-nocache", "hub-dynalite-5ms")
TARGETS = (*DELAYED, "duckdb", "postgres", "dynalite", "moto")


def machine() -> str:
    """CPU count and model, for the figures' context."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPU ({model}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=100)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--delay-ms", type=float, default=5.0, help="added to every DynamoDB request of the -5ms targets")
    parser.add_argument("--targets", nargs="+", default=list(DELAYED), choices=TARGETS)
    parser.add_argument("--dynalite", default="/tmp/dynalite_api/node_modules/dynalite/cli.js",
                        help="dynalite's cli.js (npm install dynalite into a temp dir)")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": LOCAL_REGION}.items():
        os.environ.setdefault(name, value)
    today = FIRST_DAY + timedelta(days=args.days)
    plugins = [f"napari-plugin-{p}" for p in range(args.plugins)]
    targets = set(args.targets)
    servers, rows = [], []
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            warehouse = build_warehouse(Path(tmp) / "bench.duckdb", args.plugins, args.days)
            with warehouse.connect(read_only=True) as con:
                print("daily_installs rows:", con.execute("SELECT count(*) FROM daily_installs").fetchone()[0])
            stack, commands = f"bench{uuid.uuid4().hex[:6]}", {}

            def api(port: int) -> list[str]:
                return [sys.executable, "-m", "metrics_pipeline.api", "--port", str(port)]
            if "duckdb" in targets:
                started = time.perf_counter()
                WarehouseBackend(warehouse.path, 10).read_plugin(plugin_query(plugins[0], 12, today))
                print(f"DuckDB snapshot + first read: {time.perf_counter() - started:.3f}s", flush=True)
                commands["duckdb"] = (api, {"METRICS_API_BACKEND": "duckdb", "METRICS_WAREHOUSE_PATH": warehouse.path})
            if "postgres" in targets:
                postgres_server = start_postgres()
                servers.append(postgres_server)
                postgres = PostgresResource(dsn=postgres_server.dsn)
                publish(PG_INSTALLS, warehouse, postgres)
                publish(PG_GITHUB, warehouse, postgres)
                publish_status(warehouse, postgres=postgres)
                commands["postgres"] = (api, {"METRICS_API_BACKEND": "postgres", "METRICS_POSTGRES_DSN": postgres_server.dsn})
            if targets - {"duckdb", "postgres"}:  # the real sink writes to moto_server
                moto, moto_url = start_dynamodb(tmp)
                servers.append(moto)
                moto_resource = DynamoDBResource(stack=stack, endpoint_url=moto_url)
                started = time.perf_counter()
                publish_install_activity(warehouse, moto_resource)
                publish_github_activity(warehouse, moto_resource, as_of=today)
                publish_status(warehouse, dynamodb=moto_resource)
                print(f"moto_server publish: {time.perf_counter() - started:.1f}s", flush=True)
            dynamodb_env = {"METRICS_API_BACKEND": "dynamodb", "METRICS_DYNAMODB_STACK": stack}
            if targets & {"dynalite", *DELAYED}:
                port = free_port()
                servers.append(start_server(["node", args.dynalite, "--port", str(port)], port, Path(tmp) / "dynalite.log"))
                url = f"http://127.0.0.1:{port}"
                count = copy_to_dynalite(moto_resource, DynamoDBResource(stack=stack, endpoint_url=url), warehouse)
                print(f"dynalite: {count} items copied", flush=True)
                commands["dynamodb (dynalite)"] = (api, {**dynamodb_env, "METRICS_DYNAMODB_ENDPOINT_URL": url})
                if targets & set(DELAYED):
                    delayed = free_port()
                    servers.append(start_server([sys.executable, PEERS, "proxy", str(delayed), str(port), str(args.delay_ms)],
                                                delayed, Path(tmp) / "proxy.log"))
                    slow = {**dynamodb_env, "METRICS_DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{delayed}"}
                    label = f"+{args.delay_ms:g} ms/request"
                    commands[f"ours, dynalite {label}"] = (api, slow)
                    commands[f"ours without cache, dynalite {label}"] = (api, {**slow, "METRICS_API_CACHE_ENTRIES": "0"})
                    registry = Path(tmp) / "registry.json"
                    registry.write_text(json.dumps({p: f"Org/{p}" for p in plugins}))

                    def hub(port: int) -> list[str]:
                        return [sys.executable, PEERS, "hub", str(port), stack, slow["METRICS_DYNAMODB_ENDPOINT_URL"],
                                today.isoformat(), str(registry)]

                    commands[f"napari-hub reader, dynalite {label}"] = (hub, {})
            if "moto" in targets:
                commands["dynamodb (moto_server)"] = (api, {**dynamodb_env, "METRICS_DYNAMODB_ENDPOINT_URL": moto_url})
            chosen = {label: c for label, c in commands.items() if _wanted(label, targets)}
            for label, (command, env) in chosen.items():
                port = free_port()
                server = start_server(command(port), port, Path(tmp) / f"api-{port}.log",
                                      env={**env, "METRICS_API_TODAY": today.isoformat()}, timeout=60)
                try:
                    for concurrency in args.concurrency:
                        load = os.getloadavg()[0]
                        result = hammer(f"http://127.0.0.1:{port}", plugins, args.requests, concurrency)
                        result["load_before"] = load
                        rows.append((label, concurrency, result))
                        print(label, concurrency, {k: round(v, 2) for k, v in result.items()}, flush=True)
                finally:
                    server.stop()
        finally:
            for server in reversed(servers):
                server.stop()
    print(f"\n{machine()}; {args.plugins} plugins x {args.days} days, {args.requests:,} requests per line")
    print("\n| reader | client threads | p50 | p99 | requests/s | DynamoDB requests / page | load before |")
    print("|---|---|---|---|---|---|---|")
    for label, concurrency, r in rows:
        print(f"| {label} | {concurrency} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['rps']:,.0f} | "
              f"{r['calls']:.2f} | {r['load_before']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps([{"reader": label, "clients": c, **r} for label, c, r in rows], indent=1))


def _wanted(label: str, targets: set[str]) -> bool:
    """Which command lines the chosen --targets select."""
    return any((
        "duckdb" in targets and label == "duckdb",
        "postgres" in targets and label == "postgres",
        "dynalite" in targets and label == "dynamodb (dynalite)",
        "moto" in targets and label == "dynamodb (moto_server)",
        "dynalite-5ms" in targets and label.startswith("ours, dynalite"),
        "dynalite-5ms-nocache" in targets and label.startswith("ours without cache"),
        "hub-dynalite-5ms" in targets and label.startswith("napari-hub reader"),
    ))


if __name__ == "__main__":
    main()
