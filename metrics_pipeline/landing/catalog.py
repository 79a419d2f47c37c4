"""The catalog of source files: what each file holds, keyed by (path, mtime, size).

Every file is measured on its own (files sharing a schema in one query, a file that query cannot read
alone), so one unreadable or malformed file is quarantined with its path and reason while every other
file is used; identical content under two names is used once; rows a
file holds that no partition can use are counted by reason. A partition opens only the files that
can hold its days, so a daily run costs the same with one year of files or ten.

The catalog is pipeline state, not a cache: a file's last good read says which days a damaged copy
of it could hold. It lives beside the warehouse (same volume), so a fresh container sees it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from metrics_pipeline.landing.files import SourceFile

MeasureMany = Callable[[list[SourceFile]], dict[str, "Measured | FileProblem"]]
_DATE_IN_NAME = re.compile(r"(\d{4})[-_/]?(\d{2})[-_/]?(\d{2})")


class FileProblem(Exception):
    """A file that cannot be used as a whole: unreadable, a required column missing or mistyped."""


@dataclass
class Measured:
    """One readable file: the event days it holds and the rows no partition can use, by reason."""

    span: tuple[date, date] | None
    dropped: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)  # reason -> one such row, as text


@dataclass
class BadFile:
    path: str
    reason: str
    days: tuple[date, date] | None  # the days it could hold (last good read, or its name); None: unknown


@dataclass
class Selection:
    """The files a window reads, and what the catalog knows is wrong around it."""

    files: list[SourceFile]
    bad: list[BadFile]  # quarantined files whose days meet the window: those days are incomplete
    unplaced: list[BadFile]  # quarantined files whose days are unknown
    duplicates: dict[str, str]  # path -> path of the identical file that is read instead
    dropped: dict[str, int]  # rows of the selected files that no partition can use, by reason
    samples: dict[str, str]
    dropped_by_file: dict[str, dict[str, int]] = field(default_factory=dict)
    unusable: list[BadFile] = field(default_factory=list)  # readable files without one usable day (any window)

    def incomplete_days(self, start: date, end: date) -> set[date]:
        """Days of [start, end) a quarantined file could hold: their counts would be partial."""
        days = set()
        for bad in self.bad:
            first, last = max(bad.days[0], start), min(bad.days[1], date.fromordinal(end.toordinal() - 1))
            days |= {date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1)}
        return days


def _digest(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _days_from_name(path: str) -> tuple[date, date] | None:
    match = _DATE_IN_NAME.search(Path(path).name) or _DATE_IN_NAME.search(path)
    try:
        return (day := date(*map(int, match.groups())), day) if match else None
    except ValueError:
        return None


def _span(entry: dict | None) -> tuple[date, date] | None:
    span = (entry or {}).get("span")
    return None if span is None else (date.fromisoformat(span[0]), date.fromisoformat(span[1]))


def catalog_dir(warehouse_path: str) -> Path:
    """Where the file catalogs of the warehouse at `warehouse_path` live: beside it, same volume."""
    path = Path(warehouse_path)
    return path.parent / f"{path.stem}.catalog"


class FileCatalog:
    """`state_path` is the warehouse file the catalog belongs to; without one (a one-off read, a
    test of a source alone) the catalog lives in memory for this object only."""

    def __init__(self, kind: str, directory: str, state_path: str | None = None):
        digest = hashlib.sha1(str(Path(directory).resolve()).encode()).hexdigest()[:16]
        self.path = None if not state_path else catalog_dir(state_path) / f"{kind}-{digest}.json"
        self._entries: dict = {}

    def _read(self) -> dict:
        if self.path is None:
            return self._entries
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, entries: dict) -> None:
        if self.path is None:
            self._entries = entries
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries))
        temporary.replace(self.path)  # atomic: concurrent readers see old or new, never half

    def entries(self, files: list[SourceFile], measure: Callable[[SourceFile], Measured],
                measure_many: MeasureMany | None = None) -> dict[str, dict]:
        """Every listed file's entry; new or changed files are measured first (together when the
        source can, else one at a time)."""
        cached = self._read()
        stale = [f for f in files if (cached.get(f.path) or {}).get("key") != [f.mtime_ns, f.size]]
        found = measure_many(stale) if measure_many and len(stale) > 1 else {}
        fresh = {}
        for f in files:
            entry = cached.get(f.path)
            if entry is None or entry.get("key") != [f.mtime_ns, f.size]:
                entry = self._measure(f, measure, entry, found.get(f.path))
            fresh[f.path] = entry
        if fresh != cached:
            self._write(fresh)
        return fresh

    @staticmethod
    def _measure(f: SourceFile, measure: Callable[[SourceFile], Measured], previous: dict | None,
                 found: Measured | FileProblem | None = None) -> dict:
        entry = {"key": [f.mtime_ns, f.size], "digest": _digest(f.path)}
        try:
            if isinstance(found, FileProblem):
                raise found
            found = found or measure(f)
        except FileProblem as problem:
            days = _span(previous) or _days_from_name(f.path)
            return entry | {"error": str(problem), "span": None, "days": None if days is None else [d.isoformat() for d in days]}
        span = None if found.span is None else [d.isoformat() for d in found.span]
        return entry | {"span": span, "dropped": found.dropped, "samples": found.samples}

    def select(
        self, files: list[SourceFile], start: date, end: date, measure: Callable[[SourceFile], Measured],
        measure_many: MeasureMany | None = None,
    ) -> Selection:
        """The usable files whose event days may fall in [start, end), one per distinct content."""
        entries = self.entries(files, measure, measure_many)
        first, last = start, date.fromordinal(end.toordinal() - 1)
        chosen: dict[str, str] = {}  # digest -> the first path (sorted) holding it
        selection = Selection([], [], [], {}, {}, {})
        for f in sorted(files, key=lambda f: f.path):
            entry = entries[f.path]
            if entry.get("error"):
                days = entry.get("days")
                bad = BadFile(f.path, entry["error"], None if days is None else (date.fromisoformat(days[0]), date.fromisoformat(days[1])))
                if bad.days is None:
                    selection.unplaced.append(bad)
                elif bad.days[0] <= last and bad.days[1] >= first:
                    selection.bad.append(bad)
                continue
            span = _span(entry)
            if span is None:
                dropped = entry.get("dropped") or {}
                detail = ", ".join(f"{reason}: {rows}" for reason, rows in sorted(dropped.items())) or "no rows"
                selection.unusable.append(BadFile(f.path, f"no row with a usable day ({detail})", None))
                continue
            original = chosen.setdefault(entry["digest"], f.path)
            if span[0] > last or span[1] < first:
                continue
            if original != f.path:
                selection.duplicates[f.path] = original
                continue
            selection.files.append(f)
            if entry.get("dropped"):
                selection.dropped_by_file[f.path] = entry["dropped"]
            for reason, rows in entry.get("dropped", {}).items():
                selection.dropped[reason] = selection.dropped.get(reason, 0) + rows
            selection.samples.update(entry.get("samples", {}))
        return selection

    def usable(self, files: list[SourceFile], measure: Callable[[SourceFile], Measured],
               measure_many: MeasureMany | None = None) -> list[SourceFile]:
        """Every file that can be read: not quarantined, not a copy of another."""
        return self.select(files, date.min, date.max, measure, measure_many).files


def schema_groups(con, paths: list[str]) -> list[list[str]]:
    """Parquet files grouped by identical schema (names, types, nesting), read from their footers."""
    schemas: dict[str, list[tuple]] = {}
    for row in con.execute("SELECT * FROM parquet_schema(?)", [paths]).fetchall():
        schemas.setdefault(row[0], []).append(row[1:])
    groups: dict[tuple, list[str]] = {}
    for path in paths:
        groups.setdefault(tuple(schemas.get(path, ())), []).append(path)
    return list(groups.values())
