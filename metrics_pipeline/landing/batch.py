"""What every source implementation returns: landed rows, per-day fingerprints, arrivals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from metrics_pipeline.landing.catalog import Selection

FUTURE_TOLERANCE = timedelta(days=1)  # rows dated later than now + this are counted, never landed


@dataclass(frozen=True)
class DayFingerprint:
    """What a day's source rows looked like: row count and newest ingestion (or file) time."""

    day: date
    source_rows: int
    max_ingested: datetime | None


@dataclass
class SourceBatch:
    """One window of a source, ready to land: qualifying rows/aggregates and every day's fingerprint."""

    rows: pa.Table
    fingerprints: list[DayFingerprint]
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> rows
    files: Selection | None = None  # file sources: quarantined, duplicate and incomplete files


def future_cutoff() -> datetime:
    """Naive UTC instant after which a row's time is in the future beyond the tolerance."""
    return datetime.now(UTC).replace(tzinfo=None) + FUTURE_TOLERANCE


@dataclass
class Arrivals:
    """Days touched by source rows that arrived after a cursor, with the newest arrival per day.

    `reconcile` says rows may have been removed or replaced without a newer arrival (a deleted or
    rewritten file), so per-day counts should be compared now rather than at the daily look.
    """

    newest_by_day: dict[date, datetime]
    cursor: str
    reconcile: bool = False


def fingerprints_for_window(start: date, end: date, found: dict[date, tuple[int, datetime | None]]) -> list[DayFingerprint]:
    """One fingerprint per day of [start, end), empty days included, so late rows for them show."""
    return [DayFingerprint(day, *found.get(day, (0, None))) for day in iter_days(start, end)]


def midnight(day: date) -> datetime:
    """The naive UTC instant a day starts: windows are [midnight(start), midnight(end))."""
    return datetime.combine(day, datetime.min.time())


def ingestion_cursor(cursor: str | None) -> datetime | None:
    """The newest ingestion time a previous look saw (None: never looked)."""
    value = json.loads(cursor).get("ingested") if cursor else None
    return datetime.fromisoformat(value) if value else None


def arrivals_after(seen: datetime | None, newest_by_day: dict[date, datetime]) -> Arrivals:
    """Arrivals for sources that stamp rows with an ingestion time; the cursor is the newest seen."""
    latest = max([t for t in [seen, *newest_by_day.values()] if t is not None], default=None)
    return Arrivals(newest_by_day, json.dumps({"ingested": latest.isoformat() if latest else None}))


def iter_days(start: date, end: date) -> Iterator[date]:
    for ordinal in range(start.toordinal(), end.toordinal()):
        yield date.fromordinal(ordinal)
