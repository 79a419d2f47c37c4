"""What every source implementation returns: landed rows, per-day fingerprints, arrivals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa


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


@dataclass
class Arrivals:
    """Days touched by source rows that arrived after a cursor, with the newest arrival per day."""

    newest_by_day: dict[date, datetime]
    cursor: str


def fingerprints_for_window(start: date, end: date, found: dict[date, tuple[int, datetime | None]]) -> list[DayFingerprint]:
    """One fingerprint per day of [start, end), empty days included, so late rows for them show."""
    return [DayFingerprint(day, *found.get(day, (0, None))) for day in iter_days(start, end)]


# --- helpers for file-backed sources -------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    path: str
    mtime_ns: int

    @property
    def arrived_at(self) -> datetime:
        return datetime.utcfromtimestamp(self.mtime_ns / 1e9)


def list_source_files(directory: str, suffixes: tuple[str, ...], setting: str) -> list[SourceFile]:
    """Every file below `directory` with one of `suffixes`, with its modification time."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"source directory {root} does not exist (setting {setting})")
    files = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in suffixes and path.is_file():
            files.append(SourceFile(str(path), path.stat().st_mtime_ns))
    return files


def mtime_cursor(cursor: str | None) -> int:
    return int(json.loads(cursor)["mtime_ns"]) if cursor else -1


def new_mtime_cursor(files: list[SourceFile], previous: int) -> str:
    return json.dumps({"mtime_ns": max([previous, *(f.mtime_ns for f in files)])})


def scratch_connection(files: list[SourceFile]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB (never the warehouse file) with a `source_files(filename, arrived_at)` table."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register(
        "source_files",
        pa.table(
            {
                "filename": pa.array([f.path for f in files], pa.string()),
                "arrived_at": pa.array([f.arrived_at for f in files], pa.timestamp("us")),
            }
        ),
    )
    return con


def iter_days(start: date, end: date) -> Iterator[date]:
    for ordinal in range(start.toordinal(), end.toordinal()):
        yield date.fromordinal(ordinal)
