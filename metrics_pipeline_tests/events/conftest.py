"""Events tests: a collector per test, the session's InfluxDB, and a runner for the sensor's requests."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from metrics_pipeline.events.definitions import definitions
from metrics_pipeline.events.segment_sources import LocalSegmentSource
from metrics_pipeline.automation.jobs import daily_metrics_job
from metrics_pipeline.events.sensor import days_ended, plan, run_request
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline_tests.support.collector_server import Collector, collector_env
from metrics_pipeline_tests.support.influxdb_server import start_influxdb


@pytest.fixture(scope="session")
def influxdb_url():
    process, url, root = start_influxdb()
    try:
        yield url
    finally:
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


class EventsPipeline:
    """The events domain's definitions over a spool, a warehouse file, Postgres and InfluxDB."""

    def __init__(self, monkeypatch, root: Path, postgres_dsn: str, influxdb_url: str):
        self.spool, self.warehouse_path = root / "spool", root / "warehouse.duckdb"
        env = {"METRICS_EVENTS_SPOOL": str(self.spool), "METRICS_INFLUXDB_URL": influxdb_url,
               "METRICS_INFLUXDB_DATABASE": root.name}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        self.influx_database, self.influxdb_url, self.postgres_dsn = root.name, influxdb_url, postgres_dsn
        self.warehouse = DuckDBWarehouse(path=str(self.warehouse_path))
        self.defs = dg.Definitions.merge(definitions(env), dg.Definitions(jobs=[daily_metrics_job], resources={
            "warehouse": self.warehouse, "postgres": PostgresResource(dsn=postgres_dsn),
        }))
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def collector(self, **extra) -> Collector:
        return Collector(self.spool, collector_env(self.spool, **extra))

    def tick(self, now: datetime | None = None) -> list[dg.RunRequest]:
        """What the sensor would ask for now: one run, or none."""
        now = now or datetime.now(timezone.utc)
        segments, self.cursor = plan(self.cursor, LocalSegmentSource(spool=str(self.spool)), now,
                                     days_ended=days_ended(self.warehouse, now.date()))
        return [] if segments is None else [run_request(self.defs.resolve_asset_graph(), segments, now.date())]

    def run(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def("daily_metrics_job").execute_in_process(
            run_config=request.run_config, tags=request.tags, instance=self.instance, raise_on_error=False,
            asset_selection=list(request.asset_selection),
        )

    def query(self, sql: str, params=()) -> list[tuple]:
        with duckdb.connect(str(self.warehouse_path), read_only=True) as con:
            return con.execute(sql, params).fetchall()


@pytest.fixture
def pipeline(monkeypatch, tmp_path, postgres_database, influxdb_url) -> EventsPipeline:
    return EventsPipeline(monkeypatch, tmp_path, postgres_database, influxdb_url)
