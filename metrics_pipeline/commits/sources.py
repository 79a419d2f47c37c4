"""Where commit rows come from: the interface every commits source implements, and the files one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa

from metrics_pipeline.landing.files import (
    DayRanges,
    FileCatalog,
    SourceFile,
    list_source_files,
    mtime_cursor,
    new_mtime_cursor,
    scratch_connection,
)
from metrics_pipeline.landing.batch import Arrivals, SourceBatch, fingerprints_for_window, midnight

# Columns of SourceBatch.rows for commits: source rows whose repo matches a requested repo
# case-insensitively, `repo` as the source spells it (the warehouse maps it to the registry's).
COMMIT_ROWS_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("sha", pa.string()),
        ("author_id", pa.string()),
        ("commit_author_date", pa.timestamp("us")),  # UTC
        ("commit_message", pa.string()),
        ("ingestion_time", pa.timestamp("us")),  # UTC
    ]
)
COMMIT_COLUMNS = [f.name for f in COMMIT_ROWS_SCHEMA]


class CommitsSource(dg.ConfigurableResource, ABC):
    """Commit rows for a window of author dates, filtered to the registry's repos in the source."""

    @abstractmethod
    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        """Commits authored (UTC) in [start, end) in `repos` (case-insensitive), as
        COMMIT_ROWS_SCHEMA, plus a fingerprint of every day in the window."""

    @abstractmethod
    def arrivals_since(self, cursor: str | None) -> Arrivals:
        """Days that rows arriving after `cursor` belong to, looking only at those rows."""

    @abstractmethod
    def days_with_commits(self, repos: Sequence[str]) -> set[date]:
        """Every day with a commit in these repos (used when the registry adds them)."""


class FileCommitsSource(CommitsSource):
    """Parquet or CSV files (`repo, sha, author_id, commit_author_date, commit_message,
    repo_url, ingestion_time`) anywhere below `directory`; a file arrives at its mtime."""

    directory: str

    def _files(self) -> list[SourceFile]:
        return list_source_files(self.directory, (".parquet", ".csv"), "METRICS_COMMITS_DIR")

    def _load(self, con: duckdb.DuckDBPyConnection, files: list[SourceFile]) -> None:
        """Stage the files as text in `commit_text`, then parse into `commit_rows` (bad dates -> NULL)."""
        parquet = [f.path for f in files if f.path.lower().endswith(".parquet")]
        csv = [f.path for f in files if f.path.lower().endswith(".csv")]
        text_columns = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in [*COMMIT_COLUMNS])
        con.execute(f"CREATE TEMP TABLE commit_text (filename VARCHAR, {', '.join(c + ' VARCHAR' for c in COMMIT_COLUMNS)})")
        if parquet:
            con.execute(
                f"INSERT INTO commit_text SELECT filename, {text_columns} "
                "FROM read_parquet($files, filename = true, union_by_name = true)",
                {"files": parquet},
            )
        if csv:
            con.execute(
                f"INSERT INTO commit_text SELECT filename, {text_columns} "
                "FROM read_csv($files, filename = true, union_by_name = true, all_varchar = true, header = true)",
                {"files": csv},
            )
        con.execute(
            """
            CREATE TEMP TABLE commit_rows AS
            SELECT t.filename, f.arrived_at, nullif(trim(t.repo), '') AS repo, nullif(trim(t.sha), '') AS sha,
                   t.author_id,
                   CAST(TRY_CAST(t.commit_author_date AS TIMESTAMPTZ) AS TIMESTAMP) AS commit_author_date,
                   t.commit_message,
                   CAST(TRY_CAST(t.ingestion_time AS TIMESTAMPTZ) AS TIMESTAMP) AS ingestion_time
            FROM commit_text t JOIN source_files f USING (filename)
            """
        )

    def _day_ranges(self, files: list[SourceFile]) -> DayRanges:
        with scratch_connection(files) as con:
            self._load(con, files)
            rows = con.execute(
                "SELECT filename, min(CAST(commit_author_date AS DATE)), max(CAST(commit_author_date AS DATE)) "
                "FROM commit_rows WHERE commit_author_date IS NOT NULL GROUP BY filename"
            ).fetchall()
        return {path: (first, last) for path, first, last in rows}

    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        files = FileCatalog("commits", self.directory).overlapping(self._files(), start, end, self._day_ranges)
        if not files:
            return SourceBatch(COMMIT_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}))
        window = {
            "start": midnight(start),
            "end": midnight(end),
        }
        with scratch_connection(files) as con:
            self._load(con, files)
            con.execute(
                "CREATE TEMP TABLE in_window AS SELECT * FROM commit_rows "
                "WHERE commit_author_date >= $start AND commit_author_date < $end",
                window,
            )
            wanted = {"repos": [r.lower() for r in repos]}
            rows = con.sql(
                f"SELECT {', '.join(COMMIT_COLUMNS)} FROM in_window "
                "WHERE sha IS NOT NULL AND list_contains($repos, lower(repo)) ORDER BY ALL",
                params=wanted,
            ).to_arrow_table()
            missing_sha = con.execute(
                "SELECT count(*) FROM in_window WHERE sha IS NULL AND list_contains($repos, lower(repo))",
                wanted,
            ).fetchall()[0][0]
            found = con.execute(
                "SELECT CAST(commit_author_date AS DATE), count(*), max(arrived_at) FROM in_window GROUP BY 1"
            ).fetchall()
        quarantined = {"missing sha": missing_sha} if missing_sha else {}
        return SourceBatch(
            rows.cast(COMMIT_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (n, t) for d, n, t in found}),
            quarantined,
        )

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        seen = mtime_cursor(cursor)
        files = self._files()
        new = [f for f in files if f.mtime_ns > seen]
        newest: dict = {}
        if new:
            with scratch_connection(new) as con:
                self._load(con, new)
                newest = dict(
                    con.execute(
                        "SELECT CAST(commit_author_date AS DATE), max(arrived_at) FROM commit_rows "
                        "WHERE commit_author_date IS NOT NULL GROUP BY 1"
                    ).fetchall()
                )
        return Arrivals(newest, new_mtime_cursor(files, seen))

    def days_with_commits(self, repos: Sequence[str]) -> set[date]:
        files = self._files()
        if not files or not repos:
            return set()
        with scratch_connection(files) as con:
            self._load(con, files)
            found = con.execute(
                "SELECT DISTINCT CAST(commit_author_date AS DATE) FROM commit_rows "
                "WHERE commit_author_date IS NOT NULL AND sha IS NOT NULL AND list_contains($repos, lower(repo))",
                {"repos": [r.lower() for r in repos]},
            ).fetchall()
        return {row[0] for row in found}
