"""What a publish looks at: the days and months its rollups changed since it last published, and
whether the all-time figures (TOTAL, LATEST) changed. The full reconciliation uses `everything`.

Registered as tables `sink_days(first_day, last_day)` and `sink_months(...)` so the desired-items
SQL and the published state are both filtered by range joins, never by scanning history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from metrics_pipeline import changes
from metrics_pipeline.changes import WHOLE, Range


@dataclass(frozen=True)
class SinkScope:
    days: tuple[Range, ...] = ()
    months: tuple[Range, ...] = ()
    totals: bool = False

    @classmethod
    def everything(cls) -> SinkScope:
        return cls((WHOLE,), (WHOLE,), True)

    @classmethod
    def of(cls, todo: changes.Pending, days: Sequence[str], months: Sequence[str], totals: Sequence[str]) -> SinkScope:
        """The periods a sink must look at for the pending changes of its input tables."""
        if todo.first_run:
            return cls.everything()
        return cls(
            tuple(todo.ranges(*days)) if days else (),
            tuple(changes.whole_months(todo.ranges(*months))) if months else (),
            any(todo.by_table.get(t) for t in totals),
        )

    def with_months(self, months: Sequence[Range]) -> SinkScope:
        return SinkScope(self.days, tuple(changes.merge([*self.months, *months])), self.totals)

    @property
    def empty(self) -> bool:
        return not self.days and not self.months and not self.totals

    def describe(self) -> str:
        if self == SinkScope.everything():
            return "everything"
        parts = [f"days {changes.describe(self.days)}" if self.days else "", f"months {changes.describe(self.months)}"
                 if self.months else "", "totals" if self.totals else ""]
        return "; ".join(p for p in parts if p) or "nothing"

    @contextmanager
    def registered(self, con: duckdb.DuckDBPyConnection) -> Iterator[dict]:
        """Register the scope's tables; yields the `$totals` parameter for the SQL."""
        for name, ranges in (("sink_days", self.days), ("sink_months", self.months)):
            con.register(name, pa.table({"first_day": pa.array([r[0] for r in ranges], pa.date32()),
                                         "last_day": pa.array([r[1] for r in ranges], pa.date32())}))
        try:
            yield {"totals": self.totals}
        finally:
            con.unregister("sink_days")
            con.unregister("sink_months")


@dataclass(frozen=True)
class SinkFeed:
    """A sink's place in the change log: its cursor, and which input tables' changes are days,
    months, or all-time figures."""

    consumer: str
    days: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    totals: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.days, *self.months, *self.totals)

    def pending(self, con: duckdb.DuckDBPyConnection) -> changes.Pending:
        return changes.pending(con, self.consumer, self.inputs)

    def scope(self, todo: changes.Pending) -> SinkScope:
        return SinkScope.of(todo, self.days, self.months, self.totals)


def in_days(column: str) -> str:
    return f"EXISTS (SELECT 1 FROM sink_days s WHERE {column} BETWEEN s.first_day AND s.last_day)"


def in_months(column: str) -> str:
    return f"EXISTS (SELECT 1 FROM sink_months s WHERE {column} BETWEEN s.first_day AND s.last_day)"
