"""Landing a window of days in one transaction: refuse a vanishing source, replace the window's
rows (except days a quarantined file could hold), check every landed day against the source's
own figures, and record fingerprints, quarantine and the days whose rows actually changed.

A day that does not match its source rolls the whole window back: nothing half-checked lands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
import duckdb

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import per_day_metadata
from metrics_pipeline.landing.batch import SourceBatch
from metrics_pipeline.landing.fingerprints import record_fingerprints
from metrics_pipeline.landing.guards import files_check, guard_vanishing_source, record_quarantine
from metrics_pipeline.quality.evaluations import Outcome, day_label, days_result
from metrics_pipeline.resources.warehouse import replace_window, transaction


@dataclass
class Landed:
    outcomes: dict[date, Outcome]  # every landed day (not the kept ones)
    changed: list[date] = field(default_factory=list)  # days whose landed rows differ from before
    rows: int = 0
    day_rows: dict[date, int] = field(default_factory=dict)
    rolled_back: bool = False

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes.values())


class _Mismatch(Exception):
    def __init__(self, outcomes: dict[date, Outcome]):
        super().__init__("landed rows differ from the source")
        self.outcomes = outcomes


def _digests(con: duckdb.DuckDBPyConnection, table: str, column: str, start: date, end: date) -> dict:
    """Per day: row count and an order-independent hash of the rows (what changed, cheaply)."""
    rows = con.execute(
        f"SELECT {column}, count(*), sum(hash(t))::HUGEINT FROM {table} t WHERE {column} >= ? AND {column} < ? GROUP BY 1",
        [start, end],
    ).fetchall()
    return {day: (n, digest) for day, n, digest in rows}


def land_window(
    con: duckdb.DuckDBPyConnection, *, source: str, table: str, column: str, start: date, end: date,
    insert_sql: str, params: dict, batch: SourceBatch, keep: set[date], resource, drop_allowed: bool,
    check: Callable[[duckdb.DuckDBPyConnection], dict[date, Outcome]],
) -> Landed:
    """Land [start, end) of `table` from the registered inputs that `insert_sql` reads."""
    try:
        with transaction(con):
            guard_vanishing_source(con, source, resource, start, end, batch, drop_allowed, keep)
            before = _digests(con, table, column, start, end)
            rows = replace_window(con, table, column, start, end, insert_sql, {**params, "keep": sorted(keep)}, keep)
            outcomes = check(con)
            if not all(o.passed for o in outcomes.values()):
                raise _Mismatch(outcomes)
            after = _digests(con, table, column, start, end)
            changed = sorted(d for d in before.keys() | after.keys() if before.get(d) != after.get(d))
            record_fingerprints(con, source, start, end, batch.fingerprints, keep)
            record_quarantine(con, source, batch)
            changes.record(con, table, changes.day_ranges(changed))
    except _Mismatch as mismatch:
        return Landed(mismatch.outcomes, rolled_back=True)
    return Landed(outcomes, changed, rows, {day: n for day, (n, _) in after.items()})


def settle(context: dg.AssetExecutionContext, check_name: str, landed: Landed, batch: SourceBatch, keep: set[date],
           start: date, end: date, figures: Callable[[Outcome], dict] = lambda _: {}, zero: dict | None = None):
    """The window's match and files results, and each day's figures and outcome on its partition
    (`figures`: the asset's own per day, `zero`: theirs on a kept day). Use as
    `match, files = yield from settle(...)`: a rolled-back window yields both results and fails the step."""
    match = days_result(check_name, landed.outcomes, dg.AssetCheckSeverity.ERROR, "every landed day matches the source")
    files = files_check(context.asset_key, batch, keep)
    if landed.rolled_back:
        yield match
        yield files
        raise dg.Failure(description=f"{context.asset_key.to_user_string()}: nothing landed for {start}.."
                                     f"{end - timedelta(days=1)}: {match.description}",
                         metadata={"failing_days": match.metadata["failing_days"]})
    sources = {f.day: max(f.source_rows, 0) for f in batch.fingerprints}
    per_day_metadata(
        context,
        {day: {"dagster/row_count": landed.day_rows.get(day, 0), **figures(o), "source_rows_in_window": sources.get(day, 0),
               **o.metadata, f"check {check_name}": day_label(o)} for day, o in landed.outcomes.items()},
        {"dagster/row_count": 0, **(zero or {}), "source_rows_in_window": 0,
         f"check {check_name}": "kept its previous rows: a quarantined file could hold this day"},
    )
    return match, files
