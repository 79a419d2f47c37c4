"""DynamoDB initial load: a bare `batch_write_item` loop vs the sink's writer (not run in CI).

    python bench/bench_dynamodb_write.py [--plugins 50] [--days 400] [--repeat 3] [--endpoint URL]

Same items, same server, fresh tables for every run. Without --endpoint a local moto_server
is started. "sink publish" is the whole asset body: DuckDB diff, item building, write, record.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import http.client
import multiprocessing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3

from metrics_pipeline.demo.local_servers.dynamodb import LOCAL_CREDENTIALS, LOCAL_REGION, start_dynamodb
from metrics_pipeline.demo.local_servers.process import free_port, wait_for_port
from metrics_pipeline.resources.dynamodb import BATCH_SIZE, DynamoDBResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_install_activity
from metrics_pipeline.sinks.dynamodb_tables import ensure_tables


def build_warehouse(path: Path, plugins: int, days: int) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(path=str(path))
    with warehouse.connect() as con:
        con.execute(
            "INSERT INTO daily_installs SELECT DATE '2023-01-01' + d::INTEGER, 'napari-plugin-' || p, (p * 7 + d) % 97"
            " FROM range(?) AS ps(p), range(?) AS ds(d)",
            [plugins, days],
        )
    return warehouse


def items_for(plugins: int, days: int) -> list[dict]:
    """The same DAY items the sink produces, as low-level attribute maps."""
    items, now = [], str(int(time.time() * 1000))
    for p in range(plugins):
        for d in range(days):
            ms = (1672531200 + d * 86400) * 1000
            day = time.strftime("%Y%m%d", time.gmtime(ms / 1000))
            items.append({
                "plugin_name": {"S": f"napari-plugin-{p}"}, "type_timestamp": {"S": f"DAY:{day}"},
                "type": {"S": "DAY"}, "install_count": {"N": str((p * 7 + d) % 97)},
                "timestamp": {"N": str(ms)}, "last_updated_timestamp": {"N": now},
            })
    return items


def fresh_tables(endpoint: str) -> DynamoDBResource:
    resource = DynamoDBResource(stack=f"bench{uuid.uuid4().hex[:8]}", endpoint_url=endpoint)
    ensure_tables(resource)
    return resource


def bare_loop(endpoint: str, items: list[dict]) -> tuple[float, float]:
    table = fresh_tables(endpoint).table_name("install-activity")
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=LOCAL_REGION)
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(items), BATCH_SIZE):
        pending = [{"PutRequest": {"Item": item}} for item in items[i:i + BATCH_SIZE]]
        while pending:
            pending = client.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {}).get(table, [])
    return time.perf_counter() - started, time.process_time() - cpu


def sink_writer(endpoint: str, items: list[dict], workers: int) -> tuple[float, float]:
    resource = fresh_tables(endpoint).model_copy(update={"max_workers": workers})
    requests = [{"PutRequest": {"Item": item}} for item in items]
    client = resource.client()  # created outside the timing, like the bare loop's
    started, cpu = time.perf_counter(), time.process_time()
    resource.write_batches(resource.table_name("install-activity"), requests, client)
    return time.perf_counter() - started, time.process_time() - cpu


def sink_publish(endpoint: str, warehouse_dir: Path, plugins: int, days: int, workers: int) -> tuple[float, float, dict]:
    warehouse = build_warehouse(warehouse_dir / f"{uuid.uuid4().hex}.duckdb", plugins, days)
    resource = DynamoDBResource(stack=f"bench{uuid.uuid4().hex[:8]}", endpoint_url=endpoint, max_workers=workers)
    ensure_tables(resource)
    started, cpu = time.perf_counter(), time.process_time()
    result = publish_install_activity(warehouse, resource)
    return time.perf_counter() - started, time.process_time() - cpu, result


def _latency_proxy(upstream_port: int, port: int, latency: float) -> None:
    """Runs in its own process: forwards every request to moto after `latency` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(latency)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
            connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=50)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--endpoint")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="add this round-trip latency per request (a proxy process), like a remote endpoint")
    args = parser.parse_args()
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": LOCAL_REGION}.items():
        os.environ.setdefault(name, value)
    server = None
    endpoint = args.endpoint
    if endpoint is None:
        server, endpoint = start_dynamodb()
    proxy = None
    if args.latency_ms:
        port = free_port()
        proxy = multiprocessing.Process(
            target=_latency_proxy, args=(urlsplit(endpoint).port, port, args.latency_ms / 1000), daemon=True)
        proxy.start()
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
    try:
        items = items_for(args.plugins, args.days)
        print(f"items: {len(items)}, added latency per request: {args.latency_ms} ms")
        runs: dict[str, list[tuple[float, float]]] = {"bare batch_write_item loop": []}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits all
                runs["bare batch_write_item loop"].append(bare_loop(endpoint, items))
                for workers in args.workers:
                    runs.setdefault(f"sink writer, {workers} workers", []).append(sink_writer(endpoint, items, workers))
                elapsed, cpu, result = sink_publish(endpoint, Path(tmp), args.plugins, args.days, max(args.workers))
                assert result["written"] == len(items), result
                runs.setdefault(f"sink publish (diff+write+record), {max(args.workers)} w", []).append((elapsed, cpu))
        bare = statistics.median(wall for wall, _ in runs["bare batch_write_item loop"])
        for label, values in runs.items():
            median = statistics.median(wall for wall, _ in values)
            cpu_us = statistics.median(cpu for _, cpu in values) / len(items) * 1e6
            print(f"{label:44s} median {median:6.2f}s  {len(items) / median:7,.0f} items/s  x{median / bare:.2f} "
                  f"of bare  client CPU {cpu_us:5.0f} us/item  runs {[round(wall, 2) for wall, _ in values]}")
    finally:
        if proxy is not None:
            proxy.kill()
            proxy.join()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
