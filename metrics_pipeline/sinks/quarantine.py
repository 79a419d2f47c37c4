"""Items a sink refuses: checked before writing, isolated when DynamoDB rejects a batch, and
recorded in `sink_quarantine` so the rest of the sink is written and the refusal stays visible."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from metrics_pipeline.resources.dynamodb import DynamoDBResource, DynamoDBWriteError, WriteStats
from metrics_pipeline.resources.warehouse import transaction

PARTITION_KEY_LIMIT = 2048  # bytes, UTF-8
SORT_KEY_LIMIT = 1024
ITEM_LIMIT = 400 * 1024

EMPTY_KEY = "empty key"
PARTITION_KEY_TOO_LONG = f"partition key over {PARTITION_KEY_LIMIT} bytes"
SORT_KEY_TOO_LONG = f"sort key over {SORT_KEY_LIMIT} bytes"
ITEM_TOO_LARGE = "item over 400 KB"
REJECTED = "rejected by DynamoDB"  # ValidationException: the message follows


@dataclass(frozen=True)
class Refusal:
    pk: str
    sk: str
    reason: str
    key_ok: bool  # the key itself is storable (so a stale old item under it can be deleted)


def key_refusal(pk: str, sk: str) -> str | None:
    if not pk or not sk:
        return EMPTY_KEY
    if len(pk.encode()) > PARTITION_KEY_LIMIT:
        return PARTITION_KEY_TOO_LONG
    if len(sk.encode()) > SORT_KEY_LIMIT:
        return SORT_KEY_TOO_LONG
    return None


def item_size(item: dict[str, dict[str, str]]) -> int:
    """DynamoDB's item size, rounded up: attribute names plus values (numbers as their text)."""
    return sum(len(name.encode()) + len(next(iter(value.values())).encode()) + 1 for name, value in item.items())


def item_refusal(item: dict, hash_key: str, range_key: str) -> Refusal | None:
    """Why DynamoDB would refuse this item, checked locally (UTF-8 byte lengths)."""
    pk, sk = item[hash_key]["S"], item[range_key]["S"]
    reason = key_refusal(pk, sk)
    if reason is not None:
        return Refusal(pk, sk, reason, key_ok=False)
    if item_size(item) > ITEM_LIMIT:
        return Refusal(pk, sk, ITEM_TOO_LARGE, key_ok=True)
    return None


def request_key(request: dict, hash_key: str, range_key: str) -> tuple[str, str]:
    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
    return body[hash_key]["S"], body[range_key]["S"]


def write_isolating(
    dynamodb: DynamoDBResource, table: str, requests: Sequence[dict], client: Any,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[WriteStats, list[tuple[dict, str]]]:
    """Write the requests; when DynamoDB rejects a batch as invalid, split it until the bad
    request is alone, so every other request is written. Returns (stats, [(request, message)])."""
    try:
        return dynamodb.write_batches(table, requests, client, on_batch), []
    except DynamoDBWriteError as error:
        if error.code != "ValidationException":
            raise
        if len(requests) == 1:
            return WriteStats(), [(requests[0], str(error).split("ValidationException", 1)[-1].strip())]
    half = len(requests) // 2
    stats, rejected = WriteStats(), []
    for part in (requests[:half], requests[half:]):
        part_stats, part_rejected = write_isolating(dynamodb, table, part, client)
        stats.requests += part_stats.requests
        stats.retries += part_stats.retries
        rejected += part_rejected
    return stats, rejected


def without_quarantined(sql: str, params: dict, sink: str) -> tuple[str, dict]:
    """`sql`'s desired items minus those refused before with the same value (not offered again)."""
    wrapped = f"""
        SELECT d.* FROM ({sql}) d
        WHERE NOT EXISTS (
            SELECT 1 FROM sink_quarantine q
            WHERE q.sink = $quarantine_sink AND q.pk = d.pk AND q.sk = d.sk AND q.item_value IS NOT DISTINCT FROM d.item_value
        )
    """
    return wrapped, {**params, "quarantine_sink": sink}


def record_refusals(con: duckdb.DuckDBPyConnection, sink: str, refusals: list[Refusal], values: dict) -> None:
    """Upsert refused items into `sink_quarantine` (values: (pk, sk) -> the refused item_value)."""
    if not refusals:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = pa.table({
        "pk": [r.pk for r in refusals], "sk": [r.sk for r in refusals], "reason": [r.reason for r in refusals],
        "item_value": pa.array([values.get((r.pk, r.sk)) for r in refusals], pa.string()),
    })
    con.register("sink_refused", rows)
    try:
        con.execute(
            """
            INSERT INTO sink_quarantine (sink, pk, sk, reason, seen_at, item_value)
            SELECT DISTINCT ON (pk, sk) ?, pk, sk, reason, ?, item_value FROM sink_refused
            ON CONFLICT (sink, pk, sk) DO UPDATE
            SET reason = excluded.reason, seen_at = excluded.seen_at, item_value = excluded.item_value
            """,
            [sink, now],
        )
    finally:
        con.unregister("sink_refused")


def quarantine_metadata(con: duckdb.DuckDBPyConnection, sink: str, examples: int = 5) -> dict:
    """What is in quarantine for this sink: a count, counts by reason and a few (shortened) keys."""
    by_reason = dict(con.execute(
        "SELECT reason, count(*) FROM sink_quarantine WHERE sink = ? GROUP BY reason ORDER BY reason", [sink]
    ).fetchall())
    sample = con.execute(
        "SELECT left(pk, 60), strlen(pk), left(sk, 60), reason FROM sink_quarantine WHERE sink = ?"
        " ORDER BY seen_at DESC, pk, sk LIMIT ?",
        [sink, examples],
    ).fetchall()
    return {
        "quarantined_items": sum(by_reason.values()),
        "quarantine_reasons": by_reason,
        "quarantine_examples": "\n".join(f"{pk}… ({size} bytes) {sk}: {reason}" if size > 60 else f"{pk} {sk}: {reason}"
                                         for pk, size, sk, reason in sample),
    }


def refuse_and_write(
    dynamodb: DynamoDBResource, client: Any, table: str, hash_key: str, range_key: str,
    items: list[dict], deletes: list[dict], on_batch: Callable[[int], None] | None = None,
) -> tuple[WriteStats, list[Refusal]]:
    """Write puts and deletes, leaving out (and returning) the items DynamoDB cannot store; an item
    refused for its value while its key is fine is deleted, so no stale version stays behind."""
    refusals, requests = [], []
    for item in items:
        refusal = item_refusal(item, hash_key, range_key)
        if refusal is None:
            requests.append({"PutRequest": {"Item": item}})
        else:
            refusals.append(refusal)
    requests += deletes
    stats, rejected = write_isolating(dynamodb, table, requests, client, on_batch)
    for request, message in rejected:
        pk, sk = request_key(request, hash_key, range_key)
        refusals.append(Refusal(pk, sk, f"{REJECTED}: {message}"[:300], key_ok=key_refusal(pk, sk) is None))
    stale = [{"DeleteRequest": {"Key": {hash_key: {"S": r.pk}, range_key: {"S": r.sk}}}} for r in refusals if r.key_ok]
    if stale:
        more, _ = write_isolating(dynamodb, table, stale, client)
        stats.requests += more.requests
        stats.retries += more.retries
    return stats, refusals


def refused_keys(refusals: list[Refusal]) -> pa.Table:
    return pa.table({"pk": pa.array([r.pk for r in refusals], pa.string()),
                     "sk": pa.array([r.sk for r in refusals], pa.string())})



# Postgres: a primary-key entry must fit a btree index row (2,704 bytes with its overhead).
POSTGRES_KEY_LIMIT = 2600  # bytes of UTF-8 text over all key columns
POSTGRES_KEY_TOO_LONG = f"key over {POSTGRES_KEY_LIMIT} bytes (Postgres index row limit)"


def forget_refusals(con: duckdb.DuckDBPyConnection, sink: str) -> None:
    """A whole-table publish starts from no refusals: those still due are recorded again."""
    con.execute("DELETE FROM sink_quarantine WHERE sink = ?", [sink])


def refuse_long_keys(con: duckdb.DuckDBPyConnection, sink: str, key_columns: list[str],
                     rows: pa.RecordBatch) -> pa.RecordBatch:
    """Rows whose key Postgres cannot index are left out and recorded in `sink_quarantine`."""
    sizes = None
    for name in key_columns:
        if pa.types.is_string(rows.schema.field(name).type) or pa.types.is_large_string(rows.schema.field(name).type):
            size = pc.fill_null(pc.binary_length(rows[name]), 0)
            sizes = size if sizes is None else pc.add(sizes, size)
    refused_mask = None if sizes is None else pc.greater(sizes, POSTGRES_KEY_LIMIT)
    if refused_mask is None or not pc.any(refused_mask).as_py():
        return rows
    now = datetime.now(UTC).replace(tzinfo=None)
    records = [[sink, row[key_columns[0]], "|".join("" if row[c] is None else str(row[c]) for c in key_columns[1:]),
                POSTGRES_KEY_TOO_LONG, now] for row in rows.filter(refused_mask).select(key_columns).to_pylist()]
    con.executemany("INSERT INTO sink_quarantine (sink, pk, sk, reason, seen_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (sink, pk, sk) DO NOTHING", records)
    return rows.filter(pc.invert(refused_mask))
