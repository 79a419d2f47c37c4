"""Where commit rows come from: the interface every commits source implements, and the files one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa

from metrics_pipeline.landing.batch import (
    Arrivals,
    DayFingerprint,
    SourceBatch,
    fingerprints_for_window,
    future_cutoff,
    midnight,
)
from metrics_pipeline.landing.catalog import FileCatalog, FileProblem, Measured, Selection
from metrics_pipeline.landing.files import SourceFile, file_arrivals, list_source_files, scratch_connection

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


COMMITS_DIR_SETTING = "METRICS_COMMITS_DIR"
COMMITS_TABLE_SETTING = "METRICS_SNOWFLAKE_COMMITS_TABLE"


class CommitsSource(dg.ConfigurableResource, ABC):
    """Commit rows for a window of author dates, filtered to the registry's repos in the source."""

    setting: ClassVar[str]  # the setting that points at this source, for errors a user can act on
    max_drop_fraction: float = 0.5  # METRICS_SOURCE_MAX_DROP: share of landed rows a window may lose

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

    setting: ClassVar[str] = COMMITS_DIR_SETTING
    directory: str
    warehouse_path: str | None = None  # the file catalog (what each file held) lives beside the warehouse

    def _files(self) -> list[SourceFile]:
        return list_source_files(self.directory, (".parquet", ".csv"), self.setting)

    _REQUIRED = ("repo", "sha", "commit_author_date")

    def _load(self, con: duckdb.DuckDBPyConnection, files: list[SourceFile]) -> set[str]:
        """Stage the files as text in `commit_text`, then parse into `commit_rows` (bad dates -> NULL);
        returns the columns the files have (a column none has is NULL)."""
        readers = {
            "parquet": ("read_parquet($files, filename = true, union_by_name = true)", [f.path for f in files if f.path.lower().endswith(".parquet")]),
            "csv": (
                "read_csv($files, filename = true, union_by_name = true, all_varchar = true, header = true)",
                [f.path for f in files if f.path.lower().endswith(".csv")],
            ),
        }
        con.execute(f"CREATE TEMP TABLE commit_text (filename VARCHAR, {', '.join(c + ' VARCHAR' for c in COMMIT_COLUMNS)})")
        present: set[str] = set()
        for reader, paths in readers.values():
            if not paths:
                continue
            found = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}", {"files": paths}).fetchall()}
            present |= found
            text = ", ".join(f"CAST({c} AS VARCHAR)" if c in found else "NULL" for c in COMMIT_COLUMNS)
            con.execute(f"INSERT INTO commit_text SELECT filename, {text} FROM {reader}", {"files": paths})
        con.execute(
            """
            CREATE TEMP TABLE commit_rows AS
            SELECT t.filename, f.arrived_at, nullif(trim(t.repo), '') AS repo, nullif(trim(t.sha), '') AS sha,
                   t.author_id, nullif(trim(t.commit_author_date), '') AS author_date_text,
                   CAST(TRY_CAST(t.commit_author_date AS TIMESTAMPTZ) AS TIMESTAMP) AS commit_author_date,
                   t.commit_message,
                   CAST(TRY_CAST(t.ingestion_time AS TIMESTAMPTZ) AS TIMESTAMP) AS ingestion_time
            FROM commit_text t JOIN source_files f USING (filename)
            """
        )
        return present

    def _measure(self, f: SourceFile) -> Measured:
        """One file on its own: readable, the required columns, its event days, its unusable rows."""
        with scratch_connection([f]) as con:
            try:
                present = self._load(con, [f])
            except duckdb.Error as error:
                raise FileProblem(str(error).strip().splitlines()[0][:300]) from None
            missing = [c for c in self._REQUIRED if c not in present]
            if missing:
                raise FileProblem(f"lacks column(s) {', '.join(missing)}")
            first, last, undated, unparsed, future, example = con.execute(
                """
                SELECT min(commit_author_date)::DATE, max(commit_author_date)::DATE,
                       count(*) FILTER (WHERE author_date_text IS NULL),
                       count(*) FILTER (WHERE author_date_text IS NOT NULL AND commit_author_date IS NULL),
                       count(*) FILTER (WHERE commit_author_date > ?),
                       any_value(author_date_text) FILTER (WHERE author_date_text IS NOT NULL AND commit_author_date IS NULL)
                FROM commit_rows
                """,
                [future_cutoff()],
            ).fetchall()[0]
        reasons = (("no commit_author_date", undated), ("unparseable commit_author_date", unparsed),
                   ("commit_author_date in the future", future))
        samples = {"unparseable commit_author_date": f"{f.path}: {example!r}"} if unparsed else {}
        return Measured(None if first is None else (first, last), {r: n for r, n in reasons if n}, samples)

    def _select(self, start: date, end: date) -> Selection:
        return FileCatalog("commits", self.directory, self.warehouse_path).select(self._files(), start, end, self._measure)

    def window_files(self, start: date, end: date) -> list[str]:
        """The readable files that can hold days of [start, end) (each identical file once)."""
        return [f.path for f in self._select(start, end).files]

    @contextmanager
    def _in_window(self, start: date | None, end: date) -> Iterator[tuple[duckdb.DuckDBPyConnection | None, Selection]]:
        """A scratch connection holding `in_window`: the rows authored in [start, end) (None: no files)."""
        selection = self._select(start or date.min, end)
        files = selection.files
        if not files:
            yield None, selection
            return
        with scratch_connection(files) as con:
            self._load(con, files)
            after = "" if start is None else "commit_author_date >= $start AND"
            con.execute(
                f"CREATE TEMP TABLE in_window AS SELECT * FROM commit_rows WHERE {after} commit_author_date < $end",
                {"end": midnight(end)} | ({} if start is None else {"start": midnight(start)}),
            )
            yield con, selection

    _FINGERPRINTS = "SELECT CAST(commit_author_date AS DATE), count(*), max(arrived_at) FROM in_window GROUP BY 1 ORDER BY 1"
    _MISSING_SHA = "SELECT count(*) FROM in_window WHERE sha IS NULL AND list_contains($repos, lower(repo))"

    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        wanted = {"repos": [r.lower() for r in repos]}
        with self._in_window(start, end) as (con, selection):
            if con is None:
                return SourceBatch(COMMIT_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}),
                                   dict(selection.dropped), selection)
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
            selection.dropped | ({"missing sha": missing_sha} if missing_sha else {}),
            selection,
        )

    def commits_before(self, before: date, repos: Sequence[str]) -> SourceBatch:
        wanted = {"repos": [r.lower() for r in repos]}
        with self._in_window(None, before) as (con, selection):
            if con is None:
                return SourceBatch(OPENING_ROWS_SCHEMA.empty_table(), [], dict(selection.dropped), selection)
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
            selection.dropped | ({"missing sha": missing_sha} if missing_sha else {}),
            selection,
        )

    def _per_day(self, files: list[SourceFile], value: str) -> dict:
        """`value`, an aggregate over these files' rows (`arrived_at`: the file's mtime), per author day."""
        if not files:
            return {}
        with scratch_connection(files) as con:
            self._load(con, files)
            return dict(
                con.execute(
                    f"SELECT CAST(commit_author_date AS DATE), {value} FROM commit_rows "
                    "WHERE commit_author_date IS NOT NULL GROUP BY 1"
                ).fetchall()
            )

    def day_counts(self) -> dict[date, int]:
        return self._per_day(self._select(date.min, date.max).files, "count(*)")

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        files = self._files()
        usable = {f.path for f in FileCatalog("commits", self.directory, self.warehouse_path).usable(files, self._measure)}
        return file_arrivals(files, cursor, lambda new: self._per_day([f for f in new if f.path in usable], "max(arrived_at)"))

    def days_with_commits(self, repos: Sequence[str]) -> set[date]:
        files = self._select(date.min, date.max).files
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
