"""Installs counted inside Snowflake from the labeled-downloads view; only per-day aggregates cross."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from datetime import date

import pyarrow as pa

from metrics_pipeline.installs.sources import (
    DOWNLOADS_VIEW_SETTING,
    INSTALL_ROWS_SCHEMA,
    OPENING_ROWS_SCHEMA,
    InstallsSource,
)
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
from metrics_pipeline.resources.snowflake import (
    SnowflakeConnection,
    checked_identifier,
    naive_utc,
    run_query,
    stage_names,
)
from metrics_pipeline.landing.batch import Arrivals, DayFingerprint, SourceBatch, arrivals_after, fingerprints_for_window, ingestion_cursor, midnight

_PLUGIN = "REGEXP_REPLACE(LOWER(file_project), ?, '-')"


class SnowflakeInstallsSource(InstallsSource):
    """Per-day, per-plugin pip counts from a downloads view (`file_project, timestamp,
    download_type, project_type, ingestion_timestamp`); timestamps are UTC."""

    setting: ClassVar[str] = DOWNLOADS_VIEW_SETTING
    snowflake: SnowflakeConnection
    downloads_view: str = "PYPI_DOWNLOADS"
    download_types: list[str] = ["pip"]  # labels counted as installs (the view marks CI, mirrors...)

    @property
    def counted(self) -> list[str]:
        return list(self.download_types)

    def _view(self) -> str:
        return checked_identifier(self.downloads_view, DOWNLOADS_VIEW_SETTING)

    def _qualifies(self) -> tuple[str, list[str]]:
        """A qualifying download: a counted download type of a project labeled as a plugin."""
        if not self.download_types:
            raise ValueError("download_types must name at least one type, e.g. `pip` (setting METRICS_INSTALLERS)")
        marks = ", ".join("?" for _ in self.download_types)
        return f"download_type IN ({marks}) AND project_type = 'plugin'", list(self.download_types)

    def install_counts(self, start: date, end: date, plugin_names: Sequence[str]) -> SourceBatch:
        view, window = self._view(), [midnight(start), midnight(end)]
        qualifies, types = self._qualifies()
        with self.snowflake.connect() as con:
            stage_names(con, "metrics_wanted_plugins", sorted(set(plugin_names)))
            counted = run_query(
                con,
                f"""
                SELECT CAST(timestamp AS DATE) AS download_day, {_PLUGIN} AS plugin_name,
                       download_type AS installer_name, COUNT(*) AS download_count
                FROM {view}
                WHERE timestamp >= ? AND timestamp < ? AND {qualifies}
                  AND {_PLUGIN} IN (SELECT name FROM metrics_wanted_plugins)
                GROUP BY 1, 2, 3
                ORDER BY 1, 2, 3
                """,
                [NORMALIZE_SQL_PATTERN, *window, *types, NORMALIZE_SQL_PATTERN],
            )
            found = run_query(
                con,
                f"""
                SELECT CAST(timestamp AS DATE), COUNT(*), MAX(ingestion_timestamp)
                FROM {view}
                WHERE timestamp >= ? AND timestamp < ?
                GROUP BY 1
                """,
                window,
            )
        rows = pa.table(
            {
                "download_day": [r[0] for r in counted],
                "plugin_name": [r[1] for r in counted],
                "installer_name": [r[2] for r in counted],
                "download_count": [int(r[3]) for r in counted],
            },
            schema=INSTALL_ROWS_SCHEMA,
        )
        fingerprints = {d: (int(n), naive_utc(t)) for d, n, t in found}
        return SourceBatch(rows, fingerprints_for_window(start, end, fingerprints))

    def install_counts_before(self, before: date, plugin_names: Sequence[str]) -> SourceBatch:
        view, (qualifies, types) = self._view(), self._qualifies()
        with self.snowflake.connect() as con:
            stage_names(con, "metrics_wanted_plugins", sorted(set(plugin_names)))
            counted = run_query(
                con,
                f"""
                SELECT CAST(DATE_TRUNC('month', CAST(timestamp AS DATE)) AS DATE), {_PLUGIN}, COUNT(*)
                FROM {view}
                WHERE timestamp < ? AND {qualifies}
                  AND {_PLUGIN} IN (SELECT name FROM metrics_wanted_plugins)
                GROUP BY 1, 2
                ORDER BY 1, 2
                """,
                [NORMALIZE_SQL_PATTERN, midnight(before), *types, NORMALIZE_SQL_PATTERN],
            )
            found = run_query(
                con,
                f"SELECT CAST(timestamp AS DATE), COUNT(*), MAX(ingestion_timestamp) FROM {view} "
                "WHERE timestamp < ? GROUP BY 1 ORDER BY 1",
                [midnight(before)],
            )
        rows = pa.table(
            {
                "month_start": [r[0] for r in counted],
                "plugin_name": [r[1] for r in counted],
                "install_count": [int(r[2]) for r in counted],
            },
            schema=OPENING_ROWS_SCHEMA,
        )
        return SourceBatch(rows, [DayFingerprint(d, int(n), naive_utc(t)) for d, n, t in found])

    def day_counts(self) -> dict[date, int]:
        with self.snowflake.connect() as con:
            found = run_query(
                con, f"SELECT CAST(timestamp AS DATE), COUNT(*) FROM {self._view()} WHERE timestamp IS NOT NULL GROUP BY 1"
            )
        return {day: int(n) for day, n in found}

    def arrivals_since(self, cursor: str | None) -> Arrivals:
        seen = ingestion_cursor(cursor)
        where, params = ("AND ingestion_timestamp > ?", [seen]) if seen else ("", [])
        with self.snowflake.connect() as con:
            found = run_query(
                con,
                f"""
                SELECT CAST(timestamp AS DATE), MAX(ingestion_timestamp)
                FROM {self._view()}
                WHERE timestamp IS NOT NULL AND ingestion_timestamp IS NOT NULL {where}
                GROUP BY 1
                """,
                params,
            )
        return arrivals_after(seen, {day: naive_utc(at) for day, at in found})

    def days_with_downloads(self, plugin_names: Sequence[str]) -> set[date]:
        if not plugin_names:
            return set()
        qualifies, types = self._qualifies()
        with self.snowflake.connect() as con:
            stage_names(con, "metrics_wanted_plugins", sorted(set(plugin_names)))
            found = run_query(
                con,
                f"""
                SELECT DISTINCT CAST(timestamp AS DATE)
                FROM {self._view()}
                WHERE timestamp IS NOT NULL AND {qualifies}
                  AND {_PLUGIN} IN (SELECT name FROM metrics_wanted_plugins)
                """,
                [*types, NORMALIZE_SQL_PATTERN],
            )
        return {row[0] for row in found}
