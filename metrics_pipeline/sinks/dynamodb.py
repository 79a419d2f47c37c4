"""DynamoDB sink: the hub's install-activity and github-activity tables, projected from the rollups.

A publish computes the desired items of the periods its rollups changed (scope.py), diffs them
against what it last published there, writes only the difference and records it (`published.py`).
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa

from metrics_pipeline import changes
from metrics_pipeline.resources.dynamodb import DynamoDBResource, WriteStats
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, transaction
from metrics_pipeline.sinks.dynamodb_tables import GITHUB_ACTIVITY, INSTALL_ACTIVITY, ensure_tables
from metrics_pipeline.sinks.published import PUTS_SQL, Changes, plan_changes, record_published, target_known
from metrics_pipeline.sinks.scope import SinkFeed, SinkScope, in_days, in_months
from metrics_pipeline.sinks.quarantine import (
    Refusal,
    quarantine_metadata,
    record_refusals,
    refuse_and_write,
    refused_keys,
    without_quarantined,
)

GITHUB_MONTH_WINDOW = 14  # months before the current one that keep MONTH items (15 in all)
PUT_CHUNK = 5000  # items built and written at a time

# Every desired item of the scope (sinks/scope.py: days, months, and whether totals changed).
INSTALL_ITEMS_SQL = f"""
SELECT pk, sk, type, count_n, ts_n, concat_ws('|', type, count_n, coalesce(ts_n, '')) AS item_value
FROM (
    SELECT plugin_name AS pk, 'DAY:' || strftime(download_day, '%Y%m%d') AS sk, 'DAY' AS type,
           install_count::VARCHAR AS count_n, epoch_ms(download_day::TIMESTAMP)::VARCHAR AS ts_n
    FROM daily_installs WHERE {in_days("download_day")}
    UNION ALL
    SELECT plugin_name, 'MONTH:' || strftime(month_start, '%Y%m'), 'MONTH',
           install_count::VARCHAR, epoch_ms(month_start::TIMESTAMP)::VARCHAR
    FROM installs_by_month WHERE {in_months("month_start")}
    UNION ALL
    SELECT plugin_name, 'TOTAL:', 'TOTAL', install_count::VARCHAR, NULL
    FROM total_installs WHERE $totals
)
"""
_DAY_OF_SK = "try_strptime(substr(p.sk, 5, 8), '%Y%m%d')::DATE"
_MONTH_OF_SK = "try_strptime(substr(p.sk, 7, 6) || '01', '%Y%m%d')::DATE"
INSTALL_PUBLISHED_IN_SCOPE = f"""
CASE WHEN starts_with(p.sk, 'DAY:') THEN {in_days(_DAY_OF_SK)}
     WHEN starts_with(p.sk, 'MONTH:') THEN {in_months(_MONTH_OF_SK)}
     ELSE $totals END
"""

# Parameters: the MONTH window's length in months (an item expires that long after its month),
# then the window's first and last month start.
GITHUB_ITEMS_SQL = f"""
SELECT pk, sk, type, repo, count_n, ts_n, expiry_n,
       concat_ws('|', type, repo, coalesce(count_n, ''), coalesce(ts_n, ''), coalesce(expiry_n, '')) AS item_value
FROM (
    SELECT plugin_name AS pk, 'LATEST:' || repo AS sk, 'LATEST' AS type, repo,
           NULL::VARCHAR AS count_n, epoch_ms(latest_commit_at)::VARCHAR AS ts_n, NULL::VARCHAR AS expiry_n
    FROM latest_commits WHERE $totals
    UNION ALL
    SELECT plugin_name, 'MONTH:' || strftime(month_start, '%Y%m') || ':' || repo, 'MONTH', repo,
           commit_count::VARCHAR, epoch_ms(month_start::TIMESTAMP)::VARCHAR,
           epoch(month_start + to_months(CAST($window_months AS INTEGER)))::BIGINT::VARCHAR
    FROM commits_by_month
    WHERE month_start >= $first_month AND month_start <= $last_month AND {in_months("month_start")}
    UNION ALL
    SELECT plugin_name, 'TOTAL:' || repo, 'TOTAL', repo, commit_count::VARCHAR, NULL, NULL
    FROM total_commits WHERE $totals
)
"""
GITHUB_PUBLISHED_IN_SCOPE = f"""
CASE WHEN starts_with(p.sk, 'MONTH:') THEN {in_months(_MONTH_OF_SK)} ELSE $totals END
"""


def github_month_window(as_of: date) -> tuple[date, date]:
    """First day of the month 14 months before `as_of`, through the first day of `as_of`'s month."""
    index = as_of.year * 12 + as_of.month - 1 - GITHUB_MONTH_WINDOW
    return date(index // 12, index % 12 + 1, 1), as_of.replace(day=1)


def _install_items(puts: pa.Table, now_ms: str) -> list[dict]:
    columns = puts.select(["pk", "sk", "type", "count_n", "ts_n"]).to_pydict()
    items = []
    for pk, sk, type_, count, ts in zip(*columns.values(), strict=True):
        item = {
            "plugin_name": {"S": pk}, "type_timestamp": {"S": sk}, "type": {"S": type_},
            "install_count": {"N": count}, "last_updated_timestamp": {"N": now_ms},
        }
        if ts is None:
            item["is_total"] = {"S": "true"}
        else:
            item["timestamp"] = {"N": ts}
        items.append(item)
    return items


def _github_items(puts: pa.Table, now_ms: str) -> list[dict]:
    columns = puts.select(["pk", "sk", "type", "repo", "count_n", "ts_n", "expiry_n"]).to_pydict()
    items = []
    for pk, sk, type_, repo, count, ts, expiry in zip(*columns.values(), strict=True):
        item = {
            "plugin_name": {"S": pk}, "type_identifier": {"S": sk}, "type": {"S": type_},
            "repo": {"S": repo}, "last_updated_timestamp": {"N": now_ms},
        }
        if count is not None:
            item["commit_count"] = {"N": count}
        if ts is not None:
            item["timestamp"] = {"N": ts}
        if expiry is not None:
            item["expiry"] = {"N": expiry}
        items.append(item)
    return items


@dataclass(frozen=True)
class ItemSet:
    suffix: str
    range_key: str
    sql: str
    build_items: Callable[[pa.Table, str], list[dict]]
    value_fields: tuple[tuple[str, str], ...]  # (attribute, DynamoDB type) joined into item_value
    total_flag: str | None = None  # attribute "true" on items without a timestamp (the GSI's key)
    params_for: Callable[[date], dict] = lambda as_of: {}  # the SQL's parameters for a run date
    published_in_scope: str = "TRUE"  # condition on a published key `p.sk`: is it in the scope?

    @property
    def published_name(self) -> str:
        """This sink's rows in the warehouse's `sink_published` table."""
        return f"dynamodb:{self.suffix}"


def _github_params(as_of: date) -> dict:
    first, last = github_month_window(as_of)
    return {"window_months": GITHUB_MONTH_WINDOW, "first_month": first, "last_month": last}


INSTALL_SINK = ItemSet(INSTALL_ACTIVITY, "type_timestamp", INSTALL_ITEMS_SQL, _install_items,
                       (("type", "S"), ("install_count", "N"), ("timestamp", "N")), total_flag="is_total",
                       published_in_scope=INSTALL_PUBLISHED_IN_SCOPE)
GITHUB_SINK = ItemSet(GITHUB_ACTIVITY, "type_identifier", GITHUB_ITEMS_SQL, _github_items,
                      (("type", "S"), ("repo", "S"), ("commit_count", "N"), ("timestamp", "N"), ("expiry", "N")),
                      params_for=_github_params, published_in_scope=GITHUB_PUBLISHED_IN_SCOPE)
MALFORMED = "\x00malformed"  # never equals a desired item_value


def stored_value(sink: ItemSet, item: dict) -> str:
    """A stored item's `item_value` as the desired-items SQL builds it; an item whose shape was
    tampered with (attribute types, missing or extra attributes) gets MALFORMED instead."""
    names, parts = {"plugin_name", sink.range_key, "last_updated_timestamp"}, []
    for name, type_ in sink.value_fields:
        attribute = item.get(name)
        if attribute is None:
            parts.append("")
        elif set(attribute) != {type_}:
            return MALFORMED
        else:
            parts.append(attribute[type_])
            names.add(name)
    if sink.total_flag is not None and "timestamp" not in item:
        if item.get(sink.total_flag) != {"S": "true"}:
            return MALFORMED
        names.add(sink.total_flag)
    if set(item) != names or set(item["last_updated_timestamp"]) != {"N"}:
        return MALFORMED
    return "|".join(parts)


def _scan_keys(client, table: str, range_key: str) -> pa.Table:
    """Every key in `table` (a Scan projecting only the keys)."""
    pks, sks, kwargs = [], [], {
        "TableName": table, "ProjectionExpression": "#pk, #sk",
        "ExpressionAttributeNames": {"#pk": "plugin_name", "#sk": range_key},
    }
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            pks.append(item["plugin_name"]["S"])
            sks.append(item[range_key]["S"])
        if "LastEvaluatedKey" not in page:
            return pa.table({"pk": pa.array(pks, pa.string()), "sk": pa.array(sks, pa.string())})
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def refused_values(puts: pa.Table, refusals: list[Refusal]) -> dict[tuple[str, str], str]:
    refused = {(r.pk, r.sk) for r in refusals}
    columns = puts.select(["pk", "sk", "item_value"]).to_pydict()
    return {(pk, sk): value for pk, sk, value in zip(*columns.values(), strict=True) if (pk, sk) in refused}


def _write_in_chunks(
    sink: ItemSet, dynamodb: DynamoDBResource, client, table: str, puts: Iterable[pa.RecordBatch], now_ms: str,
    delete_requests: list[dict], on_batch: Callable[[int], None] | None,
) -> tuple[WriteStats, list[Refusal], dict[tuple[str, str], str]]:
    """Build and write the puts a chunk (PUT_CHUNK items) at a time as they stream from the warehouse,
    then the deletes, so memory does not grow with the number of changed items; `on_batch` keeps
    counting across chunks. Returns the refusals and the values refused."""
    stats, refusals, values, done = WriteStats(), [], {}, [0]

    def progress(base: int) -> Callable[[int], None] | None:
        def report(finished: int) -> None:
            done[0] = max(done[0], base + finished)
            on_batch(base + finished)
        return None if on_batch is None else report

    def write(items: list[dict], deletes: list[dict]) -> list[Refusal]:
        chunk_stats, chunk_refusals = refuse_and_write(dynamodb, client, table, "plugin_name", sink.range_key,
                                                       items, deletes, progress(done[0]))
        stats.requests += chunk_stats.requests
        stats.retries += chunk_stats.retries
        refusals.extend(chunk_refusals)
        return chunk_refusals

    for batch in puts:
        chunk = pa.Table.from_batches([batch])
        values |= refused_values(chunk, write(sink.build_items(chunk, now_ms), []))
    if delete_requests:
        write([], delete_requests)
    return stats, refusals, values


def _pending_periods(con, sink: ItemSet, scope: SinkScope) -> SinkScope:
    """Widen the scope to keys left pending (a crash mid-publish, drift found by a read-back check),
    so the next publish rewrites them whatever changed."""
    sks = [row[0] for row in con.execute(
        "SELECT DISTINCT sk FROM sink_published WHERE sink = ? AND item_value IS NULL", [sink.published_name]).fetchall()]
    days, months, totals = [], [], False
    for sk in sks:
        kind, _, rest = sk.partition(":")
        try:
            if kind == "DAY":
                day = datetime.strptime(rest[:8], "%Y%m%d").date()
                days.append((day, day))
            elif kind == "MONTH":
                month = datetime.strptime(rest[:6] + "01", "%Y%m%d").date()
                months.append((month, month))
            else:
                totals = True
        except ValueError:
            return SinkScope.everything()
    return SinkScope(tuple(changes.merge([*scope.days, *days])), tuple(changes.merge([*scope.months, *months])),
                     scope.totals or totals)


def _publish(
    sink: ItemSet, warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource, params: dict,
    on_batch: Callable[[int], None] | None, feed: SinkFeed | None = None, widen: Callable | None = None,
) -> dict:
    """Publish the scope `feed`'s pending changes call for (everything without a feed), then move its cursor."""
    client = dynamodb.client()
    table = dynamodb.table_name(sink.suffix)
    target_id = ensure_tables(dynamodb, client)[table]
    name = sink.published_name
    desired_sql, desired_params = without_quarantined(sink.sql, params, name)
    with warehouse.connect() as con:
        todo = feed.pending(con) if feed else None
        scope = feed.scope(todo) if feed else SinkScope.everything()
        if not target_known(con, name, target_id):
            scope = SinkScope.everything()
        scope = _pending_periods(con, sink, scope)
        if widen is not None:
            scope = widen(con, scope)
        with scope.registered(con) as scope_params:
            changes_: Changes = plan_changes(
                con, name, target_id, lambda: _scan_keys(client, table, sink.range_key), desired_sql,
                desired_params | scope_params, sink.published_in_scope,
            )
        started = time.perf_counter()
        now_ms = str(int(time.time() * 1000))
        deletes = changes_.deletes.to_pydict()
        delete_requests = [
            {"DeleteRequest": {"Key": {"plugin_name": {"S": pk}, sink.range_key: {"S": sk}}}}
            for pk, sk in zip(deletes["pk"], deletes["sk"], strict=True)
        ]
        with con.sql(PUTS_SQL).to_arrow_reader(PUT_CHUNK) as puts:
            stats, refusals, refused = _write_in_chunks(sink, dynamodb, client, table, puts, now_ms, delete_requests,
                                                        on_batch)
        seconds = time.perf_counter() - started
        restated = record_published(con, name, changes_, refused_keys(refusals))
        with transaction(con):
            record_refusals(con, name, refusals, refused)
            if todo is not None:
                changes.advance(con, todo)
        quarantine = quarantine_metadata(con, name)
    return {
        "table": table,
        "scope": scope.describe(),
        "desired_items": changes_.desired,
        "written": changes_.puts - len(refusals),
        "deleted": changes_.deletes.num_rows,
        "unchanged": changes_.unchanged,
        "adopted_existing_keys": changes_.adopted,
        "restatements": restated,
        "quarantined_now": len(refusals),
        **quarantine,
        "batch_requests": stats.requests,
        "retried_requests": stats.retries,
        "write_seconds": round(seconds, 3),
    }


INSTALL_FEED = SinkFeed("dynamodb/install_activity", days=("daily_installs",),
                        months=("monthly_installs", "opening_installs"), totals=("total_installs",))
GITHUB_FEED = SinkFeed("dynamodb/github_activity", months=("monthly_commits", "opening_commits"),
                       totals=("total_commits", "latest_commits"))


def publish_install_activity(
    warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource, on_batch: Callable[[int], None] | None = None,
    feed: SinkFeed | None = None,
) -> dict:
    """Bring `{stack}-install-activity` to the DAY/MONTH/TOTAL install rollups: the periods `feed`
    says changed, or every item without one."""
    return _publish(INSTALL_SINK, warehouse, dynamodb, {}, on_batch, feed)


def _months_leaving_window(first: date) -> Callable:
    """Published MONTH items older than the window leave it: their months join the scope."""
    def widen(con, scope: SinkScope) -> SinkScope:
        old = con.execute(
            "SELECT DISTINCT substr(sk, 7, 6) FROM sink_published WHERE sink = ? AND starts_with(sk, 'MONTH:') "
            "AND substr(sk, 7, 6) < ?", [GITHUB_SINK.published_name, first.strftime("%Y%m")]).fetchall()
        months = [datetime.strptime(m + "01", "%Y%m%d").date() for (m,) in old if m.isdigit()]
        return scope.with_months([(m, m) for m in months])
    return widen


def publish_github_activity(
    warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource, as_of: date | None = None,
    on_batch: Callable[[int], None] | None = None, feed: SinkFeed | None = None,
) -> dict:
    """Bring `{stack}-github-activity` to the LATEST/TOTAL rollups and the 15-month MONTH window."""
    params = _github_params(as_of or datetime.now(UTC).date())
    result = _publish(GITHUB_SINK, warehouse, dynamodb, params, on_batch, feed, _months_leaving_window(params["first_month"]))
    return {**result, "month_window_start": params["first_month"].isoformat(),
            "month_window_end": params["last_month"].isoformat()}
