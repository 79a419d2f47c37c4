"""The spool's segment format: CRC-framed JSON batches, then a seal frame and a footer once sealed.

A frame is `<length u32><crc32 u32><kind u8><payload>`; the CRC covers kind and payload, so a torn
tail (a writer killed mid-write) is found and cut off. A sealed segment ends with a seal frame
(JSON: event count, events per UTC day) and the 8-byte footer `<seal frame length u32>SEAL`; it is
never written again.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

HEADER = struct.Struct("<IIB")
FOOTER = struct.Struct("<I4s")
FOOTER_MAGIC = b"SEAL"
EVENTS, SEAL = 1, 2
SEALED_SUFFIX, OPEN_SUFFIX = ".seg", ".open"


class CorruptSegment(ValueError):
    """A sealed segment whose frames or seal do not check out; names the segment."""


def frame(kind: int, payload: bytes) -> bytes:
    kind_byte = bytes([kind])
    return HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(kind_byte)), kind) + payload


def scan_frames(data: bytes | memoryview) -> tuple[list[tuple[int, bytes]], int]:
    """Every intact frame from the start, and the offset where intact data ends."""
    view, offset, frames = memoryview(data), 0, []
    while offset + HEADER.size <= len(view):
        length, crc, kind = HEADER.unpack_from(view, offset)
        end = offset + HEADER.size + length
        if end > len(view):
            break
        payload = bytes(view[offset + HEADER.size:end])
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) != crc or kind not in (EVENTS, SEAL):
            break
        frames.append((kind, payload))
        offset = end
    return frames, offset


def seal_bytes(name: str, events: int, frames: int, days: Counter) -> bytes:
    body = {"segment": name, "events": events, "frames": frames, "days": dict(sorted(days.items()))}
    sealed = frame(SEAL, json.dumps(body, separators=(",", ":")).encode())
    return sealed + FOOTER.pack(len(sealed), FOOTER_MAGIC)


@dataclass(frozen=True)
class Seal:
    segment: str
    events: int
    days: dict[str, int]


def read_seal(tail: bytes, name: str) -> Seal:
    """The seal of a segment from its last bytes (at least the seal frame and footer)."""
    if len(tail) < FOOTER.size:
        raise CorruptSegment(f"segment {name}: shorter than its footer")
    length, magic = FOOTER.unpack_from(tail, len(tail) - FOOTER.size)
    start = len(tail) - FOOTER.size - length
    if magic != FOOTER_MAGIC or start < 0:
        raise CorruptSegment(f"segment {name}: no seal footer (not sealed, or truncated)")
    frames, end = scan_frames(tail[start:len(tail) - FOOTER.size])
    if len(frames) != 1 or frames[0][0] != SEAL:
        raise CorruptSegment(f"segment {name}: seal frame fails its checksum")
    try:
        body = json.loads(frames[0][1])
        return Seal(body["segment"], int(body["events"]), {str(day): int(n) for day, n in body["days"].items()})
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CorruptSegment(f"segment {name}: its seal is not the JSON object a collector writes") from None


def read_sealed_frames(data: bytes, name: str) -> tuple[list[bytes], Seal]:
    """The event frames' payloads of a sealed segment, every checksum and the seal checked (the
    payloads' JSON is not: landing parses each one and quarantines what it cannot use)."""
    seal = read_seal(data, name)
    frames, end = scan_frames(data)
    if not frames or frames[-1][0] != SEAL or end != len(data) - FOOTER.size:
        raise CorruptSegment(f"segment {name}: a frame fails its checksum at byte {end}")
    return [payload for kind, payload in frames[:-1] if kind == EVENTS], seal


def read_sealed(data: bytes, name: str) -> tuple[list[dict], Seal]:
    """All events of a sealed segment, checked against its seal; a mismatch raises CorruptSegment."""
    payloads, seal = read_sealed_frames(data, name)
    events = [event for payload in payloads for event in json.loads(payload)]
    if len(events) != seal.events:
        raise CorruptSegment(f"segment {name}: {len(events)} events but the seal says {seal.events}")
    return events, seal


def day_of(time_us: int) -> str:
    """The UTC date (YYYY-MM-DD) of a time in microseconds since the epoch."""
    return _day_name(time_us // 86_400_000_000)


@lru_cache(maxsize=4096)
def _day_name(days: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
