"""`make api` right after `make demo`: the Makefile's own recipe, on the embedded DuckDB warehouse and with
no read-API setting in the environment, answers 200 with the figures recounted here from the demo's files."""

from __future__ import annotations

import calendar
import csv
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from metrics_pipeline.demo.local_servers.process import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
DAYS = 35  # the demo's own runner, five weeks instead of 400 days: a month boundary or two, ~12 s
UNSET = ("METRICS_API_BACKEND", "METRICS_API_EXPORT_BACKEND", "METRICS_WAREHOUSE_PATH", "METRICS_POSTGRES_DSN",
         "METRICS_DYNAMODB_STACK", "METRICS_DYNAMODB_ENDPOINT_URL", "METRICS_START_DATE", "DAGSTER_HOME",
         "METRICS_DOWNLOADS_DIR", "METRICS_COMMITS_DIR", "METRICS_REGISTRY_CSV", "METRICS_API_TODAY")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def recount(demo: Path) -> tuple[Counter, dict[str, set], dict[str, datetime]]:
    """Installs per (plugin, UTC day), commit shas per plugin and each plugin's newest commit, by the README's rules."""
    rows = list(csv.DictReader((demo / "registry.csv").open()))
    names = {_norm(r["name"].strip()) for r in rows}
    repos: dict[str, list[str]] = {}
    for row in rows:
        url = row["code_repository"].strip()
        if url.lower().startswith("https://github.com/"):
            repo = url[len("https://github.com/"):].rstrip("/").removesuffix(".git").lower()
            repos.setdefault(repo, []).append(_norm(row["name"].strip()))
    installs = Counter()
    for path in (demo / "downloads").rglob("*.parquet"):
        for row in pq.read_table(path, columns=["timestamp", "file", "details"]).to_pylist():
            details, plugin = row["details"], _norm(row["file"]["project"])
            if (details["installer"] or {}).get("name") == "pip" and details["ci"] is not True and plugin in names:
                installs[(plugin, row["timestamp"].astimezone(UTC).date())] += 1
    commits = [r for p in (demo / "commits").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    commits += [r for p in (demo / "commits").glob("*.csv") for r in pacsv.read_csv(p).to_pylist()]
    shas: dict[str, set] = {}
    latest: dict[str, datetime] = {}
    for row in commits:
        when = row["commit_author_date"]
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        for plugin in repos.get((row["repo"] or "").lower(), []):
            if row["sha"] and when is not None:
                shas.setdefault(plugin, set()).add((row["repo"].lower(), row["sha"], when.astimezone(UTC)))
                latest[plugin] = max(latest.get(plugin, when), when)
    return installs, shas, latest


def epoch_ms(when: datetime) -> int:
    micros = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return (micros + 500) // 1000


def month_ms(day: date) -> int:
    return calendar.timegm((day.year, day.month, 1, 0, 0, 0)) * 1000


def months_before(today: date, count: int) -> list[date]:
    first = today.replace(day=1)
    out = []
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return out[::-1]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, postgres_dsn, dynamodb_endpoint) -> tuple[Path, date]:
    """What `make demo` leaves (its runner, `--days 35`), publishing to the session's servers instead of new ones."""
    import psycopg
    from psycopg import conninfo

    home = tmp_path_factory.mktemp("make-api") / ".metrics"
    end = datetime.now(UTC).date() - timedelta(days=1)
    database = f"demo_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(METRICS_POSTGRES_DSN=conninfo.make_conninfo(postgres_dsn, dbname=database),
               METRICS_DYNAMODB_ENDPOINT_URL=dynamodb_endpoint, METRICS_DYNAMODB_STACK=f"d{uuid.uuid4().hex[:10]}")
    result = subprocess.run([sys.executable, "-m", "metrics_pipeline.demo.run", "--days", str(DAYS), "--end", end.isoformat(),
                             "--home", str(home)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield home, end
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_make_api_serves_the_demo_from_its_warehouse(demo_home, tmp_path):
    home, end = demo_home
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    # Pinned to the day after the demo's last day, so a test crossing midnight (UTC) still agrees with it.
    env.update(METRICS_HOME=str(home), METRICS_API_TODAY=(end + timedelta(days=1)).isoformat())
    venv = Path(sys.executable).parents[1]  # the test's own environment (the Makefile's .venv)
    command = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o", "setup", "api",
               f"API_PORT={port}", f"VENV={venv}"]
    server = start_server(command, port, tmp_path / "make-api.log", env=env, timeout=60)
    try:
        installs, shas, latest = recount(home / "demo")
        totals = Counter()
        for (plugin, _), n in installs.items():
            totals[plugin] += n
        top = [plugin for plugin, _ in totals.most_common(3)]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert client.get("/healthz").json() == {"status": "ok", "backend": "duckdb", "export_backend": "duckdb"}
            for plugin in [*top, max(shas, key=lambda p: len(shas[p]))]:
                response = client.get(f"/metrics/{plugin}")
                assert response.status_code == 200, response.text
                body = response.json()
                months = months_before(end + timedelta(days=1), 12)
                assert body["usage"] == {
                    "timeline": [{"timestamp": month_ms(m), "installs": sum(
                        n for (p, d), n in installs.items() if p == plugin and d.replace(day=1) == m)} for m in months],
                    "stats": {"total_installs": totals[plugin], "installs_in_last_30_days": sum(
                        n for (p, d), n in installs.items() if p == plugin and d > end - timedelta(days=30))},
                }
                mine = shas.get(plugin, set())
                assert body["maintenance"] == {
                    "timeline": [{"timestamp": month_ms(m), "commits": sum(
                        1 for _, _, when in mine if when.date().replace(day=1) == m)} for m in months],
                    "stats": {"total_commits": len(mine), "latest_commit_timestamp": (
                        epoch_ms(latest[plugin]) if plugin in latest else None)},
                }
                assert body["data_status"] == {
                    "installs": {"last_complete_day": end.isoformat(), "stale": False},
                    "commits": {"last_complete_day": end.isoformat(), "stale": False, "timeline_complete": True}}
            top_page = client.get(f"/metrics/{top[0]}?limit=1").json()
            assert top_page["usage"]["timeline"][0]["installs"] > 0  # last month is in the demo: not a zero match
        log = (tmp_path / "make-api.log").read_text()
        assert f"read API on http://127.0.0.1:{port}" in log and str(home / "warehouse.duckdb") in log
    finally:
        server.stop()
