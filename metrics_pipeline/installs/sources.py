"""Where install rows come from: the interface every installs source implements, and the files one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

import dagster as dg
import pyarrow as pa

from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
from metrics_pipeline.landing.batch import Arrivals, DayFingerprint, SourceBatch, fingerprints_for_window, midnight
from metrics_pipeline.landing.files import (
    DayRanges,
    FileCatalog,
    SourceFile,
    file_arrivals,
    list_source_files,
    scratch_connection,
)

# Columns of SourceBatch.rows for installs; one row per group of qualifying downloads.
INSTALL_ROWS_SCHEMA = pa.schema(
    [
        ("download_day", pa.date32()),
        ("plugin_name", pa.string()),  # PEP 503-normalized
        ("installer_name", pa.string()),
        ("download_count", pa.int64()),
    ]
)


# Columns of the opening balance: qualifying downloads before the first partition, per month.
OPENING_ROWS_SCHEMA = pa.schema(
    [("month_start", pa.date32()), ("plugin_name", pa.string()), ("install_count", pa.int64())]
)


class InstallsSource(dg.ConfigurableResource, ABC):
    """Counts qualifying downloads per day inside the source's own engine; only aggregates leave it."""

    @abstractmethod
    def install_counts(self, start: date, end: date, plugin_names: Sequence[str]) -> SourceBatch:
        """Qualifying downloads with UTC day in [start, end) for these (normalized) plugins,
        grouped as INSTALL_ROWS_SCHEMA, plus a fingerprint of every day in the window."""

    @abstractmethod
    def install_counts_before(self, before: date, plugin_names: Sequence[str]) -> SourceBatch:
        """Qualifying downloads with UTC day before `before`, per month (OPENING_ROWS_SCHEMA), plus a
        fingerprint of every such day that has rows: the history before the first partition."""

    @abstractmethod
    def day_counts(self) -> dict[date, int]:
        """Source rows per UTC day over all history, counted as fingerprints count them: the daily
        reconciliation that notices removals no arrival time shows."""

    @abstractmethod
    def arrivals_since(self, cursor: str | None) -> Arrivals:
        """Days that rows arriving after `cursor` belong to, looking only at those rows."""

    @abstractmethod
    def days_with_downloads(self, plugin_names: Sequence[str]) -> set[date]:
        """Every day with a qualifying download of these plugins (used when the registry adds them)."""


class FileInstallsSource(InstallsSource):
    """Parquet files in the BigQuery `pypi.file_downloads` schema, anywhere below `directory`.

    A file's arrival time is its modification time; DuckDB prunes row groups on `timestamp`.
    """

    directory: str
    installers: list[str] = ["pip"]

    _SUFFIXES = (".parquet",)
    _SETTING = "METRICS_DOWNLOADS_DIR"

    def _files(self):
        return list_source_files(self.directory, self._SUFFIXES, self._SETTING)

    def _day_ranges(self, files: list[SourceFile]) -> DayRanges:
        with scratch_connection(files) as con:
            rows = con.execute(
                "SELECT filename, min(CAST(timestamp AS DATE)), max(CAST(timestamp AS DATE)) "
                "FROM read_parquet($files, filename = true, union_by_name = true) "
                "WHERE timestamp IS NOT NULL GROUP BY filename",
                {"files": [f.path for f in files]},
            ).fetchall()
        return {path: (first, last) for path, first, last in rows}

    # Every dated download row of the files, with the counting rules applied as columns.
    _DOWNLOAD_ROWS = """
        SELECT CAST(timestamp AS DATE) AS download_day, filename,
               regexp_replace(lower(file.project), $pattern, '-', 'g') AS plugin_name,
               details.installer.name AS installer_name,
               coalesce(list_contains($installers, details.installer.name), false)
                 AND details.ci IS NOT TRUE AS countable
        FROM read_parquet($files, filename = true, union_by_name = true)
        WHERE timestamp IS NOT NULL
    """

    def _params(self, files: list[SourceFile]) -> dict:
        return {"files": [f.path for f in files], "installers": list(self.installers), "pattern": NORMALIZE_SQL_PATTERN}

    _BY_DAY = "download_day, plugin_name, installer_name"
    _BY_MONTH = "CAST(date_trunc('month', download_day) AS DATE) AS month_start, plugin_name"

    def _counted(self, start: date | None, end: date, plugin_names: Sequence[str], groups: str) -> tuple[pa.Table, list]:
        """Qualifying downloads in [start, end) counted per `groups` (_BY_DAY or _BY_MONTH), and
        (day, source rows, newest arrival) for every day with rows."""
        files = FileCatalog("downloads", self.directory).overlapping(self._files(), start or date.min, end, self._day_ranges)
        if not files:
            return pa.table({}), []
        after = "" if start is None else "AND timestamp >= $start"
        bounds = {"end": midnight(end)} | ({} if start is None else {"start": midnight(start)})
        with scratch_connection(files) as con:
            con.execute(
                f"CREATE TEMP TABLE window_rows AS {self._DOWNLOAD_ROWS} {after} AND timestamp < $end",
                self._params(files) | bounds,
            )
            rows = con.sql(
                f"""
                SELECT {groups}, count(*)::BIGINT
                FROM window_rows
                WHERE countable AND list_contains($plugins, plugin_name)
                GROUP BY ALL ORDER BY ALL
                """,
                params={"plugins": list(plugin_names)},
            ).to_arrow_table()
            found = con.execute(
                """
                SELECT w.download_day, count(*), max(f.arrived_at)
                FROM window_rows w JOIN source_files f USING (filename)
                GROUP BY 1 ORDER BY 1
                """
            ).fetchall()
        return rows, found

    def install_counts(self, start: date, end: date, plugin_names: Sequence[str]) -> SourceBatch:
        rows, found = self._counted(start, end, plugin_names, self._BY_DAY)
        if not found:
            return SourceBatch(INSTALL_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}))
        return SourceBatch(
            rows.rename_columns(INSTALL_ROWS_SCHEMA.names).cast(INSTALL_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (n, t) for d, n, t in found}),
        )

    def install_counts_before(self, before: date, plugin_names: Sequence[str]) -> SourceBatch:
        rows, found = self._counted(None, before, plugin_names, self._BY_MONTH)
        if not found:
            return SourceBatch(OPENING_ROWS_SCHEMA.empty_table(), [])
        return SourceBatch(
            rows.rename_columns(OPENING_ROWS_SCHEMA.names).cast(OPENING_ROWS_SCHEMA),
            [DayFingerprint(d, n, t) for d, n, t in found],
        )

    def day_counts(self) -> dict[date, int]:
        files = self._files()
        if not files:
            return {}
        with scratch_connection(files) as con:
            return dict(
                con.execute(
                    "SELECT CAST(timestamp AS DATE), count(*) FROM read_parquet($files, union_by_name = true) "
                    "WHERE timestamp IS NOT NULL GROUP BY 1",
                    {"files": [f.path for f in files]},
                ).fetchall()
            )

    def _newest_by_day(self, files: list[SourceFile]) -> dict:
        with scratch_connection(files) as con:
            return dict(
                con.execute(
                    """
                    SELECT CAST(d.timestamp AS DATE), max(f.arrived_at)
                    FROM read_parquet($files, filename = true, union_by_name = true) d
                    JOIN source_files f USING (filename)
                    WHERE d.timestamp IS NOT NULL
                    GROUP BY 1
                    """,
                    {"files": [f.path for f in files]},
                ).fetchall()
            )

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        return file_arrivals(self._files(), cursor, self._newest_by_day)

    def days_with_downloads(self, plugin_names: Sequence[str]) -> set[date]:
        files = self._files()
        if not files or not plugin_names:
            return set()
        with scratch_connection(files) as con:
            found = con.execute(
                f"SELECT DISTINCT download_day FROM ({self._DOWNLOAD_ROWS}) "
                "WHERE countable AND list_contains($plugins, plugin_name)",
                self._params(files) | {"plugins": list(plugin_names)},
            ).fetchall()
        return {row[0] for row in found}
