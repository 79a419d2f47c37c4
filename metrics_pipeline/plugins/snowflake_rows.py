"""Plugin rows from the Snowflake downloads view: grouped in Snowflake, only aggregates cross the wire."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import pyarrow as pa

from metrics_pipeline.installs.sources import DOWNLOADS_VIEW_SETTING
from metrics_pipeline.landing.batch import fingerprints_for_window, midnight
from metrics_pipeline.plugins.rows import PluginRowsSource, RowsBatch
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
from metrics_pipeline.resources.snowflake import SnowflakeConnection, checked_identifier, naive_utc, run_query


class SnowflakePluginRows(PluginRowsSource):
    """The labeled downloads view: only day, project and download_type exist there, so plugins that
    need Python version, OS, country, installer or file version cannot run on it."""

    snowflake: SnowflakeConnection
    downloads_view: str = "PYPI_DOWNLOADS"
    download_types: list[str] = ["pip"]
    kind: ClassVar[str] = "snowflake"
    columns: ClassVar[frozenset[str]] = frozenset({"day", "plugin_name", "download_type", "countable", "downloads"})

    def fetch(self, start: date, end: date) -> RowsBatch:
        view = checked_identifier(self.downloads_view, DOWNLOADS_VIEW_SETTING)
        marks = ", ".join("?" for _ in self.download_types)
        with self.snowflake.connect() as con:
            found = run_query(
                con,
                f"""
                SELECT CAST(timestamp AS DATE), REGEXP_REPLACE(LOWER(file_project), ?, '-'), download_type,
                       download_type IN ({marks}) AND project_type = 'plugin', COUNT(*), MAX(ingestion_timestamp)
                FROM {view} WHERE timestamp >= ? AND timestamp < ?
                GROUP BY 1, 2, 3, 4
                """,
                [NORMALIZE_SQL_PATTERN, *self.download_types, midnight(start), midnight(end)],
            )
        rows = pa.table({
            "day": pa.array([r[0] for r in found], pa.date32()),
            "plugin_name": pa.array([r[1] for r in found], pa.string()),
            "download_type": pa.array([r[2] for r in found], pa.string()),
            "countable": pa.array([bool(r[3]) for r in found], pa.bool_()),
            "downloads": pa.array([int(r[4]) for r in found], pa.int64()),
        })
        per_day: dict[date, tuple[int, object]] = {}
        for day, _, _, _, count, newest in found:
            rows_before, seen = per_day.get(day, (0, None))
            newest = naive_utc(newest)
            per_day[day] = (rows_before + int(count), max(filter(None, (seen, newest)), default=None))
        return RowsBatch(rows, fingerprints_for_window(start, end, per_day), set())
