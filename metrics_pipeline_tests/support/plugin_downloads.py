"""Download rows with every breakdown dimension, and runs of plugin assets on a files scenario."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from metrics_pipeline.plugins.rows import FilePluginRows
from metrics_pipeline_tests.scenario import DOWNLOAD_SCHEMA, Scenario, utc

_SEQ = itertools.count()


@dataclass
class Row:
    timestamp: str  # UTC 'YYYY-MM-DD HH:MM:SS'
    project: str
    installer: str | None = "pip"
    ci: bool | None = False
    python: str | None = "3.11.7"
    system: str | None = "Linux"
    country: str | None = "US"
    version: str | None = "1.0"
    times: int = 1


def write_rows(scenario: Scenario, rows: list[Row]) -> None:
    records = [
        {
            "timestamp": utc(r.timestamp), "country_code": r.country, "url": "/x", "project": r.project,
            "file": {"filename": f"{r.project}.whl", "project": r.project, "version": r.version, "type": "bdist_wheel"},
            "details": {
                "installer": None if r.installer is None else {"name": r.installer, "version": "1"},
                "python": r.python, "implementation": {"name": "CPython", "version": r.python},
                "system": None if r.system is None else {"name": r.system, "release": "1"},
                "cpu": "x86_64", "ci": r.ci,
            },
        }
        for r in rows for _ in range(r.times)
    ]
    path = scenario.downloads.directory / f"plugin-rows-{next(_SEQ):04d}.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=DOWNLOAD_SCHEMA), path)


def resources(scenario: Scenario, **extra) -> dict:
    if scenario.installs_kind == "files":
        extra = {"plugin_rows": FilePluginRows(directory=str(scenario.downloads.directory), installers=scenario.installers)} | extra
    return scenario.resources() | extra


def run(scenario: Scenario, assets, first: str | None = None, last: str | None = None, raise_on_error: bool = True,
        **extra):
    """One run of `assets` over [first, last] (a single-run backfill), on the scenario's instance."""
    from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    tags = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first} if first else {}
    return dg.materialize(assets, resources=resources(scenario, **extra), instance=scenario.instance, tags=tags,
                          raise_on_error=raise_on_error)
