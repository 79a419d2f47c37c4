"""The download rows plugins read, from whichever source METRICS_INSTALLS_SOURCE selects: one read per
run for every plugin, into the scratch table `window_rows`.

Rows hold the columns the run's plugins require (`plugins/columns.py`) and `downloads`, the number of
download rows each stands for (1 for files; a remote source sends only aggregates), only for registry
plugins: a plugin never sees untracked projects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date, timedelta
from typing import ClassVar

import dagster as dg
import duckdb

from metrics_pipeline.changes import Range
from metrics_pipeline.installs.sources import DOWNLOADS_DIR_SETTING, DOWNLOADS_VIEW_SETTING, FileInstallsSource
from metrics_pipeline.landing.batch import midnight
from metrics_pipeline.plugins import columns
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN
from metrics_pipeline.resources.warehouse import bind

INSTALLS_SOURCE_SETTING = "METRICS_INSTALLS_SOURCE"
FILES_COLUMNS = frozenset(columns.KNOWN) - {"download_type"}
SNOWFLAKE_COLUMNS = frozenset({"day", "plugin_name", "download_type", "countable", "downloads"})
SOURCE_KINDS = {"files": FILES_COLUMNS, "snowflake": SNOWFLAKE_COLUMNS}


class PluginRowsSource(dg.ConfigurableResource, ABC):
    """Download rows of some days, for plugin aggregations."""

    kind: ClassVar[str]
    columns: ClassVar[frozenset[str]]

    def missing_columns(self, required: Sequence[str]) -> list[str]:
        return sorted(set(required) - self.columns)

    @abstractmethod
    def load(self, con: duckdb.DuckDBPyConnection, ranges: list[Range], paths: Sequence[str],
             plugin_names: Sequence[str]) -> set[date]:
        """Create `window_rows` in `con`: the rows of registry plugins on the days of `ranges` with
        `paths` and `downloads`. Returns the days a quarantined file could hold."""


def missing_columns_message(plugin_name: str, kind: str, missing: Sequence[str]) -> str:
    return (f"plugin {plugin_name!r} reads column(s) {', '.join(missing)}, which {INSTALLS_SOURCE_SETTING}={kind} does "
            f"not provide (rule: a plugin requires only columns of the configured source; it has "
            f"{', '.join(sorted(SOURCE_KINDS[kind]))})")


def _file_schemas(con: duckdb.DuckDBPyConnection, files: list[str]) -> dict[frozenset[str], list[str]]:
    """The files grouped by the column paths they hold (struct fields included), from their footers."""
    elements: dict[str, list[tuple[str, int]]] = {}
    for file, name, children in con.execute("SELECT file_name, name, num_children FROM parquet_schema($files)",
                                            {"files": files}).fetchall():
        elements.setdefault(file, []).append((name, children or 0))
    groups: dict[frozenset[str], list[str]] = {}
    for file in files:
        paths, open_structs = set(), []  # [prefix, children still to come]
        for name, children in elements.get(file, [])[1:]:  # the first element is the file's root
            path = (open_structs[-1][0] if open_structs else "") + name
            paths.add(path)
            if open_structs:
                open_structs[-1][1] -= 1
            if children:
                open_structs.append([path + ".", children])
            while open_structs and open_structs[-1][1] == 0:
                open_structs.pop()
        groups.setdefault(frozenset(paths), []).append(file)
    return groups


class FilePluginRows(PluginRowsSource):
    """Parquet in the BigQuery `pypi.file_downloads` schema, read through the installs file catalog."""

    directory: str
    installers: list[str] = ["pip"]
    warehouse_path: str | None = None
    kind: ClassVar[str] = "files"
    columns: ClassVar[frozenset[str]] = FILES_COLUMNS

    _COMPUTED: ClassVar[dict[str, str]] = {
        "day": "CAST(timestamp AS DATE)",
        "countable": "(coalesce(list_contains($installers, details.installer.name), false) AND details.ci IS NOT TRUE)",
        "timestamp": "CAST(timestamp AS TIMESTAMP)",
    }

    def _leaf(self, present: set[str]):
        def leaf(path: str) -> str:
            if path in self._COMPUTED:
                return self._COMPUTED[path]
            alias = columns.DERIVED.get(path, (None, None, None))[2]
            source = alias or path
            type_ = columns.KNOWN[source][0]
            return columns.normalized(source if source in present else f"NULL::{type_}", type_)
        return leaf

    def load(self, con, ranges, paths, plugin_names):
        first, end = ranges[0][0], ranges[-1][1] + timedelta(days=1)
        selection = FileInstallsSource(directory=self.directory, installers=self.installers,
                                       warehouse_path=self.warehouse_path)._select(first, end)
        incomplete = selection.incomplete_days(first, end)
        files = [f.path for f in selection.files]
        grouped = [p for p in paths if p != "downloads"]
        if not files:
            con.execute(columns.empty_table_sql("window_rows", paths, temporary=True))
            return incomplete
        within = " OR ".join(f"(timestamp >= $s{n} AND timestamp < $e{n})" for n in range(len(ranges)))
        # Files of each schema are read apart, a column they lack as NULL: DuckDB cannot project a struct
        # field that only some files of one read hold.
        schemas = _file_schemas(con, files)
        reads = " UNION ALL ".join(
            f"SELECT {columns.select_list([p for p in grouped if p != 'plugin_name'], self._leaf(present))}, "
            f"file.project AS spelling FROM read_parquet($files{n}, union_by_name = true) WHERE {within}"
            for n, present in enumerate(schemas))
        # One row per download (each plugin groups its own); the name is normalized once per spelling.
        sql = f"""
            CREATE TEMP TABLE window_rows AS
            WITH read AS MATERIALIZED ({reads}), named AS (
                SELECT spelling, regexp_replace(lower(spelling), $pattern, '-', 'g') AS plugin_name
                FROM (SELECT DISTINCT spelling FROM read)
            )
            SELECT r.* EXCLUDE (spelling), n.plugin_name, 1::BIGINT AS downloads
            FROM read r JOIN named n USING (spelling) WHERE n.plugin_name IN (SELECT unnest($plugins))
        """
        params = {"pattern": NORMALIZE_SQL_PATTERN, "installers": list(self.installers), "plugins": list(plugin_names),
                  **{f"files{n}": group for n, group in enumerate(schemas.values())}}
        for n, (a, b) in enumerate(ranges):
            params |= {f"s{n}": midnight(a), f"e{n}": midnight(b + timedelta(days=1))}
        con.execute(sql, bind(sql, params))
        return incomplete


def rows_source_from(env) -> PluginRowsSource:
    """The rows source matching METRICS_INSTALLS_SOURCE (same settings as the installs source)."""
    from metrics_pipeline.installs.definitions import installers_from

    kind = source_kind(env)
    if kind == "snowflake":
        # Imported here: the connector costs a second of start-up that file deployments never need.
        from metrics_pipeline.plugins.snowflake_rows import SnowflakePluginRows
        from metrics_pipeline.resources.snowflake import snowflake_connection_from

        view = {"downloads_view": dg.EnvVar(DOWNLOADS_VIEW_SETTING)} if env.get(DOWNLOADS_VIEW_SETTING) else {}
        return SnowflakePluginRows(snowflake=snowflake_connection_from(env), download_types=installers_from(env), **view)
    return FilePluginRows(directory=dg.EnvVar(DOWNLOADS_DIR_SETTING), installers=installers_from(env),
                          warehouse_path=dg.EnvVar("METRICS_WAREHOUSE_PATH"))


def source_kind(env) -> str:
    from metrics_pipeline.resources.definitions import setting

    return setting(env, INSTALLS_SOURCE_SETTING, "files")
