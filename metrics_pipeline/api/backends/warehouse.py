"""The DuckDB warehouse, read-only: opened per request with a short bounded lock wait, then closed.

A DuckDB file admits one process at a time, even read-only. The API holds it only while its
queries run (one connection at a time per API process), so a pipeline run waits at most that
long; while a run holds the file, requests wait `lock_wait_seconds` and then answer 503.
"""

from __future__ import annotations

import threading
from datetime import date

import duckdb

from metrics_pipeline.api.backends.base import BackendUnavailable, ExportPage, MetricsBackend, PluginFacts, PluginQuery
from metrics_pipeline.api.export import ExportRequest, statements
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError

# kind, month, count, latest; months from the views, which include history before the first partition.
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
UNION ALL SELECT 'S' || source, max(day), NULL, NULL FROM source_fingerprints GROUP BY source
"""


class WarehouseBackend(MetricsBackend):
    name = "duckdb"

    def __init__(self, path: str, lock_wait_seconds: float):
        self._warehouse = DuckDBWarehouse(path=path, lock_wait_seconds=lock_wait_seconds)
        self._lock = threading.Lock()  # one open connection per API process, released between requests

    def _run(self, work):
        with self._lock:
            try:
                with self._warehouse.connect(read_only=True) as con:
                    return work(con)
            except WarehouseBusyError:
                raise BackendUnavailable(
                    f"the warehouse is held by another process (a pipeline run) beyond the read API's "
                    f"{self._warehouse.lock_wait_seconds:g}s wait (METRICS_API_WAREHOUSE_LOCK_WAIT_SECONDS): "
                    "retry shortly"
                ) from None
            except duckdb.IOException as error:
                raise BackendUnavailable(f"cannot open the warehouse (METRICS_WAREHOUSE_PATH): {error}") from None

    def read_plugin(self, query: PluginQuery) -> PluginFacts:
        params = {
            "plugin": query.plugin, "installs": query.installs, "commits": query.commits,
            "first": query.first_month or date.max, "last": query.last_month or date.min,
            "day0": query.window_start, "day1": query.window_end,
        }
        rows = self._run(lambda con: con.execute(PLUGIN_SQL, params).fetchall())
        facts = PluginFacts(backend_calls=2)  # open + one statement
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

    def ping(self) -> None:
        self._run(lambda con: con.execute("SELECT 1").fetchall())

    def export_page(self, request: ExportRequest, offset: int, limit: int) -> ExportPage:
        count_sql, page_sql, params = statements(request, "duckdb")

        def work(con):
            total = con.execute(count_sql, params).fetchone()[0]
            return total, con.execute(page_sql, [*params, limit, offset]).fetchall()

        total, rows = self._run(work)
        return ExportPage(total, rows, backend_calls=3)
