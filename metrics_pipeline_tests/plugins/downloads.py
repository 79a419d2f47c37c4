"""Download rows with every column of the BigQuery schema, and runs of the plugin step on a files scenario."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from metrics_pipeline.demo.schema import DOWNLOAD_SCHEMA
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.plugins.assets import plugin_models
from metrics_pipeline.plugins.spec import Column, MetricPlugin
from metrics_pipeline_tests.scenario import DOWNLOAD_SCHEMA as NARROW_SCHEMA
from metrics_pipeline_tests.scenario import Scenario, utc
from metrics_pipeline_tests.support.plugin_downloads import run

_SEQ = itertools.count()
INSTALLS = [raw_installs, daily_installs, monthly_installs, total_installs]


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
    cpu: str | None = "x86_64"
    distro: str | None = "Ubuntu"
    tls: str | None = "TLSv1.3"
    times: int = 1


def write_rows(scenario: Scenario, rows: list[Row], narrow: bool = False) -> None:
    """One Parquet file of `rows`; `narrow` writes the older schema (no distro, OpenSSL or TLS columns)."""
    records = []
    for r in rows:
        details = {
            "installer": None if r.installer is None else {"name": r.installer, "version": "1"},
            "python": r.python, "implementation": {"name": "CPython", "version": r.python},
            "system": None if r.system is None else {"name": r.system, "release": "1"}, "cpu": r.cpu, "ci": r.ci,
        }
        record = {"timestamp": utc(r.timestamp), "country_code": r.country, "url": "/x", "project": r.project,
                  "file": {"filename": f"{r.project}.whl", "project": r.project, "version": r.version, "type": "bdist_wheel"},
                  "details": details}
        if not narrow:
            details |= {"distro": {"name": r.distro, "version": "22.04", "id": "jammy", "libc": {"lib": "glibc", "version": "2.35"}},
                        "openssl_version": "OpenSSL 3.0.2", "setuptools_version": "68.0", "rustc_version": None}
            record |= {"tls_protocol": r.tls, "tls_cipher": "TLS_AES_128_GCM_SHA256"}
        records.extend([record] * r.times)
    path = scenario.downloads.directory / f"plugin-rows-{next(_SEQ):04d}.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=NARROW_SCHEMA if narrow else DOWNLOAD_SCHEMA), path)


def counting(name: str, sql: str | None = None, **changes) -> MetricPlugin:
    """Downloads per plugin and day: the smallest model."""
    return MetricPlugin(name=name, summary=f"{name}: downloads per plugin",
                        columns=(Column("plugin_name", "varchar", "plugin"), Column("downloads", "bigint", "rows", measure=True)),
                        sql=sql or "SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows GROUP BY ALL",
                        **changes)


def run_plugins(scenario: Scenario, plugins, first: str | None = None, last: str | None = None, extra=(), **kwargs):
    """One run: the days' landing (when `first` is given), the installs rollups, the plugin step, `extra`."""
    landing = INSTALLS if first else []
    return run(scenario, [*landing, plugin_models(tuple(plugins)), *extra], first, last, **kwargs)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def entry_point_package(root, module: str, body: str, points: dict[str, str]) -> None:
    """A package on `root` (to prepend to sys.path) registering `points` as metric plugins."""
    (root / f"{module}.py").write_text(body)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[metrics_pipeline.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
