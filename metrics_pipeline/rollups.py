"""Rollups that recompute only the periods whose inputs changed (see changes.py).

A rollup deletes its rows in the changed periods and inserts its query's rows for them, checks
the result against its inputs over the same periods, records what it changed and moves its cursor,
all in one transaction: a failed check leaves the table and the cursor as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from metrics_pipeline import changes
from metrics_pipeline.changes import WHOLE, Range
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, transaction

EXAMPLES = 5

# A check over the refreshed periods (registered as table `scope`): rows (key, got, expected)
# for every difference; no rows is a pass.
CheckSql = str


@dataclass(frozen=True)
class Rollup:
    table: str
    inputs: tuple[str, ...]
    select_sql: str  # the rows of the periods in `scope(first_day, last_day)`, in the table's column order
    period_column: str | None = None  # None: the table is replaced whole whenever an input changed
    monthly: bool = False  # changed days widen to whole months
    check_sql: CheckSql | None = None
    params: dict = field(default_factory=dict)


@dataclass
class Refreshed:
    ranges: list[Range]
    rows: int  # rows now in the refreshed periods
    passed: bool = True
    differences: int = 0
    examples: str = ""
    first_run: bool = False

    def metadata(self) -> dict:
        return {"dagster/row_count": self.rows, "periods_refreshed": changes.describe(self.ranges),
                "differences": self.differences, **({"examples": self.examples} if self.examples else {})}


class _Differs(Exception):
    def __init__(self, found: list[tuple]):
        super().__init__("rollup differs from its inputs")
        self.found = found


def _scoped(rollup: Rollup, con: duckdb.DuckDBPyConnection, ranges: list[Range]) -> int:
    table, column = rollup.table, rollup.period_column
    if column is None:
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} {rollup.select_sql}", rollup.params)
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    inside = f"EXISTS (SELECT 1 FROM scope s WHERE {column} BETWEEN s.first_day AND s.last_day)"
    con.execute(f"DELETE FROM {table} WHERE {inside}")
    con.execute(f"INSERT INTO {table} {rollup.select_sql}", rollup.params)
    return con.execute(f"SELECT count(*) FROM {table} WHERE {inside}").fetchall()[0][0]


def refresh(con: duckdb.DuckDBPyConnection, rollup: Rollup, consumer: str | None = None) -> Refreshed:
    """Bring `rollup.table` up to date with its inputs' changes (one transaction)."""
    try:
        with transaction(con):
            todo = changes.pending(con, consumer or rollup.table, rollup.inputs)
            ranges = todo.ranges()
            if rollup.monthly:
                ranges = changes.whole_months(ranges)
            if not todo:
                changes.advance(con, todo)
                return Refreshed([], 0)
            with changes.scope(con, ranges):
                rows = _scoped(rollup, con, ranges)
                found = con.execute(rollup.check_sql + " ORDER BY ALL", rollup.params).fetchall() if rollup.check_sql else []
            if found:
                raise _Differs(found)
            changes.record(con, rollup.table, ranges if rollup.period_column else [WHOLE])
            changes.advance(con, todo)
    except _Differs as differs:
        examples = "; ".join(f"{key}: {got} (expected {want})" for key, got, want in differs.found[:EXAMPLES])
        return Refreshed(ranges, 0, passed=False, differences=len(differs.found), examples=examples)
    return Refreshed(ranges, rows, first_run=todo.first_run)


def rollup_result(
    warehouse: DuckDBWarehouse, rollup: Rollup, check_name: str, description: str,
    extra: Callable[[duckdb.DuckDBPyConnection], dict] | None = None,
) -> dg.MaterializeResult:
    """Refresh and report: the refreshed periods in metadata, the blocking check's outcome."""
    with warehouse.connect() as con:
        done = refresh(con, rollup)
        more = extra(con) if extra and done.passed else {}
    return dg.MaterializeResult(
        metadata=done.metadata() | more,
        check_results=[dg.AssetCheckResult(
            check_name=check_name, passed=done.passed, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"periods_checked": changes.describe(done.ranges), "differences": done.differences,
                      **({"examples": done.examples} if done.examples else {})},
            description=None if done.passed else f"{description} Left unchanged; re-run it, and report a bug if it fails again.",
        )],
    )


def blocking_check(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description)
