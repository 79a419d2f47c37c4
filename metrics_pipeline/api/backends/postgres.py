"""Postgres (the sink's install_activity / github_activity): one statement per request from a small pool."""

from __future__ import annotations

import queue
from contextlib import ExitStack
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date

import psycopg

from metrics_pipeline.api.backends.base import (
    BackendUnavailable, CommunityFacts, CommunityQuery, CommunityRow, ExportPage, MetricsBackend, PluginFacts, PluginQuery,
)
from metrics_pipeline.api.export import COMMUNITY_SELECT, COMMUNITY_METRICS, ExportRequest, statements
from metrics_pipeline.resources.postgres import PostgresConfigError, PostgresResource

# kind, month, count, latest; ranges on period_key (= period_start for DAY/MONTH rows) use the primary
# key. The status table may not exist yet (status never published):
# it is read by a second statement so that a missing table does not fail the metrics.
PLUGIN_SQL = """
SELECT 'IM', period_start, install_count, NULL::timestamptz FROM install_activity
 WHERE plugin_name = %(plugin)s AND %(installs)s AND granularity = 'MONTH' AND period_key BETWEEN %(first)s AND %(last)s
UNION ALL SELECT 'IT', NULL, install_count, NULL FROM install_activity
 WHERE plugin_name = %(plugin)s AND %(installs)s AND granularity = 'TOTAL'
UNION ALL SELECT 'IW', NULL, sum(install_count), NULL FROM install_activity
 WHERE plugin_name = %(plugin)s AND %(installs)s AND granularity = 'DAY' AND period_key BETWEEN %(day0)s AND %(day1)s
UNION ALL SELECT 'CM', period_start, sum(commit_count), NULL FROM github_activity
 WHERE plugin_name = %(plugin)s AND %(commits)s AND granularity = 'MONTH' AND period_key BETWEEN %(first)s AND %(last)s
 GROUP BY period_start
UNION ALL SELECT 'CT', NULL, sum(commit_count), NULL FROM github_activity
 WHERE plugin_name = %(plugin)s AND %(commits)s AND granularity = 'TOTAL'
UNION ALL SELECT 'CL', NULL, NULL, max(latest_commit_at) FROM github_activity
 WHERE plugin_name = %(plugin)s AND %(commits)s AND granularity = 'LATEST'
"""
STATUS_SQL = "SELECT source, last_complete_day FROM pipeline_status"
# The plugin's TOTAL rows, its MONTH rows in [first, last] and each of its repos' last DAY, all on
# the primary key's (plugin_name, ...) prefix.
COMMUNITY_SQL = f"""
SELECT 'TOTAL', repo, NULL::date, {COMMUNITY_SELECT} FROM community_activity
 WHERE plugin_name = %(plugin)s AND granularity = 'TOTAL'
UNION ALL SELECT 'MONTH', repo, period_start, {COMMUNITY_SELECT} FROM community_activity
 WHERE plugin_name = %(plugin)s AND granularity = 'MONTH' AND period_key BETWEEN %(first)s AND %(last)s
UNION ALL SELECT 'DAY', repo, max(period_key), {", ".join(["NULL"] * len(COMMUNITY_METRICS))} FROM community_activity
 WHERE plugin_name = %(plugin)s AND granularity = 'DAY' GROUP BY repo
"""
HUB_TABLES = "install_activity/github_activity tables"
COMMUNITY_TABLE = "community_activity table"


class PostgresBackend(MetricsBackend):
    name = "postgres"
    serves_community = True

    def __init__(self, dsn: str, pool_size: int = 8):
        self._resource = PostgresResource(dsn=dsn)
        self._idle: queue.LifoQueue[tuple[psycopg.Connection, ExitStack]] = queue.LifoQueue(maxsize=pool_size)

    @contextmanager
    def _connection(self):
        try:
            connection, closer = self._idle.get_nowait()
        except queue.Empty:
            closer = ExitStack()
            try:
                connection = closer.enter_context(self._resource.connect())
            except PostgresConfigError as error:
                raise BackendUnavailable(str(error)) from None
            connection.autocommit = True
            connection.execute("SET TIME ZONE 'UTC'")
        try:
            yield connection
        except psycopg.OperationalError as error:  # connection lost: drop it, report 503
            closer.close()
            raise BackendUnavailable(f"Postgres (METRICS_POSTGRES_DSN) failed: {type(error).__name__}") from None
        except BaseException:
            closer.close()
            raise
        try:
            self._idle.put_nowait((connection, closer))
        except queue.Full:
            closer.close()

    def _run(self, work: Callable[[psycopg.Connection], object], tables: str = HUB_TABLES):
        try:
            with self._connection() as connection:
                return work(connection)
        except psycopg.errors.UndefinedTable:
            raise BackendUnavailable(
                f"Postgres (METRICS_POSTGRES_DSN) has no {tables} yet: run the Postgres sinks first"
            ) from None

    def read_plugin(self, query: PluginQuery) -> PluginFacts:
        params = {
            "plugin": query.plugin, "installs": query.installs, "commits": query.commits,
            "first": query.first_month or date.max, "last": query.last_month or date.min,
            "day0": query.window_start, "day1": query.window_end,
        }

        def work(connection):
            rows = connection.execute(PLUGIN_SQL, params).fetchall()
            try:
                status = connection.execute(STATUS_SQL).fetchall()
            except psycopg.errors.UndefinedTable:
                status = []
            return rows, status

        rows, status = self._run(work)
        facts = PluginFacts(backend_calls=2, last_complete_day=dict(status))
        for kind, month, count, latest in rows:
            if kind == "IM":
                facts.monthly_installs[month] = int(count)
            elif kind == "IT":
                facts.total_installs = int(count)
            elif kind == "IW":
                facts.installs_in_window = int(count or 0)
            elif kind == "CM":
                facts.monthly_commits[month] = int(count)
            elif kind == "CT":
                facts.total_commits = int(count or 0)
            elif kind == "CL":
                facts.latest_commit_at = latest
        return facts

    def read_community(self, query: CommunityQuery) -> CommunityFacts:
        params = {"plugin": query.plugin, "first": query.first_month or date.max, "last": query.last_month or date.min}
        rows = self._run(lambda connection: connection.execute(COMMUNITY_SQL, params).fetchall(), COMMUNITY_TABLE)
        return CommunityFacts([CommunityRow(kind, repo, start, tuple(rest)) for kind, repo, start, *rest in rows],
                              backend_calls=1)

    def ping(self) -> None:
        self._run(lambda connection: connection.execute("SELECT 1").fetchall())

    def export_page(self, request: ExportRequest, offset: int, limit: int) -> ExportPage:
        count_sql, page_sql, params = statements(request, "postgres")

        def work(connection):
            total = connection.execute(count_sql, params).fetchone()[0]
            if offset and offset >= total:  # past the last page: an OFFSET beyond bigint must never reach SQL
                return total, [], 1
            return total, connection.execute(page_sql, [*params, limit, offset]).fetchall(), 2

        tables = COMMUNITY_TABLE if "community_activity" in request.dataset.postgres_sql else HUB_TABLES
        total, rows, calls = self._run(work, tables)
        return ExportPage(total, rows, backend_calls=calls)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait()[1].close()
            except queue.Empty:
                return
