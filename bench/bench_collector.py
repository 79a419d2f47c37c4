"""Collector throughput: requests/s, events/s and p50/p99 latency with 16 concurrent clients.

Starts `python -m metrics_pipeline.collector` (uvicorn, httptools + uvloop when installed) on
127.0.0.1 with a temporary spool, drives it with `wrk` (Debian package `wrk`), then checks that
the spool holds exactly the events acknowledged. Usage: python bench/bench_collector.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics_pipeline.collector.segments import read_sealed  # noqa: E402
from metrics_pipeline_tests.support.collector_server import TOKENS, Collector, collector_env  # noqa: E402

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.body = [[{body}]]
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.1f %.1f %.1f\\n", summary.requests, summary.errors.status,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def event(i: int) -> dict:
    return {"type": "traffic", "kind": "download", "url": f"/datasets/{i}/file.zip", "resource_id": f"r{i}",
            "bytes": 1000 + i, "user_id": f"user-{i % 97}"}


def run_wrk(port: int, path: str, body: dict, seconds: int, connections: int, threads: int, work: Path) -> dict:
    script = work / "post.lua"
    script.write_text(LUA.format(token=TOKENS["alpha"], body=json.dumps(body)))
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True,
    ).stdout
    requests, bad_status, duration_us, p50, p99, worst = re.search(r"RESULT (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)", out).groups()
    return {"requests": int(requests), "non_2xx": int(bad_status), "seconds": int(duration_us) / 1e6,
            "p50_ms": float(p50) / 1000, "p99_ms": float(p99) / 1000, "max_ms": float(worst) / 1000}


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process in the collector's process group (uvicorn and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spooled(spool: Path) -> int:
    return sum(len(read_sealed(p.read_bytes(), p.name)[0]) for p in spool.glob("sealed/*/*.seg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    rows = []
    for label, path, body, per_request in [
        ("single event", "/events/traffic", event(1), 1),
        ("100-event batch", "/events", {"events": [{**event(i)} for i in range(100)]}, 100),
    ]:
        work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
        collector = Collector(work / "spool", collector_env(work / "spool", METRICS_EVENTS_SEGMENT_SECONDS="5",
                                                           METRICS_EVENTS_SEGMENT_BYTES=str(64 << 20)),
                              workers=args.workers).start()
        try:
            time.sleep(1)
            server_cpu, client_cpu, load = group_cpu_seconds(collector.process.pid), children_cpu_seconds(), os.getloadavg()[0]
            result = run_wrk(collector.port, path, body, args.seconds, args.connections, args.wrk_threads, work)
            result["server_cpu_us"] = (group_cpu_seconds(collector.process.pid) - server_cpu) / result["requests"] * 1e6
            result["client_cpu_us"] = (children_cpu_seconds() - client_cpu) / result["requests"] * 1e6
            result["load"] = load
        finally:
            collector.stop()  # graceful: seals the open segments
        events = spooled(work / "spool")
        shutil.rmtree(work, ignore_errors=True)
        accepted = result["requests"] - result["non_2xx"]
        # wrk counts a request cut off at its deadline as not done; the spool may hold a few more.
        rows.append((label, result, accepted * per_request, events))
    print("| request | workers | clients | load avg | requests/s | events/s | p50 | p99 | max | non-2xx | "
          "server CPU / request | wrk CPU / request | events spooled / acknowledged |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, r, acked, events in rows:
        print(f"| {label} | {args.workers} | {args.connections} | {r['load']:.1f} | {r['requests'] / r['seconds']:,.0f} | "
              f"{acked / r['seconds']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['max_ms']:.1f} ms | "
              f"{r['non_2xx']} | {r['server_cpu_us']:.0f} µs | {r['client_cpu_us']:.0f} µs | {events:,} / {acked:,} |")


if __name__ == "__main__":
    main()
