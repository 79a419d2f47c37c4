"""The local append-only spool: group-committed, fsync'd appends; segments sealed by size or age.

Each worker process writes its own open segment (held under an exclusive flock). Sealing appends
the seal and renames the file into `sealed/YYYY-MM-DD/` (the UTC day it was sealed). An `.open`
file nobody holds a lock on belongs to a killed writer: its intact frames are sealed on recovery.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from metrics_pipeline.collector.segments import (
    EVENTS, OPEN_SUFFIX, SEALED_SUFFIX, day_of, fsync_dir, frame, scan_frames, seal_bytes,
)


def sealed_dir(spool: Path, day: str) -> Path:
    return spool / "sealed" / day


class SegmentWriter:
    """The current open segment of one process; call only from one thread."""

    def __init__(self, spool: Path, writer_id: str, max_bytes: int, max_age_seconds: float):
        self.spool, self.writer_id = spool, writer_id
        self.max_bytes, self.max_age_seconds = max_bytes, max_age_seconds
        self.open_dir = spool / "open"
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self.fd: int | None = None
        self.sequence = 0
        self.sealed_count = 0
        self.syncs = 0  # fsyncs done: fewer than requests when group commit works

    def _open(self) -> None:
        self.sequence += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.name = f"{stamp}-{self.writer_id}-{os.getpid()}-{self.sequence:05d}"
        self.path = self.open_dir / (self.name + OPEN_SUFFIX)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        fsync_dir(self.open_dir)
        self.size, self.events, self.frames, self.days = 0, 0, 0, Counter()
        self.opened_at = time.monotonic()

    def append(self, frames: list[bytes], events: int, days: Counter) -> int:
        """Write and fsync `frames`; on failure cut the file back so it holds only whole frames."""
        if self.fd is None:
            self._open()
        data = b"".join(frames)
        try:
            written = os.write(self.fd, data)
            if written != len(data):
                raise OSError(f"short write to spool segment {self.path}")
            os.fdatasync(self.fd)
            self.syncs += 1
        except OSError:
            os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)
        self.events += events
        self.frames += len(frames)
        self.days.update(days)
        return len(data)

    def due(self) -> bool:
        return self.fd is not None and (
            self.size >= self.max_bytes or time.monotonic() - self.opened_at >= self.max_age_seconds
        )

    def seal(self) -> Path | None:
        """Seal the open segment (if it holds events) and move it to `sealed/`."""
        if self.fd is None:
            return None
        fd, self.fd = self.fd, None
        try:
            target = _seal_file(fd, self.path, self.name, self.spool, self.events, self.frames, self.days)
        finally:
            os.close(fd)
        self.sealed_count += 1
        return target


def _seal_file(fd: int, path: Path, name: str, spool: Path, events: int, frames: int, days: Counter) -> Path:
    os.write(fd, seal_bytes(name, events, frames, days))
    os.fsync(fd)
    target_dir = sealed_dir(spool, datetime.now(timezone.utc).date().isoformat())
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / (name + SEALED_SUFFIX)
    os.rename(path, target)
    fsync_dir(target_dir)
    fsync_dir(path.parent)
    return target


def recover_orphans(spool: Path) -> list[Path]:
    """Seal every `.open` segment whose writer is gone (no flock held); torn tails are cut off."""
    recovered = []
    open_dir = spool / "open"
    if not open_dir.is_dir():
        return recovered
    for path in sorted(open_dir.glob("*" + OPEN_SUFFIX)):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer's segment
            if not path.exists():
                continue  # sealed by another process between our listing and our lock
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read()
            frames, intact = scan_frames(data)
            os.ftruncate(fd, intact)
            os.lseek(fd, 0, os.SEEK_END)
            records, days = _count(frames)
            if records == 0:
                path.unlink()
                continue
            recovered.append(_seal_file(fd, path, path.name[: -len(OPEN_SUFFIX)], spool, records, len(frames), days))
        finally:
            os.close(fd)
    return recovered


def _count(frames: list[tuple[int, bytes]]) -> tuple[int, Counter]:
    days, events = Counter(), 0
    for kind, payload in frames:
        if kind == EVENTS:
            for event in json.loads(payload):
                days[day_of(event["time_us"])] += 1
                events += 1
    return events, days


def default_writer_id() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "collector"


class GroupCommitSpool:
    """Async front of a SegmentWriter: concurrent appends share one write + fdatasync."""

    def __init__(self, writer: SegmentWriter, on_sealed=None):
        self.writer = writer
        self.on_sealed = on_sealed or (lambda path: None)
        self._pending: list[tuple[bytes, int, Counter, asyncio.Future]] = []
        self._flushing = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self.healthy = True

    async def append(self, payload: bytes, events: int, days: Counter) -> int:
        """Returns once the payload is on disk (fsync'd); raises OSError if it could not be."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((frame(EVENTS, payload), events, days, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                days = Counter()
                for _, _, day_counts, _ in batch:
                    days.update(day_counts)
                try:
                    await loop.run_in_executor(
                        self._thread, self._write, [f for f, *_ in batch], sum(n for _, n, _, _ in batch), days
                    )
                    self.healthy = True
                except OSError as error:
                    self.healthy = False
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for payload, _, _, future in batch:
                    if not future.done():
                        future.set_result(len(payload))
        finally:
            self._flushing = False

    def _write(self, frames, events, days) -> None:
        self.writer.append(frames, events, days)
        if self.writer.due():
            self.on_sealed(self.writer.seal())

    async def seal_if_due(self) -> None:
        """Called periodically: seals an open segment that reached its age."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._seal_if_due)

    def _seal_if_due(self) -> None:
        if self.writer.due():
            self.on_sealed(self.writer.seal())

    async def close(self) -> None:
        """Seal what is open (graceful shutdown); a killed process leaves it to recovery instead."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        sealed = self.writer.seal()
        if sealed is not None:
            self.on_sealed(sealed)
