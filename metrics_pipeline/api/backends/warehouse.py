"""The DuckDB warehouse, served from an in-memory snapshot so that the API never holds the file.

A DuckDB file admits one process at a time, even read-only. The API copies the few tables it
reads into memory when the file (or its WAL) changes, holding the file only for that copy; it
tries without waiting, so a pipeline run is never blocked. While a run holds the file, answers
come from the previous snapshot (data_status tells its last complete day); only an API with no
snapshot yet waits `lock_wait_seconds` and then answers 503.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date

import duckdb

from metrics_pipeline.api.backends.base import (
    BackendUnavailable, CommunityFacts, CommunityQuery, CommunityRow, ExportPage, MetricsBackend, PluginFacts, PluginQuery,
)
from metrics_pipeline.api.export import COMMUNITY_METRICS, COMMUNITY_SELECT, ExportRequest, statements
from metrics_pipeline.plugins.export import copy_plugin_tables
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

# The month views include history before the first partition; they are copied as tables.
SNAPSHOT_TABLES = ("daily_installs", "installs_by_month", "total_installs", "commits_by_month", "total_commits",
                   "latest_commits", "source_fingerprints", "community_daily", "community_monthly", "community_total")
# A warehouse no run has opened since the community domain came has none of its tables: served empty.
OPTIONAL_TABLES = {
    "community_daily": "period_start DATE, plugin_name VARCHAR, repo VARCHAR",
    "community_monthly": "period_start DATE, plugin_name VARCHAR, repo VARCHAR",
    "community_total": "plugin_name VARCHAR, repo VARCHAR",
}
RETRY_SECONDS = 1.0  # after a refresh found the file busy, serve the snapshot this long before trying again

# kind, month, count, latest
PLUGIN_SQL = """
SELECT 'IM', month_start, install_count, NULL FROM installs_by_month
 WHERE plugin_name = $plugin AND $installs AND month_start BETWEEN $first AND $last
UNION ALL SELECT 'IT', NULL, install_count, NULL FROM total_installs WHERE plugin_name = $plugin AND $installs
UNION ALL SELECT 'IW', NULL, sum(install_count), NULL FROM daily_installs
 WHERE plugin_name = $plugin AND $installs AND download_day BETWEEN $day0 AND $day1
UNION ALL SELECT 'CM', month_start, sum(commit_count), NULL FROM commits_by_month
 WHERE plugin_name = $plugin AND $commits AND month_start BETWEEN $first AND $last GROUP BY month_start
UNION ALL SELECT 'CT', NULL, sum(commit_count), NULL FROM total_commits WHERE plugin_name = $plugin AND $commits
UNION ALL SELECT 'CL', NULL, NULL, max(latest_commit_at) FROM latest_commits WHERE plugin_name = $plugin AND $commits
UNION ALL SELECT 'S' || source, max(day), NULL, NULL FROM source_fingerprints WHERE source_rows >= 0 GROUP BY source
"""
COMMUNITY_SQL = f"""
SELECT 'TOTAL', repo, NULL::DATE, {COMMUNITY_SELECT} FROM community_total WHERE plugin_name = $plugin
UNION ALL SELECT 'MONTH', repo, period_start, {COMMUNITY_SELECT} FROM community_monthly
 WHERE plugin_name = $plugin AND period_start BETWEEN $first AND $last
UNION ALL SELECT 'DAY', repo, max(period_start), {", ".join(["NULL"] * len(COMMUNITY_METRICS))} FROM community_daily
 WHERE plugin_name = $plugin GROUP BY repo
"""


class WarehouseBackend(MetricsBackend):
    name = "duckdb"
    serves_community = True

    def __init__(self, path: str, lock_wait_seconds: float):
        self._warehouse = DuckDBWarehouse(path=path, lock_wait_seconds=lock_wait_seconds)
        self._snapshot: duckdb.DuckDBPyConnection | None = None
        self._version: tuple | None = None
        self._busy_until = 0.0
        self._refresh_lock = threading.Lock()

    def _file_version(self) -> tuple:
        """Changes whenever a writer commits (the WAL) or checkpoints (the file)."""
        version = []
        for path in (self._warehouse.path, self._warehouse.path + ".wal"):
            try:
                stat = os.stat(path)
                version.append((stat.st_mtime_ns, stat.st_size))
            except FileNotFoundError:
                version.append(None)
        if version[0] is None:
            raise BackendUnavailable(f"the warehouse file {self._warehouse.path} does not exist (METRICS_WAREHOUSE_PATH)")
        return tuple(version)

    def _copy(self, wait_seconds: float) -> duckdb.DuckDBPyConnection:
        memory = duckdb.connect(":memory:")
        memory.execute("SET TimeZone = 'UTC'")
        with self._warehouse.connect(read_only=True, lock_wait_seconds=wait_seconds) as source:
            present = {name for (name,) in source.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            for table in SNAPSHOT_TABLES:
                if table in OPTIONAL_TABLES and table not in present:
                    metrics = ", ".join(f"{m} DOUBLE" for m in COMMUNITY_METRICS)
                    memory.execute(f"CREATE TABLE {table} ({OPTIONAL_TABLES[table]}, {metrics})")
                    continue
                memory.register("snapshot_rows", source.sql(f"SELECT * FROM {table}").to_arrow_table())
                memory.execute(f"CREATE TABLE {table} AS SELECT * FROM snapshot_rows")
                memory.unregister("snapshot_rows")
            copy_plugin_tables(source, memory)
        # The per-plugin read of the 31-day window would otherwise scan every day of every plugin.
        memory.execute("CREATE INDEX daily_installs_plugin ON daily_installs (plugin_name)")
        memory.execute("CREATE INDEX community_daily_plugin ON community_daily (plugin_name)")
        return memory

    def _cursor(self) -> tuple[duckdb.DuckDBPyConnection, int]:
        """A cursor on a current-enough snapshot, and the statements spent refreshing it (0 or 1)."""
        version, refreshed = self._file_version(), 0
        if version != self._version and (self._snapshot is None or time.monotonic() >= self._busy_until):
            with self._refresh_lock:
                if version != self._version:
                    try:
                        # With a snapshot to serve, never wait for a run; without one, wait briefly.
                        wait = 0.0 if self._snapshot is not None else self._warehouse.lock_wait_seconds
                        self._snapshot, self._version, refreshed = self._copy(wait), version, 1
                    except WarehouseBusyError:
                        if self._snapshot is None:
                            raise BackendUnavailable(
                                f"the warehouse is held by another process (a pipeline run) beyond the read API's "
                                f"{self._warehouse.lock_wait_seconds:g}s wait (METRICS_API_WAREHOUSE_LOCK_WAIT_SECONDS) "
                                "and no earlier snapshot exists: retry shortly"
                            ) from None
                        self._busy_until = time.monotonic() + RETRY_SECONDS
                    except duckdb.Error as error:
                        raise BackendUnavailable(f"cannot read the warehouse (METRICS_WAREHOUSE_PATH): {error}") from None
        return self._snapshot.cursor(), refreshed

    def read_plugin(self, query: PluginQuery) -> PluginFacts:
        params = {
            "plugin": query.plugin, "installs": query.installs, "commits": query.commits,
            "first": query.first_month or date.max, "last": query.last_month or date.min,  # limit 0: no months
            "day0": query.window_start, "day1": query.window_end,
        }
        cursor, refreshed = self._cursor()
        with cursor:
            rows = cursor.execute(PLUGIN_SQL, params).fetchall()
        facts = PluginFacts(backend_calls=1 + refreshed)
        for kind, month, count, latest in rows:
            if kind == "IM":
                facts.monthly_installs[month] = count
            elif kind == "IT":
                facts.total_installs = count
            elif kind == "IW":
                facts.installs_in_window = count or 0
            elif kind == "CM":
                facts.monthly_commits[month] = count
            elif kind == "CT":
                facts.total_commits = count or 0
            elif kind == "CL":
                facts.latest_commit_at = latest
            else:
                facts.last_complete_day[kind[1:]] = month
        return facts

    def read_community(self, query: CommunityQuery) -> CommunityFacts:
        params = {"plugin": query.plugin, "first": query.first_month or date.max, "last": query.last_month or date.min}
        cursor, refreshed = self._cursor()
        with cursor:
            rows = cursor.execute(COMMUNITY_SQL, params).fetchall()
        return CommunityFacts([CommunityRow(kind, repo, start, tuple(rest)) for kind, repo, start, *rest in rows],
                              backend_calls=1 + refreshed)

    def ping(self) -> None:
        cursor, _ = self._cursor()
        with cursor:
            cursor.execute("SELECT 1").fetchall()

    def export_page(self, request: ExportRequest, offset: int, limit: int) -> ExportPage:
        count_sql, page_sql, params = statements(request, "duckdb")
        cursor, refreshed = self._cursor()
        with cursor:
            total = cursor.execute(count_sql, params).fetchone()[0]
            if offset and offset >= total:  # past the last page: an OFFSET beyond BIGINT must never reach SQL
                return ExportPage(total, [], backend_calls=1 + refreshed)
            rows = cursor.execute(page_sql, [*params, limit, offset]).fetchall()
        return ExportPage(total, rows, backend_calls=2 + refreshed)

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
