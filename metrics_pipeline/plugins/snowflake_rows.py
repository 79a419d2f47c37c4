"""Plugin rows from the Snowflake downloads view: grouped in Snowflake, only aggregates cross the wire."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import pyarrow as pa

from metrics_pipeline.installs.sources import DOWNLOADS_VIEW_SETTING
from metrics_pipeline.landing.batch import midnight
from metrics_pipeline.plugins import columns
from metrics_pipeline.plugins.rows import SNOWFLAKE_COLUMNS, PluginRowsSource
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
from metrics_pipeline.resources.snowflake import SnowflakeConnection, checked_identifier, run_query

_SCHEMA = pa.schema([("day", pa.date32()), ("plugin_name", pa.string()), ("download_type", pa.string()),
                     ("countable", pa.bool_()), ("downloads", pa.int64())])


class SnowflakePluginRows(PluginRowsSource):
    """The labeled downloads view: only day, project and download_type exist there, so plugins that
    need Python version, OS, country, installer or file columns cannot run on it."""

    snowflake: SnowflakeConnection
    downloads_view: str = "PYPI_DOWNLOADS"
    download_types: list[str] = ["pip"]
    kind: ClassVar[str] = "snowflake"
    columns: ClassVar[frozenset[str]] = SNOWFLAKE_COLUMNS

    def load(self, con, ranges, paths, plugin_names):
        view = checked_identifier(self.downloads_view, DOWNLOADS_VIEW_SETTING)
        marks = ", ".join("?" for _ in self.download_types)
        found = []
        with self.snowflake.connect() as snow:
            for first, last in ranges:
                found += run_query(
                    snow,
                    f"""
                    SELECT CAST(timestamp AS DATE), REGEXP_REPLACE(LOWER(file_project), ?, '-'), download_type,
                           COALESCE(download_type IN ({marks}) AND project_type = 'plugin', FALSE), COUNT(*)
                    FROM {view} WHERE timestamp >= ? AND timestamp < ?
                    GROUP BY 1, 2, 3, 4
                    """,
                    [NORMALIZE_SQL_PATTERN, *self.download_types, midnight(first), midnight(last + timedelta(days=1))],
                )
        rows = pa.table([pa.array([r[i] for r in found], field.type) for i, field in enumerate(_SCHEMA)], schema=_SCHEMA)
        grouped = [p for p in paths if p != "downloads"]
        leaf = {"download_type": columns.normalized("download_type", columns.TEXT)}
        con.register("snowflake_rows", rows)
        try:
            con.execute(
                f"CREATE TEMP TABLE window_rows AS SELECT {columns.select_list(grouped, lambda p: leaf.get(p, p))}, "
                "sum(downloads)::BIGINT AS downloads FROM snowflake_rows WHERE list_contains($plugins, plugin_name) "
                "GROUP BY ALL", {"plugins": list(plugin_names)})
        finally:
            con.unregister("snowflake_rows")
        return set()
