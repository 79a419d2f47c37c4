"""Ships sealed segments to object storage (S3 API) so several collectors can feed one pipeline.

A segment goes to `{prefix}/{upload UTC day}/{name}.seg` and is deleted locally only after the
upload succeeded; a retry after a crash re-uploads the same bytes (landing is keyed by name).
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path

from metrics_pipeline.collector.segments import SEALED_SUFFIX


def object_key(prefix: str, day: str, name: str) -> str:
    return f"{prefix}/{day}/{name}{SEALED_SUFFIX}" if prefix else f"{day}/{name}{SEALED_SUFFIX}"


class S3Shipper:
    def __init__(self, spool: Path, bucket: str, prefix: str, endpoint_url: str | None):
        import boto3

        self.spool, self.bucket, self.prefix = spool, bucket, prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url)

    def ship(self) -> tuple[int, int]:
        """Upload every local sealed segment, oldest first; returns (shipped, failed)."""
        shipped = failed = 0
        lock_path = self.spool / ".ship.lock"
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0, 0  # another worker is shipping
            for path in sorted((self.spool / "sealed").glob("*/*" + SEALED_SUFFIX), key=lambda p: p.name):
                day = datetime.now(timezone.utc).date().isoformat()
                try:
                    with open(path, "rb") as handle:
                        self.client.put_object(
                            Bucket=self.bucket, Key=object_key(self.prefix, day, path.name[: -len(SEALED_SUFFIX)]),
                            Body=handle.read(),
                        )
                except FileNotFoundError:
                    continue
                except Exception:  # network or service errors: kept locally, retried next tick
                    failed += 1
                    break
                os.unlink(path)
                shipped += 1
        return shipped, failed
