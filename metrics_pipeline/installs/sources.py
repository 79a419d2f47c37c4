"""Where install rows come from: the interface every installs source implements, and the files one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

import dagster as dg
import pyarrow as pa

from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
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

# Columns of SourceBatch.rows for installs; one row per group of qualifying downloads.
INSTALL_ROWS_SCHEMA = pa.schema(
    [
        ("download_day", pa.date32()),
        ("plugin_name", pa.string()),  # PEP 503-normalized
        ("installer_name", pa.string()),
        ("download_count", pa.int64()),
    ]
)


class InstallsSource(dg.ConfigurableResource, ABC):
    """Counts qualifying downloads per day inside the source's own engine; only aggregates leave it."""

    @abstractmethod
    def install_counts(self, start: date, end: date, plugin_names: Sequence[str]) -> SourceBatch:
        """Qualifying downloads with UTC day in [start, end) for these (normalized) plugins,
        grouped as INSTALL_ROWS_SCHEMA, plus a fingerprint of every day in the window."""

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

    def install_counts(self, start: date, end: date, plugin_names: Sequence[str]) -> SourceBatch:
        files = FileCatalog("downloads", self.directory).overlapping(self._files(), start, end, self._day_ranges)
        if not files:
            return SourceBatch(INSTALL_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}))
        with scratch_connection(files) as con:
            con.execute(
                f"CREATE TEMP TABLE window_rows AS {self._DOWNLOAD_ROWS} AND timestamp >= $start AND timestamp < $end",
                self._params(files)
                | {"start": midnight(start), "end": midnight(end)},
            )
            rows = con.sql(
                """
                SELECT download_day, plugin_name, installer_name, count(*)::BIGINT AS download_count
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
                GROUP BY 1
                """
            ).fetchall()
        return SourceBatch(
            rows.cast(INSTALL_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (n, t) for d, n, t in found}),
        )

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        seen = mtime_cursor(cursor)
        files = self._files()
        new = [f for f in files if f.mtime_ns > seen]
        newest: dict = {}
        if new:
            with scratch_connection(new) as con:
                newest = dict(
                    con.execute(
                        """
                        SELECT CAST(d.timestamp AS DATE), max(f.arrived_at)
                        FROM read_parquet($files, filename = true, union_by_name = true) d
                        JOIN source_files f USING (filename)
                        WHERE d.timestamp IS NOT NULL
                        GROUP BY 1
                        """,
                        {"files": [f.path for f in new]},
                    ).fetchall()
                )
        return Arrivals(newest, new_mtime_cursor(files, seen))

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
