"""Where install rows come from: the interface every installs source implements, and the files one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar
from collections.abc import Sequence
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa

from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
from metrics_pipeline.landing.batch import (
    Arrivals,
    DayFingerprint,
    SourceBatch,
    fingerprints_for_window,
    future_cutoff,
    midnight,
)
from metrics_pipeline.landing.catalog import FileCatalog, FileProblem, Measured, Selection, schema_groups
from metrics_pipeline.landing.files import SourceFile, file_arrivals, list_source_files, scratch_connection
from metrics_pipeline.resources.warehouse import scratch

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


DOWNLOADS_DIR_SETTING = "METRICS_DOWNLOADS_DIR"
DOWNLOADS_VIEW_SETTING = "METRICS_SNOWFLAKE_DOWNLOADS_VIEW"


class InstallsSource(dg.ConfigurableResource, ABC):
    """Counts qualifying downloads per day inside the source's own engine; only aggregates leave it."""

    setting: ClassVar[str]  # the setting that points at this source, for errors a user can act on
    max_drop_fraction: float = 0.5  # METRICS_SOURCE_MAX_DROP: share of landed rows a window may lose

    @property
    @abstractmethod
    def counted(self) -> list[str]:
        """The installer names (or download types) that count as installs: what landed rows may hold."""

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
    warehouse_path: str | None = None  # the file catalog (what each file held) lives beside the warehouse

    setting: ClassVar[str] = DOWNLOADS_DIR_SETTING

    @property
    def counted(self) -> list[str]:
        return list(self.installers)

    def _files(self):
        return list_source_files(self.directory, (".parquet",), self.setting)

    # Columns the counting rules read, and the types they must have.
    _REQUIRED = {
        "timestamp": ("timestamp", "TIMESTAMP"),
        "file.project": ("project", "VARCHAR"),
        "details.installer.name": ("installer", "VARCHAR"),
        "details.ci": ("ci", "BOOLEAN"),
    }

    def _types_problem(self, con: duckdb.DuckDBPyConnection, path: str) -> FileProblem | None:
        """Why the file's required columns are missing or mistyped; None when they are usable."""
        try:
            columns = ", ".join(f"{path_} AS {alias}" for path_, (alias, _) in self._REQUIRED.items())
            types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT {columns} FROM read_parquet(?)", [path]).fetchall()}
        except duckdb.Error as error:
            return FileProblem(_first_line(error))
        for path_, (alias, expected) in self._REQUIRED.items():
            if not str(types[alias]).startswith(expected) and str(types[alias]) != "NULL":
                return FileProblem(f"column {path_} is {types[alias]}, expected {expected}")
        return None

    _SPANS_SQL = ("SELECT filename, min(timestamp)::DATE, max(timestamp)::DATE, count(*) FILTER (WHERE timestamp IS NULL), "
                  "count(*) FILTER (WHERE timestamp > ?) FROM read_parquet(?, filename = true) GROUP BY filename")

    def _spans(self, con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, Measured]:
        """Each file's event days and unusable rows, by one read of all of them (a file without rows has no group)."""
        found = {path: Measured(None) for path in paths}
        for path, first, last, undated, future in con.execute(self._SPANS_SQL, [future_cutoff(), paths]).fetchall():
            dropped = {reason: n for reason, n in (("no timestamp", undated), ("timestamp in the future", future)) if n}
            found[path] = Measured(None if first is None else (first, last), dropped)
        return found

    def _measure(self, f: SourceFile) -> Measured:
        """One file on its own: required columns and types, its event days, its unusable rows."""
        with scratch() as con:
            problem = self._types_problem(con, f.path)
            if problem:
                raise problem
            return self._spans(con, [f.path])[f.path]

    def _measure_many(self, files: list[SourceFile]) -> dict[str, Measured | FileProblem]:
        """Files sharing a schema measured by one query; a file the shared read fails on is left to
        `_measure` (alone), so it cannot spoil the others."""
        found: dict[str, Measured | FileProblem] = {}
        with scratch() as con:
            try:
                groups = schema_groups(con, [f.path for f in files])
            except duckdb.Error:
                return found
            for paths in groups:
                if self._types_problem(con, paths[0]):
                    continue  # each file measured alone, so its message names its own columns
                try:
                    found |= self._spans(con, paths)
                except duckdb.Error:
                    continue
        return found

    def _select(self, start: date, end: date) -> Selection:
        return FileCatalog("downloads", self.directory, self.warehouse_path).select(self._files(), start, end, self._measure,
                                                                            self._measure_many)

    def window_files(self, start: date, end: date) -> list[str]:
        """The readable files that can hold days of [start, end) (each identical file once)."""
        return [f.path for f in self._select(start, end).files]

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
    _BY_MONTH = "month_start, plugin_name"

    def _counted(self, start: date | None, end: date, plugin_names: Sequence[str], groups: str) -> tuple[pa.Table, list, Selection]:
        """Qualifying downloads in [start, end) counted per `groups` (_BY_DAY or _BY_MONTH), and
        (day, source rows, newest arrival) for every day with rows; the files are read once, into tallies."""
        selection = self._select(start or date.min, end)
        files = selection.files
        if not files:
            return pa.table({}), [], selection
        after = "" if start is None else "AND timestamp >= $start"
        bounds = {"end": midnight(end)} | ({} if start is None else {"start": midnight(start)})
        with scratch_connection(files) as con:
            con.execute(
                f"""
                CREATE TEMP TABLE tallies AS
                SELECT download_day, filename, plugin_name, installer_name, countable, count(*)::BIGINT AS n
                FROM ({self._DOWNLOAD_ROWS} {after} AND timestamp < $end)
                GROUP BY ALL
                """,
                self._params(files) | bounds,
            )
            rows = con.sql(
                f"""
                SELECT {groups}, sum(n)::BIGINT
                FROM (SELECT *, CAST(date_trunc('month', download_day) AS DATE) AS month_start FROM tallies)
                WHERE countable AND list_contains($plugins, plugin_name)
                GROUP BY ALL ORDER BY ALL
                """,
                params={"plugins": list(plugin_names)},
            ).to_arrow_table()
            found = con.execute(
                """
                SELECT t.download_day, sum(t.n)::BIGINT, max(f.arrived_at)
                FROM tallies t JOIN source_files f USING (filename)
                GROUP BY 1 ORDER BY 1
                """
            ).fetchall()
        return rows, found, selection

    def install_counts(self, start: date, end: date, plugin_names: Sequence[str]) -> SourceBatch:
        rows, found, selection = self._counted(start, end, plugin_names, self._BY_DAY)
        if not found:
            rows = INSTALL_ROWS_SCHEMA.empty_table()
        return SourceBatch(
            rows.rename_columns(INSTALL_ROWS_SCHEMA.names).cast(INSTALL_ROWS_SCHEMA),
            fingerprints_for_window(start, end, {d: (n, t) for d, n, t in found}),
            dict(selection.dropped),
            selection,
        )

    def install_counts_before(self, before: date, plugin_names: Sequence[str]) -> SourceBatch:
        rows, found, selection = self._counted(None, before, plugin_names, self._BY_MONTH)
        if not found:
            rows = OPENING_ROWS_SCHEMA.empty_table()
        return SourceBatch(
            rows.rename_columns(OPENING_ROWS_SCHEMA.names).cast(OPENING_ROWS_SCHEMA),
            [DayFingerprint(d, n, t) for d, n, t in found],
            dict(selection.dropped),
            selection,
        )

    def _per_day(self, files: list[SourceFile], value: str) -> dict:
        """`value`, an aggregate over these files' rows (`arrived_at`: the file's mtime), per UTC day."""
        if not files:
            return {}
        with scratch_connection(files) as con:
            return dict(
                con.execute(
                    f"""
                    SELECT CAST(d.timestamp AS DATE), {value}
                    FROM read_parquet($files, filename = true, union_by_name = true) d
                    JOIN source_files f USING (filename)
                    WHERE d.timestamp IS NOT NULL
                    GROUP BY 1
                    """,
                    {"files": [f.path for f in files]},
                ).fetchall()
            )

    def day_counts(self) -> dict[date, int]:
        return self._per_day(self._select(date.min, date.max).files, "count(*)")

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        files = self._files()
        usable = {f.path for f in FileCatalog("downloads", self.directory, self.warehouse_path).usable(files, self._measure, self._measure_many)}
        return file_arrivals(files, cursor, lambda new: self._per_day([f for f in new if f.path in usable], "max(f.arrived_at)"))

    def days_with_downloads(self, plugin_names: Sequence[str]) -> set[date]:
        files = self._select(date.min, date.max).files
        if not files or not plugin_names:
            return set()
        with scratch_connection(files) as con:
            found = con.execute(
                f"SELECT DISTINCT download_day FROM ({self._DOWNLOAD_ROWS}) "
                "WHERE countable AND list_contains($plugins, plugin_name)",
                self._params(files) | {"plugins": list(plugin_names)},
            ).fetchall()
        return {row[0] for row in found}


def _first_line(error: Exception) -> str:
    """DuckDB's message without its hints, e.g. 'Binder Error: ... "details" not found ...'."""
    return str(error).strip().splitlines()[0][:300]
