"""Spool segments: group commit, sealing, recovery of a killed writer's torn tail, corruption found."""

import asyncio
import json
from collections import Counter

import pytest

from metrics_pipeline.collector.segments import EVENTS, SEAL, CorruptSegment, frame, read_seal, read_sealed, scan_frames
from metrics_pipeline.collector.spool import GroupCommitSpool, SegmentWriter, recover_orphans


def events(n, day="2024-02-29", start=0):
    time_us = {"2024-02-29": 1709164800_000000, "2024-03-01": 1709251200_000000}[day]
    return [{"time_us": time_us, "i": start + i} for i in range(n)]


def test_concurrent_appends_share_fsyncs_and_seal_with_day_counts(tmp_path):
    writer = SegmentWriter(tmp_path, "t", max_bytes=1 << 20, max_age_seconds=3600)
    spool = GroupCommitSpool(writer)

    batches = [("2024-02-29", events(2, "2024-02-29", 2 * i)) for i in range(50)]
    batches.append(("2024-03-01", events(3, "2024-03-01", 1000)))

    async def go():
        await asyncio.gather(*(spool.append(json.dumps(b).encode(), len(b), Counter({day: len(b)})) for day, b in batches))
        await spool.close()

    asyncio.run(go())
    [path] = list((tmp_path / "sealed").glob("*/*.seg"))
    found, seal = read_sealed(path.read_bytes(), path.name)
    assert sorted(e["i"] for e in found) == list(range(100)) + [1000, 1001, 1002]
    assert seal.days == {"2024-02-29": 100, "2024-03-01": 3} and seal.events == 103
    frames, _ = scan_frames(path.read_bytes())
    assert [kind for kind, _ in frames] == [EVENTS] * 51 + [SEAL]  # one frame per request
    assert writer.syncs <= 2  # 51 concurrent requests shared (at most) two fsyncs


def test_recovery_cuts_a_torn_tail_and_seals_the_intact_frames(tmp_path):
    (tmp_path / "open").mkdir()
    orphan = tmp_path / "open" / "20240229T000000000000Z-x-1-00001.open"
    good = frame(EVENTS, json.dumps(events(3)).encode()) + frame(EVENTS, json.dumps(events(2, "2024-03-01")).encode())
    torn = frame(EVENTS, json.dumps(events(4)).encode())[:-5]  # killed mid-write
    orphan.write_bytes(good + torn)
    (tmp_path / "open" / "20240229T000000000001Z-x-1-00002.open").write_bytes(torn)  # nothing intact

    [sealed] = recover_orphans(tmp_path)
    found, seal = read_sealed(sealed.read_bytes(), sealed.name)
    assert (len(found), seal.days) == (5, {"2024-02-29": 3, "2024-03-01": 2})
    assert list((tmp_path / "open").iterdir()) == []
    assert recover_orphans(tmp_path) == []  # sealed segments are never touched again


def test_a_live_writers_segment_is_not_adopted(tmp_path):
    writer = SegmentWriter(tmp_path, "t", max_bytes=1 << 20, max_age_seconds=3600)
    writer.append([frame(EVENTS, json.dumps(events(1)).encode())], 1, Counter({"2024-02-29": 1}))
    assert recover_orphans(tmp_path) == []  # its flock is held
    assert read_seal(writer.seal().read_bytes(), "s").events == 1


def test_a_damaged_sealed_segment_is_refused_naming_it(tmp_path):
    writer = SegmentWriter(tmp_path, "t", max_bytes=1 << 20, max_age_seconds=3600)
    writer.append([frame(EVENTS, json.dumps(events(2)).encode())], 2, Counter({"2024-02-29": 2}))
    data = bytearray(writer.seal().read_bytes())
    data[20] ^= 0xFF
    with pytest.raises(CorruptSegment, match="segment seg-1: a frame fails its checksum"):
        read_sealed(bytes(data), "seg-1")
    with pytest.raises(CorruptSegment, match="no seal footer"):
        read_sealed(bytes(data[:-3]), "seg-1")
