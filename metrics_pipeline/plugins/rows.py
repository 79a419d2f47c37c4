"""The download rows a plugin's SQL reads (`source_rows`), from whichever source METRICS_INSTALLS_SOURCE selects.

Rows arrive grouped: one row per distinct combination of the columns below with `downloads`, the
number of download rows it stands for, so only aggregates leave a remote source. Plugins count with
`sum(downloads)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import dagster as dg
import pyarrow as pa

from metrics_pipeline.installs.sources import DOWNLOADS_DIR_SETTING, DOWNLOADS_VIEW_SETTING, FileInstallsSource
from metrics_pipeline.landing.batch import DayFingerprint, fingerprints_for_window, midnight
from metrics_pipeline.landing.files import scratch_connection
from metrics_pipeline.plugins.store import refused
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN

INSTALLS_SOURCE_SETTING = "METRICS_INSTALLS_SOURCE"

# Every column a source may offer, with its meaning (documented for plugin authors).
SOURCE_COLUMNS = {
    "day": "UTC date of the download",
    "plugin_name": "file.project, PEP 503-normalized (compare with $plugins)",
    "file_version": "file.version: the package version downloaded",
    "installer_name": "details.installer.name (pip, uv, bandersnatch, ...)",
    "python_version": "details.python, e.g. 3.11.7",
    "system_name": "details.system.name, e.g. Linux",
    "country_code": "country_code (ISO 3166-1 alpha-2)",
    "ci": "details.ci",
    "download_type": "the Snowflake view's download_type label",
    "countable": "true when the row is an install under the counting rules (METRICS_INSTALLERS, not CI)",
    "downloads": "download rows this row stands for",
}


FILE_ROWS_SCHEMA = pa.schema([
    ("day", pa.date32()), ("plugin_name", pa.string()), ("file_version", pa.string()), ("installer_name", pa.string()),
    ("python_version", pa.string()), ("system_name", pa.string()), ("country_code", pa.string()), ("ci", pa.bool_()),
    ("countable", pa.bool_()), ("downloads", pa.int64()),
])


@dataclass
class RowsBatch:
    rows: pa.Table  # grouped source rows of the window
    fingerprints: list[DayFingerprint]
    incomplete: set[date]  # days a quarantined file could hold: left as they were


class PluginRowsSource(dg.ConfigurableResource, ABC):
    """Download rows of a window, grouped, for plugin aggregations."""

    kind: ClassVar[str]
    columns: ClassVar[frozenset[str]]

    def missing_columns(self, required: Sequence[str]) -> list[str]:
        return sorted(set(required) - self.columns)

    def require(self, plugin_name: str, required: Sequence[str]) -> None:
        """Fail naming the setting and the columns when this source cannot feed the plugin."""
        missing = self.missing_columns(required)
        if missing:
            raise refused(
                f"plugin {plugin_name!r} needs column(s) {', '.join(missing)} that {INSTALLS_SOURCE_SETTING}={self.kind} "
                f"does not provide (it has {', '.join(sorted(self.columns))}); this plugin runs on the files source"
            )

    @abstractmethod
    def fetch(self, start: date, end: date) -> RowsBatch:
        """Grouped rows with UTC day in [start, end), and every day's fingerprint."""


class FilePluginRows(PluginRowsSource):
    """Parquet in the BigQuery `pypi.file_downloads` schema, read through the installs file catalog."""

    directory: str
    installers: list[str] = ["pip"]
    kind: ClassVar[str] = "files"
    columns: ClassVar[frozenset[str]] = frozenset(SOURCE_COLUMNS) - {"download_type"}

    _ROWS = """
        CREATE TEMP TABLE window_rows AS
        SELECT CAST(timestamp AS DATE) AS day, filename,
               regexp_replace(lower(file.project), $pattern, '-', 'g') AS plugin_name,
               file.version AS file_version, details.installer.name AS installer_name,
               details.python AS python_version, details.system.name AS system_name, country_code,
               details.ci AS ci,
               coalesce(list_contains($installers, details.installer.name), false) AND details.ci IS NOT TRUE AS countable,
               count(*)::BIGINT AS downloads
        FROM read_parquet($files, filename = true, union_by_name = true)
        WHERE timestamp >= $start AND timestamp < $end
        GROUP BY ALL
    """

    def fetch(self, start: date, end: date) -> RowsBatch:
        selection = FileInstallsSource(directory=self.directory, installers=self.installers)._select(start, end)
        incomplete = selection.incomplete_days(start, end)
        if not selection.files:
            return RowsBatch(FILE_ROWS_SCHEMA.empty_table(), fingerprints_for_window(start, end, {}), incomplete)
        with scratch_connection(selection.files) as con:
            con.execute(self._ROWS, {"files": [f.path for f in selection.files], "pattern": NORMALIZE_SQL_PATTERN,
                                     "installers": list(self.installers), "start": midnight(start), "end": midnight(end)})
            found = con.execute(
                "SELECT w.day, sum(w.downloads), max(f.arrived_at) FROM window_rows w JOIN source_files f USING (filename) GROUP BY 1"
            ).fetchall()
            rows = con.sql("SELECT * EXCLUDE (filename, downloads), sum(downloads)::BIGINT AS downloads "
                           "FROM window_rows GROUP BY ALL").to_arrow_table().cast(FILE_ROWS_SCHEMA)
        return RowsBatch(rows, fingerprints_for_window(start, end, {d: (int(n), t) for d, n, t in found}), incomplete)


def rows_source_from(env) -> PluginRowsSource:
    """The rows source matching METRICS_INSTALLS_SOURCE (same settings as the installs source)."""
    from metrics_pipeline.installs.definitions import installers_from
    from metrics_pipeline.resources.definitions import setting

    kind = setting(env, INSTALLS_SOURCE_SETTING, "files")
    if kind == "snowflake":
        # Imported here: the connector costs a second of start-up that file deployments never need.
        from metrics_pipeline.plugins.snowflake_rows import SnowflakePluginRows
        from metrics_pipeline.resources.snowflake import snowflake_connection_from

        view = {"downloads_view": dg.EnvVar(DOWNLOADS_VIEW_SETTING)} if env.get(DOWNLOADS_VIEW_SETTING) else {}
        return SnowflakePluginRows(snowflake=snowflake_connection_from(env), download_types=installers_from(env), **view)
    return FilePluginRows(directory=dg.EnvVar(DOWNLOADS_DIR_SETTING), installers=installers_from(env))
