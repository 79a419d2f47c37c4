"""Commits from the GitHub API: the source that reads what the `github_commits` landing asset
appended to the warehouse (the client itself is `metrics_pipeline.resources.github`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar

import duckdb

from metrics_pipeline.commits.sources import COMMIT_COLUMNS, COMMIT_ROWS_SCHEMA, OPENING_ROWS_SCHEMA, CommitsSource
from metrics_pipeline.landing.batch import Arrivals, DayFingerprint, SourceBatch, arrivals_after, fingerprints_for_window, ingestion_cursor, midnight
from metrics_pipeline.resources.warehouse import DuckDBWarehouse


class GitHubCommitsSource(CommitsSource):
    """Commits landed from the GitHub API (`github_commits` asset), read from the warehouse;
    a commit arrives when it was first landed, whatever its author date."""

    setting: ClassVar[str] = "METRICS_COMMITS_SOURCE=github (the github_commits landing)"
    warehouse_path: str  # the warehouse the landing asset appends to (METRICS_WAREHOUSE_PATH)
    lock_wait_seconds: float = 20.0  # sensors share this bound: they never wait out a run

    @contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """Read-only: this source never writes, so a sensor using it never takes the write lock."""
        if not Path(self.warehouse_path).exists():
            yield None
            return
        with DuckDBWarehouse(path=self.warehouse_path).connect(read_only=True, lock_wait_seconds=self.lock_wait_seconds) as con:
            yield con

    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        window = {"start": midnight(start), "end": midnight(end)}
        in_window = "FROM github_commits_landing WHERE commit_author_date >= $start AND commit_author_date < $end"
        with self._read() as con:
            if con is None:
                return SourceBatch(COMMIT_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}))
            rows = con.sql(
                f"SELECT {', '.join(COMMIT_COLUMNS)} {in_window} AND list_contains($repos, lower(repo)) ORDER BY repo, sha",
                params=window | {"repos": [r.lower() for r in repos]},
            ).to_arrow_table()
            found = con.execute(
                f"SELECT CAST(commit_author_date AS DATE), count(*), max(ingestion_time) {in_window} GROUP BY 1", window
            ).fetchall()
        return SourceBatch(
            rows.cast(COMMIT_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (n, t) for d, n, t in found}),
        )

    def commits_before(self, before: date, repos: Sequence[str]) -> SourceBatch:
        until = {"end": midnight(before)}
        with self._read() as con:
            if con is None:
                return SourceBatch(OPENING_ROWS_SCHEMA.empty_table(), [])
            rows = con.sql(
                """
                SELECT CAST(date_trunc('month', commit_author_date) AS DATE), lower(repo),
                       count(DISTINCT sha)::BIGINT, max(commit_author_date)
                FROM github_commits_landing
                WHERE commit_author_date < $end AND list_contains($repos, lower(repo))
                GROUP BY 1, 2 ORDER BY 1, 2
                """,
                params=until | {"repos": [r.lower() for r in repos]},
            ).to_arrow_table()
            found = con.execute(
                "SELECT CAST(commit_author_date AS DATE), count(*), max(ingestion_time) FROM github_commits_landing "
                "WHERE commit_author_date < $end GROUP BY 1 ORDER BY 1",
                until,
            ).fetchall()
        return SourceBatch(
            rows.rename_columns(OPENING_ROWS_SCHEMA.names).cast(OPENING_ROWS_SCHEMA),
            [DayFingerprint(d, n, t) for d, n, t in found],
        )

    def day_counts(self) -> dict[date, int]:
        with self._read() as con:
            if con is None:
                return {}
            return dict(
                con.execute(
                    "SELECT CAST(commit_author_date AS DATE), count(*) FROM github_commits_landing GROUP BY 1"
                ).fetchall()
            )

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        seen = ingestion_cursor(cursor)
        with self._read() as con:
            newest = {} if con is None else dict(
                con.execute(
                    "SELECT CAST(commit_author_date AS DATE), max(ingestion_time) FROM github_commits_landing "
                    "WHERE ingestion_time > $seen GROUP BY 1",
                    {"seen": seen or datetime.min},
                ).fetchall()
            )
        return arrivals_after(seen, newest)

    def days_with_commits(self, repos: Sequence[str]) -> set[date]:
        if not repos:
            return set()
        with self._read() as con:
            if con is None:
                return set()
            found = con.execute(
                "SELECT DISTINCT CAST(commit_author_date AS DATE) FROM github_commits_landing "
                "WHERE list_contains($repos, lower(repo))",
                {"repos": [r.lower() for r in repos]},
            ).fetchall()
        return {row[0] for row in found}
