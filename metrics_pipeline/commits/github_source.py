"""Commits from the GitHub API: the source that reads what the `github_commits` landing asset
appended to the warehouse (the client itself is `metrics_pipeline.resources.github`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from metrics_pipeline.commits.sources import COMMIT_COLUMNS, COMMIT_ROWS_SCHEMA, CommitsSource
from metrics_pipeline.landing.batch import Arrivals, SourceBatch, arrivals_after, fingerprints_for_window, ingestion_cursor, midnight
from metrics_pipeline.resources.warehouse import DuckDBWarehouse


class GitHubCommitsSource(CommitsSource):
    """Commits landed from the GitHub API (`github_commits` asset), read from the warehouse;
    a commit arrives when it was first landed, whatever its author date."""

    warehouse_path: str  # the warehouse the landing asset appends to (METRICS_WAREHOUSE_PATH)

    @property
    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(path=self.warehouse_path)

    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        window = {"start": midnight(start), "end": midnight(end)}
        with self.warehouse.connect() as con:
            in_window = "FROM github_commits_landing WHERE commit_author_date >= $start AND commit_author_date < $end"
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

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        seen = ingestion_cursor(cursor)
        with self.warehouse.connect() as con:
            newest = dict(
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
        with self.warehouse.connect() as con:
            found = con.execute(
                "SELECT DISTINCT CAST(commit_author_date AS DATE) FROM github_commits_landing "
                "WHERE list_contains($repos, lower(repo))",
                {"repos": [r.lower() for r in repos]},
            ).fetchall()
        return {row[0] for row in found}
