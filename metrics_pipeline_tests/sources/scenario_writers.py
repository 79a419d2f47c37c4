"""Scenario writers for the production source kinds: the same hand-made rows, landed in fakesnow
(installs, commits) or served by the GitHub stub and landed by the `github_commits` asset.

Rows are duck-typed `scenario.Download` / `scenario.Commit`; writers take the scenario's root
and read its registry and warehouse paths when they need them.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.commits.github_assets import github_commits
from metrics_pipeline.commits.github_source import GitHubCommitsSource
from metrics_pipeline.resources.github import GitHubApi
from metrics_pipeline.commits.snowflake_source import SnowflakeCommitsSource
from metrics_pipeline.installs.snowflake_source import SnowflakeInstallsSource
from metrics_pipeline_tests.support import fakesnow
from metrics_pipeline_tests.support.github_stub import GitHubStub
from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse


def _utc(text: str | None) -> datetime | None:
    """'YYYY-MM-DD HH:MM:SS' (UTC) -> naive UTC; unparsable text -> None, like the files source."""
    try:
        return datetime.fromisoformat(text.replace("Z", "")) if text else None
    except ValueError:
        return None


def _database(root: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)  # the scenario writes its registry and warehouse here
    return "S" + hashlib.sha1(str(root).encode()).hexdigest()[:16].upper()


class _Arrivals:
    """Strictly increasing arrival times, so each write is newer than the last (like file mtimes)."""

    def __init__(self):
        self._last = datetime.min

    def next(self) -> datetime:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        self._last = max(now, self._last + timedelta(microseconds=1))
        return self._last


class SnowflakeDownloadsWriter:
    """Downloads as rows of the labeled view: CI -> 'ci', unknown installer -> 'unknown', else the installer."""

    kind = "snowflake"

    def __init__(self, root: Path):
        server = fakesnow.shared_fakesnow()
        self.connection = fakesnow.fakesnow_connection(server.port, _database(root))
        fakesnow.create_source_tables(self.connection)
        self._arrivals = _Arrivals()

    def write(self, rows) -> None:
        arrived = self._arrivals.next()
        fakesnow.insert_rows(
            self.connection,
            "PYPI_DOWNLOADS",
            fakesnow.DOWNLOAD_COLUMNS,
            [
                (r.project, _utc(r.timestamp), "ci" if r.ci else (r.installer or "unknown"), "plugin", arrived)
                for r in rows
                for _ in range(r.times)
            ],
        )

    def resource(self, installers: list[str], warehouse_path: str | None = None) -> SnowflakeInstallsSource:
        return SnowflakeInstallsSource(snowflake=self.connection, download_types=list(installers))


class SnowflakeCommitsWriter:
    """Commits as rows of the commits table; a write's ingestion_time is when it was written."""

    kind = "snowflake"

    def __init__(self, root: Path):
        server = fakesnow.shared_fakesnow()
        self.connection = fakesnow.fakesnow_connection(server.port, _database(root))
        fakesnow.create_source_tables(self.connection)
        self._arrivals = _Arrivals()

    def write(self, rows, as_csv: bool = False) -> None:
        arrived = self._arrivals.next()
        fakesnow.insert_rows(
            self.connection,
            "GITHUB_COMMITS",
            fakesnow.COMMIT_COLUMNS,
            [
                (c.repo, c.sha, c.author_id, _utc(c.commit_author_date), c.message,
                 f"https://github.com/{c.repo}", arrived, "plugin")
                for c in rows
            ],
        )

    def resource(self, warehouse_path: str | None = None) -> SnowflakeCommitsSource:
        return SnowflakeCommitsSource(snowflake=self.connection)


_stub: GitHubStub | None = None
_stub_lock = threading.Lock()


def shared_github_stub() -> GitHubStub:
    """One in-thread stub per test process; each GitHub writer starts it afresh with no repos."""
    global _stub
    with _stub_lock:
        if _stub is None:
            _stub = GitHubStub().start()
        return _stub


class GitHubCommitsWriter:
    """Commits served by the stub (committed at their ingestion time, default author date + 1h),
    then landed at once by the real `github_commits` asset for the days they were committed."""

    kind = "github"

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.stub = shared_github_stub()
        self.stub.repos.clear()
        self.stub.requests.clear()
        self.warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
        self.instance = dg.DagsterInstance.ephemeral()  # landing runs stay out of the scenario's instance
        self._committed_days = []

    def write(self, rows, as_csv: bool = False) -> None:
        committed_days = self._committed_days
        for c in rows:
            authored = _utc(c.commit_author_date)
            if not c.sha or authored is None:  # GitHub has no commit without a sha or a date
                continue
            committed = _utc(c.ingestion_time) or authored + timedelta(hours=1)
            author_id = int(c.author_id) if str(c.author_id or "").isdigit() else None
            self.stub.add_commit(
                c.repo, c.sha, authored.isoformat() + "Z", committed.isoformat() + "Z",
                message=c.message, author_id=author_id,
            )
            committed_days.append(committed.date())
        assert self._sync(), "landing the written commits failed"

    def _sync(self) -> bool:
        """Land every committer day written so far (repos new to the registry: full history); days
        before the first partition are fetched with the full history of their repo."""
        days = [max(day, FIRST_DAY) for day in self._committed_days]
        return not days or self.land(min(days).isoformat(), max(days).isoformat()).success

    def land(self, first: str, last: str) -> dg.ExecuteInProcessResult:
        """Run the landing asset for committer days [first, last] as one run, like a backfill."""
        api = GitHubApi(token="scenario", base_url=self.stub.base_url, seconds_between_requests=0, backoff_factor=0.05)
        return dg.materialize(
            [github_commits],
            instance=self.instance,
            raise_on_error=False,
            tags={PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last},
            resources={
                "github": api,
                "registry": PluginRegistry(csv_path=str(self.root / "registry.csv")),
                "warehouse": self.warehouse,
            },
        )

    def resource(self, warehouse_path: str | None = None) -> GitHubCommitsSource:
        self._sync()  # before each scenario run: land repos the registry gained (a failure shows in that run)
        return GitHubCommitsSource(warehouse_path=self.warehouse.path)


DOWNLOAD_WRITERS = {"snowflake": SnowflakeDownloadsWriter}
COMMIT_WRITERS = {"snowflake": SnowflakeCommitsWriter, "github": GitHubCommitsWriter}
