"""The change log: every write records which periods of its table changed; every rollup, plugin
and sink reads what changed since its cursor and moves the cursor in the same transaction.

A run therefore recomputes and publishes only what changed (not all history), a consumer that
failed or never ran catches up on its next run, and a crash before the cursor moves only repeats
idempotent work. The log and the cursors live in the warehouse, so a fresh container resumes
exactly where the last run stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pyarrow as pa

Range = tuple[date, date]  # inclusive days
WHOLE: Range = (date.min, date.max)


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Overlapping or adjacent ranges joined, sorted."""
    merged: list[Range] = []
    for first, last in sorted(ranges):
        if merged and (merged[-1][1] == date.max or first <= merged[-1][1] + timedelta(days=1)):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def day_ranges(days: Iterable[date]) -> list[Range]:
    return merge((day, day) for day in days)


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def whole_months(ranges: Iterable[Range]) -> list[Range]:
    """Each range widened to the calendar months it touches (a month's rollup reads all its days)."""
    return merge((first.replace(day=1), last if last == WHOLE[1] else _month_end(last)) for first, last in ranges)


def describe(ranges: Sequence[Range], limit: int = 6) -> str:
    """Ranges as short text for metadata and logs, e.g. '2024-01-01..2024-01-31, 2024-03-05 (+2 more)'."""
    if list(ranges) == [WHOLE]:
        return "all"
    parts = [f"{a}" if a == b else f"{a}..{b}" for a, b in ranges[:limit]]
    return ", ".join(parts) + (f" (+{len(ranges) - limit} more)" if len(ranges) > limit else "")


def record(con: duckdb.DuckDBPyConnection, table: str, ranges: Iterable[Range]) -> None:
    """Note that these periods of `table` changed; call in the transaction that changed them."""
    rows = merge(ranges)
    if rows:
        con.executemany(
            "INSERT INTO changes (table_name, first_day, last_day, recorded_at) VALUES (?, ?, ?, now()::TIMESTAMP)",
            [[table, first, last] for first, last in rows],
        )


@dataclass(frozen=True)
class Pending:
    """What changed in a consumer's inputs since its cursor, up to `upto`."""

    consumer: str
    upto: int
    by_table: dict[str, list[Range]]
    first_run: bool = False  # no cursor yet: everything the inputs hold is pending

    def ranges(self, *tables: str) -> list[Range]:
        return merge(r for t in (tables or self.by_table) for r in self.by_table.get(t, []))

    def __bool__(self) -> bool:
        return any(self.by_table.values())


def newest(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchall()[0][0]


def cursor(con: duckdb.DuckDBPyConnection, consumer: str) -> int | None:
    row = con.execute("SELECT seq FROM change_cursors WHERE consumer = ?", [consumer]).fetchone()
    return None if row is None else row[0]


def pending(con: duckdb.DuckDBPyConnection, consumer: str, tables: Sequence[str], upto: int | None = None) -> Pending:
    """The input changes `consumer` has not reflected yet (those up to `upto` when given); a consumer
    without a cursor gets all."""
    seen = cursor(con, consumer)
    upto = newest(con) if upto is None else max(min(upto, newest(con)), seen or 0)
    if seen is None:
        return Pending(consumer, upto, {table: [WHOLE] for table in tables}, first_run=True)
    rows = con.execute(
        "SELECT table_name, first_day, last_day FROM changes WHERE seq > ? AND seq <= ? AND list_contains(?, table_name)",
        [seen, upto, list(tables)],
    ).fetchall()
    by_table: dict[str, list[Range]] = {}
    for table, first, last in rows:
        by_table.setdefault(table, []).append((first, last))
    return Pending(consumer, upto, {table: merge(found) for table, found in by_table.items()})


def advance(con: duckdb.DuckDBPyConnection, done: Pending) -> None:
    """Every change up to `done.upto` is now reflected in the consumer."""
    con.execute(
        "INSERT INTO change_cursors VALUES (?, ?, now()::TIMESTAMP) "
        "ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        [done.consumer, done.upto],
    )


def lagging(con: duckdb.DuckDBPyConnection, consumers: dict[str, Sequence[str]]) -> dict[str, int]:
    """Consumers (name -> input tables) with unreflected input changes, and how many changes."""
    cursors = dict(con.execute("SELECT consumer, seq FROM change_cursors").fetchall())
    counts = con.execute(
        "SELECT table_name, seq FROM changes WHERE seq > ?", [min(cursors.values(), default=0)]
    ).fetchall() if cursors else con.execute("SELECT table_name, seq FROM changes").fetchall()
    behind = {}
    for consumer, tables in consumers.items():
        seen = cursors.get(consumer)
        n = sum(1 for table, seq in counts if table in tables and (seen is None or seq > seen))
        if seen is None or n:
            behind[consumer] = n
    return behind


@contextmanager
def scope(con: duckdb.DuckDBPyConnection, ranges: Sequence[Range], name: str = "scope") -> Iterator[str]:
    """Register `ranges` as a table `name(first_day, last_day)` for range joins in SQL."""
    con.register(name, pa.table({"first_day": pa.array([r[0] for r in ranges], pa.date32()),
                                 "last_day": pa.array([r[1] for r in ranges], pa.date32())}))
    try:
        yield name
    finally:
        con.unregister(name)
