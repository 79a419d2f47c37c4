"""The sensor's plan: each sealed segment asked for once, in one run; ended days released; a two-day listing."""

import json
import os
from collections import Counter
from datetime import datetime, timezone

from metrics_pipeline.collector.segments import EVENTS, frame
from metrics_pipeline.collector.spool import SegmentWriter
from metrics_pipeline.events.segment_sources import LocalSegmentSource
from metrics_pipeline.events.sensor import plan

MIDNIGHT = 1709251200_000000  # 2024-03-01T00:00:00Z


def seal_segment(spool, sealed_day: str, days: dict[str, int]):
    writer = SegmentWriter(spool, "t", max_bytes=1 << 20, max_age_seconds=3600)
    events = [{"time_us": MIDNIGHT} for _ in range(sum(days.values()))]
    writer.append([frame(EVENTS, json.dumps(events).encode())], len(events), Counter(days))
    path = writer.seal()
    target = path.parents[1] / sealed_day / path.name  # as if sealed on `sealed_day`
    target.parent.mkdir(exist_ok=True)
    os.rename(path, target)
    return target.name.removesuffix(".seg")


def test_segments_are_asked_for_once_and_an_ended_day_alone_asks_for_a_run(tmp_path):
    source = LocalSegmentSource(spool=str(tmp_path))
    late_evening = datetime(2024, 2, 29, 23, 58, tzinfo=timezone.utc)
    a = seal_segment(tmp_path, "2024-02-29", {"2024-02-27": 1, "2024-02-29": 2, "2024-03-01": 1})  # skew: tomorrow
    segments, cursor = plan(None, source, late_evening)
    assert segments == [f"2024-02-29/{a}"]  # one run lands it; each day is released once it has ended
    assert plan(cursor, source, late_evening) == (None, cursor)  # seen: nothing to do
    assert plan(cursor, source, late_evening, days_ended=True)[0] == []  # a day ended: release it, land nothing

    b = seal_segment(tmp_path, "2024-03-01", {"2024-03-01": 3})
    segments, cursor = plan(cursor, source, datetime(2024, 3, 1, 0, 1, tzinfo=timezone.utc))
    assert segments == [f"2024-03-01/{b}"]

    seal_segment(tmp_path, "2024-01-15", {"2024-01-15": 1})  # a folder older than the cursor's window
    c = seal_segment(tmp_path, "2024-03-03", {"2022-05-01": 2})  # only days before METRICS_START_DATE: counted at landing
    segments, cursor = plan(cursor, source, datetime(2024, 3, 3, 9, tzinfo=timezone.utc))
    assert segments == [f"2024-03-03/{c}"]
    # the listing covers the folders from the cursor's day - 1 on (sealing writes into today's folder)
    assert list(json.loads(cursor)["seen"]) == [f"2024-02-29/{a}", f"2024-03-01/{b}", f"2024-03-03/{c}"]


def test_a_segment_whose_run_failed_is_asked_for_again_after_an_hour(tmp_path):
    source = LocalSegmentSource(spool=str(tmp_path))
    a = seal_segment(tmp_path, "2024-02-29", {"2024-02-29": 1})
    b = seal_segment(tmp_path, "2024-02-29", {"2024-02-28": 1})
    noon = datetime(2024, 2, 29, 12, tzinfo=timezone.utc)
    segments, cursor = plan(None, source, noon)
    assert sorted(segments) == sorted([f"2024-02-29/{a}", f"2024-02-29/{b}"])
    asked = []

    def landed(names):
        asked.append(sorted(names))
        return {a}  # b's run failed

    assert plan(cursor, source, noon.replace(minute=59), landed)[0] is None  # too soon to ask
    segments, cursor = plan(cursor, source, noon.replace(hour=13), landed)
    assert segments == [f"2024-02-29/{b}"]
    assert asked == [sorted([a, b])]
    assert plan(cursor, source, noon.replace(hour=13, minute=30), lambda names: {a})[0] is None  # b asked again at 13:00
    assert plan(cursor, source, noon.replace(hour=14), lambda names: None)[0] is None  # warehouse busy: wait
