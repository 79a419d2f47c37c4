"""Hand-made source rows for tests, written through a chosen source kind, plus runners.

A test states rows and expected numbers; `Scenario` writes the rows where the chosen source
reads them (files today; other kinds plug in as writers) and materializes real assets.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.commits.sources import FileCommitsSource
from metrics_pipeline.installs.sources import FileInstallsSource
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline_tests.sources import scenario_writers as production_writers

UTC = timezone.utc

DOWNLOAD_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("country_code", pa.string()),
        ("url", pa.string()),
        ("project", pa.string()),
        ("file", pa.struct([("filename", pa.string()), ("project", pa.string()), ("version", pa.string()), ("type", pa.string())])),
        (
            "details",
            pa.struct(
                [
                    ("installer", pa.struct([("name", pa.string()), ("version", pa.string())])),
                    ("python", pa.string()),
                    ("implementation", pa.struct([("name", pa.string()), ("version", pa.string())])),
                    ("system", pa.struct([("name", pa.string()), ("release", pa.string())])),
                    ("cpu", pa.string()),
                    ("ci", pa.bool_()),
                ]
            ),
        ),
    ]
)


def utc(text: str) -> datetime:
    """'2024-02-29 23:59:59' -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Download:
    timestamp: str  # UTC, 'YYYY-MM-DD HH:MM:SS'
    project: str
    installer: str | None = "pip"
    ci: bool | None = False
    times: int = 1  # identical rows


@dataclass
class Commit:
    repo: str
    sha: str
    commit_author_date: str  # UTC
    ingestion_time: str | None = None  # default: author date + 1 hour
    author_id: str = "1"
    message: str = "change"


class FileDownloadsWriter:
    kind = "files"

    def __init__(self, root: Path):
        self.directory = root / "downloads"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()

    def write(self, rows: list[Download]) -> None:
        expanded = [r for r in rows for _ in range(r.times)]
        table = pa.Table.from_pylist(
            [
                {
                    "timestamp": utc(r.timestamp),
                    "country_code": "US",
                    "url": f"/packages/{r.project}-1.0-py3-none-any.whl",
                    "project": r.project,
                    "file": {"filename": f"{r.project}-1.0-py3-none-any.whl", "project": r.project, "version": "1.0", "type": "bdist_wheel"},
                    "details": {
                        "installer": None if r.installer is None else {"name": r.installer, "version": "24.0"},
                        "python": "3.11.7",
                        "implementation": {"name": "CPython", "version": "3.11.7"},
                        "system": {"name": "Linux", "release": "6.1"},
                        "cpu": "x86_64",
                        "ci": r.ci,
                    },
                }
                for r in expanded
            ],
            schema=DOWNLOAD_SCHEMA,
        )
        pq.write_table(table, self.directory / f"batch-{next(self._seq):04d}.parquet")

    def resource(self, installers: list[str], warehouse_path: str | None = None) -> FileInstallsSource:
        return FileInstallsSource(directory=str(self.directory), installers=installers, warehouse_path=warehouse_path)


class FileCommitsWriter:
    kind = "files"

    def __init__(self, root: Path):
        self.directory = root / "commits"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()

    def write(self, rows: list[Commit], as_csv: bool = False) -> None:
        records = [
            {
                "repo": c.repo,
                "sha": c.sha,
                "author_id": c.author_id,
                "commit_author_date": utc(c.commit_author_date),
                "commit_message": c.message,
                "repo_url": f"https://github.com/{c.repo}",
                "ingestion_time": utc(c.ingestion_time) if c.ingestion_time else utc(c.commit_author_date) + timedelta(hours=1),
            }
            for c in rows
        ]
        path = self.directory / f"batch-{next(self._seq):04d}"
        if as_csv:
            with path.with_suffix(".csv").open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(records[0]))
                writer.writeheader()
                for record in records:
                    writer.writerow({k: v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v for k, v in record.items()})
        else:
            pq.write_table(pa.Table.from_pylist(records), path.with_suffix(".parquet"))

    def resource(self, warehouse_path: str | None = None) -> FileCommitsSource:
        return FileCommitsSource(directory=str(self.directory), warehouse_path=warehouse_path)


DOWNLOAD_WRITERS = {"files": FileDownloadsWriter, **production_writers.DOWNLOAD_WRITERS}
COMMIT_WRITERS = {"files": FileCommitsWriter, **production_writers.COMMIT_WRITERS}


@dataclass
class Scenario:
    root: Path
    installs_kind: str = "files"
    commits_kind: str = "files"
    installers: list[str] = field(default_factory=lambda: ["pip"])

    def __post_init__(self):
        self.downloads = DOWNLOAD_WRITERS[self.installs_kind](self.root)
        self.commits = COMMIT_WRITERS[self.commits_kind](self.root)
        self.registry_path = self.root / "registry.csv"
        self.warehouse_path = self.root / "warehouse.duckdb"
        self.instance = dg.DagsterInstance.ephemeral()
        self.set_registry([])

    def set_registry(self, plugins: list[tuple[str, str]]) -> None:
        with self.registry_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "code_repository"])
            writer.writerows(plugins)

    def resources(self) -> dict:
        return {
            "warehouse": DuckDBWarehouse(path=str(self.warehouse_path)),
            "registry": PluginRegistry(csv_path=str(self.registry_path)),
            "installs_source": self.downloads.resource(self.installers, str(self.warehouse_path)),
            "commits_source": self.commits.resource(str(self.warehouse_path)),
        }

    def materialize(
        self, assets, first: str | None = None, last: str | None = None, raise_on_error: bool = True,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize `assets` (with their upstream assets given as inputs already landed) for a
        partition range [first, last] as one run, like a single-run backfill."""
        partitioned = any(a.partitions_def is not None for a in assets if isinstance(a, dg.AssetsDefinition))
        window = {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first} if first and partitioned else {}
        tags = (tags or {}) | window
        return dg.materialize(
            assets, resources=self.resources(), instance=self.instance, tags=tags, raise_on_error=raise_on_error
        )

    def query(self, sql: str, params=()) -> list[tuple]:
        with duckdb.connect(str(self.warehouse_path), read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql, params).fetchall()


def day(text: str) -> date:
    return date.fromisoformat(text)
