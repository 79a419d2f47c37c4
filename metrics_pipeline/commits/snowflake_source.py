"""Commit rows for the registry's repos, filtered and windowed inside Snowflake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from datetime import date

import pyarrow as pa

from metrics_pipeline.commits.sources import (
    COMMIT_COLUMNS,
    COMMIT_ROWS_SCHEMA,
    COMMITS_TABLE_SETTING,
    OPENING_ROWS_SCHEMA,
    CommitsSource,
)
from metrics_pipeline.resources.snowflake import (
    SnowflakeConnection,
    checked_identifier,
    naive_utc,
    run_query,
    stage_names,
)
from metrics_pipeline.landing.batch import Arrivals, DayFingerprint, SourceBatch, arrivals_after, fingerprints_for_window, ingestion_cursor, midnight

# The same cleaning the files source applies: blank repo/sha count as missing.
_CLEAN = """
    SELECT NULLIF(TRIM(repo), '') AS repo, NULLIF(TRIM(sha), '') AS sha,
           CAST(author_id AS VARCHAR) AS author_id, commit_author_date, commit_message,
           ingestion_time, repo_type
    FROM {table}
"""
_WANTED = "LOWER(repo) IN (SELECT name FROM metrics_wanted_repos) AND repo_type = 'plugin'"


def _missing_sha_and_days(con, source: str, where: str, params: list) -> tuple[int, list[tuple]]:
    """Wanted rows without a sha in `where`, and (day, rows, newest ingestion) of every row there."""
    missing_sha = run_query(con, f"SELECT COUNT(*) FROM {source} WHERE {where} AND sha IS NULL AND {_WANTED}", params)[0][0]
    found = run_query(
        con,
        f"SELECT CAST(commit_author_date AS DATE), COUNT(*), MAX(ingestion_time) FROM {source} WHERE {where} GROUP BY 1 ORDER BY 1",
        params,
    )
    return missing_sha, found


class SnowflakeCommitsSource(CommitsSource):
    """Rows of a commits table (`repo, sha, author_id, commit_author_date, commit_message,
    repo_url, ingestion_time, repo_type`) with `repo_type = 'plugin'`; dates are UTC."""

    setting: ClassVar[str] = COMMITS_TABLE_SETTING
    snowflake: SnowflakeConnection
    commits_table: str = "GITHUB_COMMITS"

    def _source(self) -> str:
        table = checked_identifier(self.commits_table, COMMITS_TABLE_SETTING)
        return f"({_CLEAN.format(table=table)}) AS c"

    def commits(self, start: date, end: date, repos: Sequence[str]) -> SourceBatch:
        source, window = self._source(), [midnight(start), midnight(end)]
        in_window = "commit_author_date >= ? AND commit_author_date < ?"
        with self.snowflake.connect() as con:
            stage_names(con, "metrics_wanted_repos", sorted({r.lower() for r in repos}))
            rows = run_query(
                con,
                f"SELECT {', '.join(COMMIT_COLUMNS)} FROM {source} "
                f"WHERE {in_window} AND sha IS NOT NULL AND {_WANTED} ORDER BY repo, sha",
                window,
            )
            missing_sha, found = _missing_sha_and_days(con, source, in_window, window)
        columns = list(zip(*rows)) if rows else [[] for _ in COMMIT_COLUMNS]
        data = {name: list(values) for name, values in zip(COMMIT_COLUMNS, columns)}
        for name in ("commit_author_date", "ingestion_time"):
            data[name] = [naive_utc(v) for v in data[name]]
        quarantined = {"missing sha": int(missing_sha)} if missing_sha else {}
        return SourceBatch(
            pa.table(data, schema=COMMIT_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (int(n), naive_utc(t)) for d, n, t in found}),
            quarantined,
        )

    def commits_before(self, before: date, repos: Sequence[str]) -> SourceBatch:
        source, until = self._source(), [midnight(before)]
        with self.snowflake.connect() as con:
            stage_names(con, "metrics_wanted_repos", sorted({r.lower() for r in repos}))
            counted = run_query(
                con,
                f"SELECT CAST(DATE_TRUNC('month', CAST(commit_author_date AS DATE)) AS DATE), LOWER(repo), "
                f"COUNT(DISTINCT sha), MAX(commit_author_date) FROM {source} "
                f"WHERE commit_author_date < ? AND sha IS NOT NULL AND {_WANTED} GROUP BY 1, 2 ORDER BY 1, 2",
                until,
            )
            missing_sha, found = _missing_sha_and_days(con, source, "commit_author_date < ?", until)
        rows = pa.table(
            {
                "month_start": [r[0] for r in counted],
                "repo_key": [r[1] for r in counted],
                "commit_count": [int(r[2]) for r in counted],
                "latest_commit_at": [naive_utc(r[3]) for r in counted],
            },
            schema=OPENING_ROWS_SCHEMA,
        )
        quarantined = {"missing sha": int(missing_sha)} if missing_sha else {}
        return SourceBatch(rows, [DayFingerprint(d, int(n), naive_utc(t)) for d, n, t in found], quarantined)

    def day_counts(self) -> dict[date, int]:
        with self.snowflake.connect() as con:
            found = run_query(
                con,
                f"SELECT CAST(commit_author_date AS DATE), COUNT(*) FROM {self._source()} "
                "WHERE commit_author_date IS NOT NULL GROUP BY 1",
            )
        return {day: int(n) for day, n in found}

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        seen = ingestion_cursor(cursor)
        where, params = ("AND ingestion_time > ?", [seen]) if seen else ("", [])
        with self.snowflake.connect() as con:
            found = run_query(
                con,
                f"SELECT CAST(commit_author_date AS DATE), MAX(ingestion_time) FROM {self._source()} "
                f"WHERE commit_author_date IS NOT NULL AND ingestion_time IS NOT NULL {where} GROUP BY 1",
                params,
            )
        return arrivals_after(seen, {day: naive_utc(at) for day, at in found})

    def days_with_commits(self, repos: Sequence[str]) -> set[date]:
        if not repos:
            return set()
        with self.snowflake.connect() as con:
            stage_names(con, "metrics_wanted_repos", sorted({r.lower() for r in repos}))
            found = run_query(
                con,
                f"SELECT DISTINCT CAST(commit_author_date AS DATE) FROM {self._source()} "
                f"WHERE commit_author_date IS NOT NULL AND sha IS NOT NULL AND {_WANTED}",
            )
        return {row[0] for row in found}
