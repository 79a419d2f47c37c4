"""Shared by the file-backed sources: listing files, arrival cursors, and the event-time catalog."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from metrics_pipeline.landing.batch import Arrivals


@dataclass(frozen=True)
class SourceFile:
    path: str
    mtime_ns: int
    size: int

    @property
    def arrived_at(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, timezone.utc).replace(tzinfo=None)


def list_source_files(directory: str, suffixes: tuple[str, ...], setting: str) -> list[SourceFile]:
    """Every file below `directory` with one of `suffixes`, with its modification time and size."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"source directory {root} does not exist (setting {setting})")
    files = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in suffixes and path.is_file():
            stat = path.stat()
            files.append(SourceFile(str(path), stat.st_mtime_ns, stat.st_size))
    return files


def _listing_digest(files: list[SourceFile], up_to_ns: int) -> str:
    digest = hashlib.sha1()
    for f in files:
        if f.mtime_ns <= up_to_ns:
            digest.update(f"{f.path}\t{f.mtime_ns}\t{f.size}\n".encode())
    return digest.hexdigest()


def file_arrivals(
    files: list[SourceFile], cursor: str | None, newest_by_day: Callable[[list[SourceFile]], dict[date, datetime]]
) -> Arrivals:
    """Days in files newer than the cursor; `reconcile` when a file seen before vanished or changed
    (deleted, rewritten, replaced by a copy with an old mtime), which no arrival time can show."""
    state = json.loads(cursor) if cursor else {}
    seen = int(state.get("mtime_ns", -1))
    new = [f for f in files if f.mtime_ns > seen]
    changed = "listing" in state and _listing_digest(files, seen) != state["listing"]
    latest = max([seen, *(f.mtime_ns for f in files)])
    cursor = json.dumps({"mtime_ns": latest, "listing": _listing_digest(files, latest)})
    return Arrivals(newest_by_day(new) if new else {}, cursor, reconcile=changed)


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


DayRanges = dict[str, tuple[date, date] | None]  # path -> (first, last) event day; None: no dated rows


class FileCatalog:
    """The event-day range of every source file, cached by (path, mtime, size).

    Lets a partition open only the files that can hold its days, so a daily run costs the same
    with one year of files or ten. It is only a cache: deleting it costs one rescan.
    """

    def __init__(self, kind: str, directory: str):
        cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "metrics_pipeline"
        digest = hashlib.sha1(str(Path(directory).resolve()).encode()).hexdigest()[:16]
        self.path = cache_root / f"{kind}-{digest}.json"

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, entries: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries))
        temporary.replace(self.path)  # atomic: concurrent readers see old or new, never half

    def overlapping(
        self, files: list[SourceFile], start: date, end: date, day_ranges: Callable[[list[SourceFile]], DayRanges]
    ) -> list[SourceFile]:
        """Files whose event days may fall in [start, end); unknown or changed files are measured first."""
        cached = self._read()
        current = {f.path: [f.mtime_ns, f.size] for f in files}
        stale = [f for f in files if cached.get(f.path, {}).get("key") != current[f.path]]
        if stale:
            measured = day_ranges(stale)
            for f in stale:
                span = measured.get(f.path)
                cached[f.path] = {"key": current[f.path], "span": None if span is None else [d.isoformat() for d in span]}
        if stale or set(cached) - set(current):
            self._write({path: entry for path, entry in cached.items() if path in current})
        first, last = start.isoformat(), date.fromordinal(end.toordinal() - 1).isoformat()
        return [
            f
            for f in files
            if (span := cached.get(f.path, {}).get("span")) is not None and span[0] <= last and span[1] >= first
        ]
