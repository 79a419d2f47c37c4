"""DynamoDB in the hub's layout, by key only (Query / GetItem / BatchGetItem, never Scan), reads concurrent.

Per /metrics request: the installs months + TOTAL in one Query (sort keys 'MONTH:first' ..
'TOTAL:'), the 31 DAY items in one Query, the plugin's github-activity partition (LATEST,
<= 15 MONTH and TOTAL items per repo) in one Query, and the status items in one BatchGetItem.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from botocore.exceptions import BotoCoreError, ClientError

from metrics_pipeline.api.backends.base import BackendUnavailable, MetricsBackend, PluginFacts, PluginQuery
from metrics_pipeline.api.timeline import add_months
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.sinks.dynamodb import GITHUB_MONTH_WINDOW
from metrics_pipeline.sinks.dynamodb_tables import GITHUB_ACTIVITY, INSTALL_ACTIVITY
from metrics_pipeline.sinks.status import SOURCES, STATUS_TABLE


def _month(sort_key: str) -> date:
    """'MONTH:202402' or 'MONTH:202402:org/repo' -> 2024-02-01."""
    text = sort_key.split(":")[1]
    return date(int(text[:4]), int(text[4:6]), 1)


class DynamoDBBackend(MetricsBackend):
    name = "dynamodb"

    def __init__(self, stack: str, endpoint_url: str | None, region_name: str | None, workers: int = 16):
        self._resource = DynamoDBResource(stack=stack, endpoint_url=endpoint_url, region_name=region_name,
                                          max_workers=workers)
        self._client = self._resource.client()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="api-dynamodb")
        self._installs = self._resource.table_name(INSTALL_ACTIVITY)
        self._github = self._resource.table_name(GITHUB_ACTIVITY)
        self._status = self._resource.table_name(STATUS_TABLE)

    def _query(self, table: str, key: str, plugin: str, low: str | None = None, high: str | None = None) -> tuple[list, int]:
        """Every page of one key-condition Query; returns (items, calls)."""
        kwargs = {"TableName": table, "ExpressionAttributeValues": {":p": {"S": plugin}},
                  "KeyConditionExpression": "plugin_name = :p"}
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

    def _total_installs(self, plugin: str) -> tuple[list, int]:
        item = self._client.get_item(
            TableName=self._installs, Key={"plugin_name": {"S": plugin}, "type_timestamp": {"S": "TOTAL:"}}
        ).get("Item")
        return ([item] if item else []), 1

    def _status_items(self) -> tuple[list, int]:
        keys = {self._status: {"Keys": [{"source": {"S": s}} for s in SOURCES]}}
        items, calls = [], 0
        try:
            while keys and calls < 5:
                page = self._client.batch_get_item(RequestItems=keys)
                calls += 1
                items += page["Responses"].get(self._status, [])
                keys = page.get("UnprocessedKeys") or {}
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            calls += 1  # status never published: no last complete day
        return items, calls

    def read_plugin(self, query: PluginQuery) -> PluginFacts:
        plugin, submit = query.plugin, self._pool.submit
        jobs = {"status": submit(self._status_items)}
        if query.installs:
            if query.first_month is not None:
                jobs["months"] = submit(self._query, self._installs, "type_timestamp", plugin,
                                        f"MONTH:{query.first_month:%Y%m}", "TOTAL:")
            else:
                jobs["months"] = submit(self._total_installs, plugin)
            jobs["days"] = submit(self._query, self._installs, "type_timestamp", plugin,
                                  f"DAY:{query.window_start:%Y%m%d}", f"DAY:{query.window_end:%Y%m%d}")
        if query.commits:
            jobs["github"] = submit(self._query, self._github, "type_identifier", plugin)
        try:
            results = {name: job.result() for name, job in jobs.items()}
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise BackendUnavailable(f"DynamoDB read failed ({code}); check METRICS_DYNAMODB_STACK and the endpoint") from None
        except BotoCoreError as error:
            raise BackendUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from None
        facts = PluginFacts(backend_calls=sum(calls for _, calls in results.values()))
        for item in results.get("months", ([], 0))[0]:
            sort_key, count = item["type_timestamp"]["S"], int(item["install_count"]["N"])
            if sort_key == "TOTAL:":
                facts.total_installs = count
            elif _month(sort_key) <= query.last_month:
                facts.monthly_installs[_month(sort_key)] = count
        facts.installs_in_window = sum(int(i["install_count"]["N"]) for i in results.get("days", ([], 0))[0])
        for item in results.get("github", ([], 0))[0]:
            kind, sort_key = item["type"]["S"], item["type_identifier"]["S"]
            if kind == "TOTAL":
                facts.total_commits += int(item["commit_count"]["N"])
            elif kind == "LATEST":
                ms = int(item["timestamp"]["N"])
                facts.latest_commit_ms = max(ms, facts.latest_commit_ms or ms)
            elif kind == "MONTH" and query.first_month is not None and query.first_month <= _month(sort_key) <= query.last_month:
                month = _month(sort_key)
                facts.monthly_commits[month] = facts.monthly_commits.get(month, 0) + int(item["commit_count"]["N"])
        for item in results["status"][0]:
            day = item.get("last_complete_day", {}).get("S")
            facts.last_complete_day[item["source"]["S"]] = date.fromisoformat(day) if day else None
        # MONTH items cover the 15 months ending with the publish run's month.
        facts.commit_months_from = add_months(query.window_end.replace(day=1), -GITHUB_MONTH_WINDOW)
        return facts

    def ping(self) -> None:
        try:
            self._client.describe_table(TableName=self._installs)
        except (ClientError, BotoCoreError) as error:
            raise BackendUnavailable(f"DynamoDB table {self._installs} is not readable: {type(error).__name__}") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False)
