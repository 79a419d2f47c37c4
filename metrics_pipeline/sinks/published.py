"""What a key-value sink last wrote, kept in the warehouse, so each run writes only the difference.

Protocol (crash-safe): `plan_changes` computes desired-vs-published in one transaction and marks
every key about to be written as *pending* (value NULL); the caller writes; `record_published`
stores the written values and forgets deleted keys. A crash after planning leaves pending keys,
which never equal a desired value, so the next run rewrites (or deletes) them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from metrics_pipeline.quality.restatements import PREVIOUS_SCHEMA, record_restatements
from metrics_pipeline.resources.warehouse import bind, transaction


# The desired rows (every column of the desired query) whose value changed, in key order: the temp
# table `plan_changes` leaves on its connection, read a chunk at a time by the writer.
PUTS_SQL = "SELECT * FROM sink_puts ORDER BY pk, sk"


@dataclass
class Changes:
    """The difference between the desired items and what was last published."""

    puts: int  # rows of the temp table sink_puts (PUTS_SQL)
    deletes: pa.Table  # (pk, sk) published but no longer desired
    desired: int
    adopted: int = 0  # keys found in a table we had not published to before
    # (pk, sk, old_value, new_value) of keys whose published value changes (new NULL: deleted)
    previous: pa.Table = field(default_factory=PREVIOUS_SCHEMA.empty_table)

    @property
    def unchanged(self) -> int:
        return self.desired - self.puts


def _adopt_if_target_changed(
    con: duckdb.DuckDBPyConnection, sink: str, target_id: str, list_keys: Callable[[], pa.Table]
) -> int:
    """A table we have not published to (first run, recreated, restored) may hold anything:
    forget our records and treat every key it holds as pending, so each is rewritten or deleted."""
    row = con.execute("SELECT target_id FROM sink_targets WHERE sink = ?", [sink]).fetchone()
    if row is not None and row[0] == target_id:
        return 0
    con.execute("DELETE FROM sink_published WHERE sink = ?", [sink])
    existing = list_keys()
    con.register("sink_existing", existing)
    try:
        con.execute("INSERT INTO sink_published SELECT DISTINCT ?, pk, sk, NULL, NULL FROM sink_existing", [sink])
    finally:
        con.unregister("sink_existing")
    con.execute(
        "INSERT INTO sink_targets VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET target_id = excluded.target_id",
        [sink, target_id],
    )
    return existing.num_rows


def target_known(con: duckdb.DuckDBPyConnection, sink: str, target_id: str) -> bool:
    """Whether we published to exactly this table before (a new one must be compared whole)."""
    row = con.execute("SELECT target_id FROM sink_targets WHERE sink = ?", [sink]).fetchone()
    return row is not None and row[0] == target_id


def plan_changes(
    con: duckdb.DuckDBPyConnection, sink: str, target_id: str, list_keys: Callable[[], pa.Table],
    desired_sql: str, params: dict | None = None, published_filter: str = "TRUE",
) -> Changes:
    """Diff `desired_sql` (columns pk, sk, item_value, ...attributes) against the published state
    of the keys `published_filter` (an SQL condition on `p.sk`, same parameters) selects: the scope.
    The changed rows stay in the temp table `sink_puts` (PUTS_SQL) until `record_published`.

    `list_keys()` returns every (pk, sk) in the target; it runs only when the target is new to us.
    """
    params = params or {}
    scoped = f"p.sink = $sink AND ({published_filter})"
    with transaction(con):
        adopted = _adopt_if_target_changed(con, sink, target_id, list_keys)
        con.execute(f"CREATE OR REPLACE TEMP TABLE sink_desired AS {desired_sql}", bind(desired_sql, params))
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE sink_puts AS
            SELECT d.* FROM sink_desired d
            LEFT JOIN sink_published p ON p.sink = $sink AND p.pk = d.pk AND p.sk = d.sk
            WHERE p.item_value IS DISTINCT FROM d.item_value
            """,
            {"sink": sink},
        )
        in_scope = f"CREATE OR REPLACE TEMP TABLE sink_in_scope AS SELECT p.pk, p.sk, p.item_value FROM sink_published p WHERE {scoped}"
        con.execute(in_scope, bind(in_scope, params | {"sink": sink}))
        deletes = con.sql(
            """
            SELECT p.pk, p.sk FROM sink_in_scope p
            WHERE NOT EXISTS (SELECT 1 FROM sink_desired d WHERE d.pk = p.pk AND d.sk = p.sk)
            ORDER BY p.pk, p.sk
            """
        ).to_arrow_table()
        previous = con.sql(
            """
            SELECT p.pk, p.sk, p.item_value AS old_value, d.item_value AS new_value
            FROM sink_in_scope p LEFT JOIN sink_puts d USING (pk, sk)
            WHERE p.item_value IS NOT NULL
              AND (d.pk IS NOT NULL OR NOT EXISTS (SELECT 1 FROM sink_desired s WHERE s.pk = p.pk AND s.sk = p.sk))
            ORDER BY p.pk, p.sk
            """
        ).to_arrow_table().cast(PREVIOUS_SCHEMA)
        con.execute("DROP TABLE sink_in_scope")
        puts = con.execute("SELECT count(*) FROM sink_puts").fetchall()[0][0]
        desired = con.execute("SELECT count(*) FROM sink_desired").fetchall()[0][0]
        con.execute("DROP TABLE sink_desired")
    # Pending before anything is written; a crash between chunks leaves some keys marked, none written.
    for first in range(0, puts, CHUNK_ROWS):
        with transaction(con):
            _upsert(con, sink, _PUTS_CHUNK, "NULL", None, [first, first + CHUNK_ROWS])
    return Changes(puts=puts, deletes=deletes, desired=desired, adopted=adopted, previous=previous)


# Keys set per transaction: DuckDB holds an UPDATE's old values in memory until it commits (1.4M keys in
# one transaction ran a 256 MB warehouse out of memory).
CHUNK_ROWS = 100_000
# One chunk of sink_puts by row number (a CREATE TABLE AS numbers its rows 0..n-1): parameters first, end.
_PUTS_CHUNK = "(SELECT pk, sk, item_value FROM sink_puts WHERE rowid >= ? AND rowid < ?)"


def _upsert(con: duckdb.DuckDBPyConnection, sink: str, source: str, value: str, published_at: datetime | None,
            source_params: list | None = None) -> None:
    """Set (pk, sk) of `source` to `value` in sink_published: an UPDATE of the keys already there,
    then a plain insert of the rest (in DuckDB much cheaper than INSERT ... ON CONFLICT per row).
    `source` and `value` are trusted constants of this module; `source_params` its parameters."""
    source_params = source_params or []
    con.execute(
        f"""
        UPDATE sink_published SET item_value = {value}, published_at = ?
        FROM {source} w WHERE sink_published.sink = ? AND sink_published.pk = w.pk AND sink_published.sk = w.sk
        """,
        [published_at, *source_params, sink],
    )
    con.execute(
        f"""
        INSERT INTO sink_published (sink, pk, sk, item_value, published_at)
        SELECT ?, w.pk, w.sk, {value}, ? FROM {source} w
        WHERE NOT EXISTS (SELECT 1 FROM sink_published p WHERE p.sink = ? AND p.pk = w.pk AND p.sk = w.sk)
        """,
        [sink, published_at, *source_params, sink],
    )


def record_published(con: duckdb.DuckDBPyConnection, sink: str, changes: Changes, refused: pa.Table) -> int:
    """After a successful write: store the written values (`sink_puts` less the `refused` keys, whose
    pending marks are dropped like deleted keys'), forget the deleted keys and log the already-published
    values that changed (quality/restatements.py); then `sink_puts` goes. The log and the deletes share
    the first chunk's transaction: after a crash, keys of later chunks are still pending, and pending
    keys are rewritten without being logged again."""
    deleted = pa.concat_tables([changes.deletes.select(["pk", "sk"]), refused.select(["pk", "sk"])])
    now = datetime.now(UTC).replace(tzinfo=None)
    written = f"(SELECT * FROM {_PUTS_CHUNK} p WHERE NOT EXISTS (SELECT 1 FROM sink_refused_keys r " \
              "WHERE r.pk = p.pk AND r.sk = p.sk))"
    con.register("sink_refused_keys", refused)
    con.register("sink_deleted", deleted)
    try:
        for first in range(0, max(changes.puts, 1), CHUNK_ROWS):
            with transaction(con):
                _upsert(con, sink, written, "w.item_value", now, [first, first + CHUNK_ROWS])
                if first == 0:
                    con.execute(
                        "DELETE FROM sink_published USING sink_deleted d"
                        " WHERE sink_published.sink = ? AND sink_published.pk = d.pk AND sink_published.sk = d.sk",
                        [sink],
                    )
                    restated = record_restatements(con, sink, _without(changes.previous, refused), now)
        con.execute("DROP TABLE sink_puts")
        return restated
    finally:
        con.unregister("sink_refused_keys")
        con.unregister("sink_deleted")


def _without(previous: pa.Table, refused: pa.Table) -> pa.Table:
    """Restatements of keys that were not refused (a refused key's published value did not change)."""
    if refused.num_rows == 0:
        return previous
    gone = set(zip(refused["pk"].to_pylist(), refused["sk"].to_pylist()))
    keep = [(pk, sk) not in gone for pk, sk in zip(previous["pk"].to_pylist(), previous["sk"].to_pylist())]
    return previous.filter(pa.array(keep, pa.bool_()))
