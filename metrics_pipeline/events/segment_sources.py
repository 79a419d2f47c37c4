"""Where sealed segments are read from: the collector's local spool, or the S3 bucket it ships to.

Both list segments under a UTC-day folder (local: the day it was sealed; S3: the day it was
shipped), so a look-up covers only the days since the last one. A segment is addressed as
`DAY/NAME`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from metrics_pipeline.collector.segments import SEALED_SUFFIX, Seal, read_seal
from metrics_pipeline.collector.shipping import object_key

TAIL_BYTES = 64 * 1024  # the seal frame and footer almost always fit


@dataclass(frozen=True, order=True)
class SegmentRef:
    day: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.day}/{self.name}"

    @classmethod
    def parse(cls, ref: str) -> SegmentRef:
        day, _, name = ref.partition("/")
        date.fromisoformat(day)
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"segment reference must be DAY/NAME, got {ref!r}")
        return cls(day, name)


def _days_since(first: date | None, available: list[str], today: date) -> list[str]:
    if first is None:
        return sorted(available)
    return [day for day in sorted(available) if first.isoformat() <= day <= (today + timedelta(days=1)).isoformat()]


class SegmentSource(dg.ConfigurableResource):
    """Lists sealed segments and reads their seals and bytes."""

    def list_sealed(self, since: date | None, today: date) -> list[SegmentRef]:
        raise NotImplementedError

    def read(self, segment: SegmentRef) -> bytes:
        raise NotImplementedError

    def seal(self, segment: SegmentRef) -> Seal:
        raise NotImplementedError


class LocalSegmentSource(SegmentSource):
    """The collector's spool directory (METRICS_EVENTS_SPOOL): `sealed/DAY/NAME.seg`."""

    spool: str

    def _root(self) -> Path:
        return Path(self.spool) / "sealed"

    def list_sealed(self, since: date | None, today: date) -> list[SegmentRef]:
        root = self._root()
        if not root.is_dir():
            return []
        days = _days_since(since, [p.name for p in root.iterdir() if p.is_dir()], today)
        return sorted(
            SegmentRef(day, path.name[: -len(SEALED_SUFFIX)]) for day in days for path in (root / day).glob("*" + SEALED_SUFFIX)
        )

    def _path(self, segment: SegmentRef) -> Path:
        return self._root() / segment.day / (segment.name + SEALED_SUFFIX)

    def read(self, segment: SegmentRef) -> bytes:
        return self._path(segment).read_bytes()

    def seal(self, segment: SegmentRef) -> Seal:
        with self._path(segment).open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
        if size > TAIL_BYTES and _needs_more(tail):
            return read_seal(self.read(segment), segment.name)
        return read_seal(tail, segment.name)


def _needs_more(tail: bytes) -> bool:
    from metrics_pipeline.collector.segments import FOOTER

    length, _ = FOOTER.unpack_from(tail, len(tail) - FOOTER.size)
    return length + FOOTER.size > len(tail)


class S3SegmentSource(SegmentSource):
    """`s3://{bucket}/{prefix}/DAY/NAME.seg`, as the collector ships them (METRICS_EVENTS_S3_*)."""

    bucket: str
    prefix: str = "events"
    endpoint_url: str | None = None

    def _client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url or None)

    def list_sealed(self, since: date | None, today: date) -> list[SegmentRef]:
        client, base = self._client(), f"{self.prefix}/" if self.prefix else ""
        if since is None:
            days = [p["Prefix"][len(base):].rstrip("/") for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/") for p in page.get("CommonPrefixes", [])]
        else:
            days = [(since + timedelta(days=n)).isoformat() for n in range((today - since).days + 2)]
        found = []
        for day in _days_since(since, days, today):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{base}{day}/"):
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[1]
                    if name.endswith(SEALED_SUFFIX):
                        found.append(SegmentRef(day, name[: -len(SEALED_SUFFIX)]))
        return sorted(found)

    def _key(self, segment: SegmentRef) -> str:
        return object_key(self.prefix, segment.day, segment.name)

    def read(self, segment: SegmentRef) -> bytes:
        return self._client().get_object(Bucket=self.bucket, Key=self._key(segment))["Body"].read()

    def seal(self, segment: SegmentRef) -> Seal:
        tail = self._client().get_object(Bucket=self.bucket, Key=self._key(segment), Range=f"bytes=-{TAIL_BYTES}")[
            "Body"].read()
        if len(tail) == TAIL_BYTES and _needs_more(tail):
            return read_seal(self.read(segment), segment.name)
        return read_seal(tail, segment.name)
