"""Where commit rows come from: the interface every commits source implements, and the files one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa

from metrics_pipeline.landing.batch import Arrivals, DayFingerprint, SourceBatch, fingerprints_for_window, midnight
from metrics_pipeline.landing.files import (
    DayRanges,
    FileCatalog,
    SourceFile,
    file_arrivals,
    list_source_files,
    scratch_connection,
)

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

# The opening balance: commits authored before the first partition, per month and lower(repo).
OPENING_ROWS_SCHEMA = pa.schema(
    [
        ("month_start", pa.date32()),
        ("repo_key", pa.string()),  # lower(owner/name)
        ("commit_count", pa.int64()),  # distinct shas
        ("latest_commit_at", pa.timestamp("us")),  # UTC
    ]
)


class CommitsSource(dg.ConfigurableResource, ABC):
    """Commit rows for a window of author dates, filtered to the registry's repos in the source."""

    @abstractmethod
    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        """Commits authored (UTC) in [start, end) in `repos` (case-insensitive), as
        COMMIT_ROWS_SCHEMA, plus a fingerprint of every day in the window."""

    @abstractmethod
    def commits_before(self, before: date, repos: Sequence[str]) -> SourceBatch:
        """Commits authored (UTC) before `before` in `repos`, per month and repo (OPENING_ROWS_SCHEMA),
        plus a fingerprint of every such day that has rows: the history before the first partition."""

    @abstractmethod
    def day_counts(self) -> dict[date, int]:
        """Source rows per UTC author day over all history, counted as fingerprints count them."""

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

    def _in_window(self, start: date | None, end: date) -> duckdb.DuckDBPyConnection | None:
        """A scratch connection holding `in_window`: the rows authored in [start, end) (None: no files)."""
        files = FileCatalog("commits", self.directory).overlapping(self._files(), start or date.min, end, self._day_ranges)
        if not files:
            return None
        con = scratch_connection(files)
        self._load(con, files)
        after = "" if start is None else "commit_author_date >= $start AND"
        con.execute(
            f"CREATE TEMP TABLE in_window AS SELECT * FROM commit_rows WHERE {after} commit_author_date < $end",
            {"end": midnight(end)} | ({} if start is None else {"start": midnight(start)}),
        )
        return con

    _FINGERPRINTS = "SELECT CAST(commit_author_date AS DATE), count(*), max(arrived_at) FROM in_window GROUP BY 1 ORDER BY 1"
    _MISSING_SHA = "SELECT count(*) FROM in_window WHERE sha IS NULL AND list_contains($repos, lower(repo))"

    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        con = self._in_window(start, end)
        if con is None:
            return SourceBatch(COMMIT_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}))
        wanted = {"repos": [r.lower() for r in repos]}
        with con:
            rows = con.sql(
                f"SELECT {', '.join(COMMIT_COLUMNS)} FROM in_window "
                "WHERE sha IS NOT NULL AND list_contains($repos, lower(repo)) ORDER BY ALL",
                params=wanted,
            ).to_arrow_table()
            missing_sha = con.execute(self._MISSING_SHA, wanted).fetchall()[0][0]
            found = con.execute(self._FINGERPRINTS).fetchall()
        return SourceBatch(
            rows.cast(COMMIT_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (n, t) for d, n, t in found}),
            {"missing sha": missing_sha} if missing_sha else {},
        )

    def commits_before(self, before: date, repos: Sequence[str]) -> SourceBatch:
        con = self._in_window(None, before)
        if con is None:
            return SourceBatch(OPENING_ROWS_SCHEMA.empty_table(), [])
        wanted = {"repos": [r.lower() for r in repos]}
        with con:
            rows = con.sql(
                """
                SELECT CAST(date_trunc('month', commit_author_date) AS DATE), lower(repo),
                       count(DISTINCT sha)::BIGINT, max(commit_author_date)
                FROM in_window WHERE sha IS NOT NULL AND list_contains($repos, lower(repo))
                GROUP BY 1, 2 ORDER BY 1, 2
                """,
                params=wanted,
            ).to_arrow_table()
            missing_sha = con.execute(self._MISSING_SHA, wanted).fetchall()[0][0]
            found = con.execute(self._FINGERPRINTS).fetchall()
        return SourceBatch(
            rows.rename_columns(OPENING_ROWS_SCHEMA.names).cast(OPENING_ROWS_SCHEMA),
            [DayFingerprint(d, n, t) for d, n, t in found],
            {"missing sha": missing_sha} if missing_sha else {},
        )

    def day_counts(self) -> dict[date, int]:
        files = self._files()
        if not files:
            return {}
        with scratch_connection(files) as con:
            self._load(con, files)
            return dict(
                con.execute(
                    "SELECT CAST(commit_author_date AS DATE), count(*) FROM commit_rows "
                    "WHERE commit_author_date IS NOT NULL GROUP BY 1"
                ).fetchall()
            )

    def _newest_by_day(self, files: list[SourceFile]) -> dict:
        with scratch_connection(files) as con:
            self._load(con, files)
            return dict(
                con.execute(
                    "SELECT CAST(commit_author_date AS DATE), max(arrived_at) FROM commit_rows "
                    "WHERE commit_author_date IS NOT NULL GROUP BY 1"
                ).fetchall()
            )

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        return file_arrivals(self._files(), cursor, self._newest_by_day)

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
