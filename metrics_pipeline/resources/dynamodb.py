"""DynamoDB: a low-level client and a parallel, retrying BatchWriteItem writer."""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import dagster as dg
from botocore.exceptions import ClientError
from pydantic import Field

BATCH_SIZE = 25  # BatchWriteItem's limit
RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable",
})


class DynamoDBWriteError(RuntimeError):
    """Some requests were still rejected after every retry: the sink's state is not published."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code  # DynamoDB's error code, e.g. ValidationException ("" when throttled out)


@dataclass
class WriteStats:
    requests: int = 0  # BatchWriteItem calls
    retries: int = 0  # calls that repeated throttled or unprocessed requests


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str | None, region: str | None, attempts: int, pool: int) -> Any:
    """One thread-safe client per endpoint and process: building one costs ~0.15 s (service model).
    boto3 is imported here, so a process that never writes DynamoDB (a sensor tick) does not load it."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": attempts, "mode": "standard"},
        parameter_validation=False,  # items are built by code; skip per-item validation cost
        max_pool_connections=pool,
    )
    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, region_name=region, config=config)


class DynamoDBResource(dg.ConfigurableResource):
    """A DynamoDB endpoint (AWS or a compatible server); credentials come from the boto3 chain."""

    stack: str = Field(description="Table-name prefix: `{stack}-install-activity`, `{stack}-github-activity`.")
    endpoint_url: str | None = Field(default=None, description="Set for a local/compatible server.")
    region_name: str | None = Field(default=None, description="Defaults to the boto3 chain (AWS_REGION).")
    max_workers: int = Field(default=4, description="Concurrent BatchWriteItem requests.")
    max_attempts: int = Field(default=10, description="Attempts per batch before the write fails.")
    base_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 5.0
    botocore_max_attempts: int = Field(default=3, description="botocore attempts per call (1 = no botocore retry).")

    def table_name(self, suffix: str) -> str:
        return f"{self.stack}-{suffix}"

    def client(self) -> Any:
        region = self.region_name or ("us-east-1" if self.endpoint_url else None)
        return _client(self.endpoint_url, region, self.botocore_max_attempts, max(10, self.max_workers * 2))

    def answers(self) -> bool:
        """Whether the endpoint answers now (the catch-up sensor asks before re-running a sink)."""
        try:
            self.client().list_tables(Limit=1)
        except Exception:  # noqa: BLE001 - any failure to answer means "not yet"
            return False
        return True

    def write_batches(
        self,
        table: str,
        requests: Sequence[dict],
        client: Any | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> WriteStats:
        """Write PutRequest/DeleteRequest dicts in batches of 25, in parallel, retrying throttles.

        Raises DynamoDBWriteError if any batch is still unwritten after `max_attempts`;
        `on_batch(n)` is called after each fully written batch (n = batches done so far).
        """
        client = client or self.client()
        batches = [requests[i:i + BATCH_SIZE] for i in range(0, len(requests), BATCH_SIZE)]
        stats, lock, done = WriteStats(), threading.Lock(), [0]
        failed = threading.Event()

        def write_one(batch: Sequence[dict]) -> None:
            pending, attempt = list(batch), 0
            while pending:
                if failed.is_set():
                    return
                attempt += 1
                if attempt > 1:
                    self._sleep(attempt)
                    with lock:
                        stats.retries += 1
                with lock:
                    stats.requests += 1
                try:
                    response = client.batch_write_item(RequestItems={table: pending})
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code", "")
                    if code not in RETRYABLE_CODES:
                        failed.set()
                        message = error.response.get("Error", {}).get("Message", "")
                        raise DynamoDBWriteError(f"BatchWriteItem on {table} failed: {code} {message}", code) from None
                else:
                    pending = response.get("UnprocessedItems", {}).get(table, [])
                if pending and attempt >= self.max_attempts:
                    failed.set()
                    raise DynamoDBWriteError(
                        f"{len(pending)} requests to {table} still throttled/unprocessed after "
                        f"{attempt} attempts"
                    )
            with lock:
                done[0] += 1
                finished = done[0]
            if on_batch is not None:
                on_batch(finished)

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="ddb-writer") as pool:
            futures = [pool.submit(write_one, batch) for batch in batches]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in finished):
                failed.set()
                for future in futures:
                    future.cancel()
            errors = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception()]
        if errors:
            raise errors[0]
        return stats

    def _sleep(self, attempt: int) -> None:
        """Full-jitter exponential backoff."""
        cap = min(self.max_backoff_seconds, self.base_backoff_seconds * 2 ** (attempt - 2))
        time.sleep(random.uniform(0, cap))
