"""DynamoDB in the hub's layout, by key only (Query / BatchGetItem, never Scan), with an in-process cache.

A plugin page not in the cache costs two concurrent Queries: its install-activity items from the
window's first DAY to TOTAL (the 31 DAY items, every MONTH, the TOTAL: 'DAY:' < 'MONTH:' < 'TOTAL:')
and its whole github-activity partition (LATEST, <= 15 MONTH and TOTAL per repo). A cached page
costs none. The cache is versioned by the pipeline-status items (dynamodb_cache.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from botocore.exceptions import BotoCoreError, ClientError

from metrics_pipeline.api.backends.base import BackendUnavailable, MetricsBackend, PluginFacts, PluginQuery
from metrics_pipeline.api.backends.dynamodb_cache import AnswerCache, Status, StatusWatch
from metrics_pipeline.api.timeline import add_months
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.sinks.dynamodb import GITHUB_MONTH_WINDOW
from metrics_pipeline.sinks.dynamodb_tables import GITHUB_ACTIVITY, INSTALL_ACTIVITY
from metrics_pipeline.sinks.status import SOURCES, STATUS_TABLE


def _month(sort_key: str) -> date:
    """'MONTH:202402' or 'MONTH:202402:org/repo' -> 2024-02-01."""
    text = sort_key.split(":")[1]
    return date(int(text[:4]), int(text[4:6]), 1)


@dataclass(frozen=True)
class Installs:
    """One plugin's install items for one 31-day window: every month, the total and the window's sum."""

    months: dict[date, int] = field(default_factory=dict)
    total: int = 0
    in_window: int = 0


@dataclass(frozen=True)
class Commits:
    """One plugin's github-activity items, summed over its repos."""

    months: dict[date, int] = field(default_factory=dict)
    total: int = 0
    latest_ms: int | None = None


class DynamoDBBackend(MetricsBackend):
    name = "dynamodb"

    def __init__(self, stack: str, endpoint_url: str | None, region_name: str | None, workers: int = 16,
                 status_refresh_seconds: float = 30.0, cache_entries: int = 4096):
        self._resource = DynamoDBResource(stack=stack, endpoint_url=endpoint_url, region_name=region_name,
                                          max_workers=workers)
        self._client = self._resource.client()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="api-dynamodb")
        self._installs = self._resource.table_name(INSTALL_ACTIVITY)
        self._github = self._resource.table_name(GITHUB_ACTIVITY)
        self._status_table = self._resource.table_name(STATUS_TABLE)
        self._cache = AnswerCache(cache_entries)
        self._watch = StatusWatch(self._read_status, status_refresh_seconds, self._cache.clear)

    def _query(self, table: str, key: str, plugin: str, low: str | None = None, high: str | None = None) -> tuple[list, int]:
        """Every page of one key-condition Query (strongly consistent: a miss is cached for a day); (items, calls)."""
        kwargs = {"TableName": table, "ExpressionAttributeValues": {":p": {"S": plugin}},
                  "KeyConditionExpression": "plugin_name = :p", "ConsistentRead": True}
        if low is not None:
            kwargs["KeyConditionExpression"] += f" AND {key} BETWEEN :a AND :b"
            kwargs["ExpressionAttributeValues"].update({":a": {"S": low}, ":b": {"S": high}})
        items, calls = [], 0
        while True:
            page = self._client.query(**kwargs)
            calls += 1
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items, calls
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _read_status(self) -> Status:
        keys = {self._status_table: {"Keys": [{"source": {"S": s}} for s in SOURCES]}}
        items, calls = [], 0
        try:
            while keys and calls < 5:
                page = self._client.batch_get_item(RequestItems=keys)
                calls += 1
                items += page["Responses"].get(self._status_table, [])
                keys = page.get("UnprocessedKeys") or {}
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            return Status(version=())  # status never published: no last complete day
        days = {}
        for item in items:
            day = item.get("last_complete_day", {}).get("S")
            days[item["source"]["S"]] = date.fromisoformat(day) if day else None
        version = tuple(sorted((i["source"]["S"], i.get("last_complete_day", {}).get("S"),
                                i.get("recorded_at", {}).get("N")) for i in items))
        return Status(version, days)

    def _read_installs(self, query: PluginQuery) -> tuple[Installs, int]:
        items, calls = self._query(self._installs, "type_timestamp", query.plugin,
                                   f"DAY:{query.window_start:%Y%m%d}", "TOTAL:")
        months, total, in_window = {}, 0, 0
        last_day = f"DAY:{query.window_end:%Y%m%d}"
        for item in items:
            sort_key, count = item["type_timestamp"]["S"], int(item["install_count"]["N"])
            if sort_key == "TOTAL:":
                total = count
            elif sort_key.startswith("MONTH:"):
                months[_month(sort_key)] = count
            elif sort_key <= last_day:
                in_window += count
        return Installs(months, total, in_window), calls

    def _read_commits(self, query: PluginQuery) -> tuple[Commits, int]:
        items, calls = self._query(self._github, "type_identifier", query.plugin)
        months, total, latest = {}, 0, None
        for item in items:
            kind = item["type"]["S"]
            if kind == "TOTAL":
                total += int(item["commit_count"]["N"])
            elif kind == "LATEST":
                ms = int(item["timestamp"]["N"])
                latest = max(ms, latest if latest is not None else ms)
            elif kind == "MONTH":
                month = _month(item["type_identifier"]["S"])
                months[month] = months.get(month, 0) + int(item["commit_count"]["N"])
        return Commits(months, total, latest), calls

    def read_plugin(self, query: PluginQuery) -> PluginFacts:
        calls = 0
        try:
            status = self._watch.current()
            if status is None:  # the background read failed or hangs: read it here, before the data
                status, calls = self._watch.refresh(), 1
            keys = {"installs": ("installs", query.plugin, query.window_start, query.window_end),
                    "commits": ("commits", query.plugin)}
            readers = {"installs": self._read_installs, "commits": self._read_commits}
            wanted = [part for part in ("installs", "commits") if getattr(query, part)]
            found = {part: self._cache.get(keys[part], status.version) for part in wanted}
            jobs = {part: self._pool.submit(readers[part], query) for part in wanted if found[part] is None}
            for part, job in jobs.items():
                found[part], part_calls = job.result()
                calls += part_calls
                self._cache.put(keys[part], status.version, found[part])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise BackendUnavailable(f"DynamoDB read failed ({code}); check METRICS_DYNAMODB_STACK and the endpoint") from None
        except BotoCoreError as error:
            raise BackendUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from None
        facts = PluginFacts(backend_calls=calls, last_complete_day=dict(status.last_complete_day))
        if query.installs:
            installs = found["installs"]
            facts.total_installs, facts.installs_in_window = installs.total, installs.in_window
            if query.first_month is not None:
                facts.monthly_installs = {m: n for m, n in installs.months.items()
                                          if query.first_month <= m <= query.last_month}
        if query.commits:
            commits = found["commits"]
            facts.total_commits, facts.latest_commit_ms = commits.total, commits.latest_ms
            if query.first_month is not None:
                facts.monthly_commits = {m: n for m, n in commits.months.items()
                                         if query.first_month <= m <= query.last_month}
        # MONTH items cover the 15 months ending with the publish run's month.
        facts.commit_months_from = add_months(query.window_end.replace(day=1), -GITHUB_MONTH_WINDOW)
        return facts

    def ping(self) -> None:
        try:
            self._client.describe_table(TableName=self._installs)
        except (ClientError, BotoCoreError) as error:
            raise BackendUnavailable(f"DynamoDB table {self._installs} is not readable: {type(error).__name__}") from None

    def close(self) -> None:
        self._watch.close()
        self._pool.shutdown(wait=False)
