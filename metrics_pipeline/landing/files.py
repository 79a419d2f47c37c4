"""Shared by the file-backed sources: listing files, arrival cursors, scratch DuckDB connections."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from metrics_pipeline.landing.batch import Arrivals
from metrics_pipeline.resources.warehouse import scratch


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


@contextmanager
def scratch_connection(files: list[SourceFile]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A scratch DuckDB (never the warehouse file) with a `source_files(filename, arrived_at)` table."""
    with scratch() as con:
        con.register(
            "source_files",
            pa.table(
                {
                    "filename": pa.array([f.path for f in files], pa.string()),
                    "arrived_at": pa.array([f.arrived_at for f in files], pa.timestamp("us")),
                }
            ),
        )
        yield con
