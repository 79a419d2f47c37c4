"""Per-day source fingerprints recorded at materialization, read back by the late-data sensor."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import duckdb
import pyarrow as pa

from metrics_pipeline.landing.batch import DayFingerprint


INCOMPLETE = -1  # recorded rows of a day a quarantined file could hold: any later look re-runs it


def record_fingerprints(
    con: duckdb.DuckDBPyConnection, source: str, start: date, end: date, fingerprints: list[DayFingerprint],
    incomplete: set[date] = frozenset(),
) -> None:
    """Replace the window's fingerprints; call inside the transaction that lands the rows. Days in
    `incomplete` are marked so the late-data sensor re-runs them once their files are readable."""
    fingerprints = [DayFingerprint(f.day, INCOMPLETE, None) if f.day in incomplete else f for f in fingerprints]
    con.execute(
        "DELETE FROM source_fingerprints WHERE source = ? AND day >= ? AND day < ?", [source, start, end]
    )
    table = pa.table(
        {
            "day": pa.array([f.day for f in fingerprints], pa.date32()),
            "source_rows": pa.array([f.source_rows for f in fingerprints], pa.int64()),
            "max_ingested": pa.array([f.max_ingested for f in fingerprints], pa.timestamp("us")),
        }
    )
    con.register("fingerprint_rows", table)
    try:
        con.execute(
            "INSERT INTO source_fingerprints "
            "SELECT ?, day, source_rows, max_ingested, now()::TIMESTAMP FROM fingerprint_rows",
            [source],
        )
    finally:
        con.unregister("fingerprint_rows")


def recorded_fingerprints(
    con: duckdb.DuckDBPyConnection, source: str, days: Iterable[date]
) -> dict[date, datetime | None]:
    """The newest arrival each of these days had seen when last materialized (absent: never)."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    rows = con.execute(
        "SELECT day, max_ingested FROM source_fingerprints WHERE source = ? AND list_contains(?, day)",
        [source, wanted],
    ).fetchall()
    return dict(rows)
