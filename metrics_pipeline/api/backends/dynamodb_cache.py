"""The DynamoDB backend's answer cache: the data changes once a day, when a publish also rewrites the
pipeline-status items, so per-plugin reads are kept until those items change.

The status items are re-read every `every` seconds by a background thread (a read per request would
itself be a request): an answer is at most that long behind a publish. The sinks write the status
after their items, so data read after a status version is never older than that version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date

log = logging.getLogger(__name__)
FIRST_READ_WAIT_SECONDS = 10.0  # a request arriving at start-up waits this long for the first status read


@dataclass(frozen=True)
class Status:
    """The pipeline-status items: `version` keys the cache, `last_complete_day` is served as data_status."""

    version: Hashable
    last_complete_day: dict[str, date | None] = field(default_factory=dict)


class AnswerCache:
    """Parsed per-plugin reads, each valid for one status version; the least recently used go beyond `size`."""

    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, version: Hashable, value: object) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class StatusWatch:
    """Re-reads the status every `every` seconds in a daemon thread and clears the cache when it changes."""

    def __init__(self, read: Callable[[], Status], every: float, on_change: Callable[[], None]):
        self._read, self._every, self._on_change = read, every, on_change
        self._lock = threading.Lock()
        self._status: Status | None = None
        self._read_at = 0.0
        self._failing = False
        self._first = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="api-dynamodb-status", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as error:  # botocore's errors have no common base; the next tick retries
                with self._lock:
                    self._status = None  # unknown: requests read it themselves until a tick succeeds
                if not self._failing:
                    log.warning("reading the pipeline-status items failed (%s); answers bypass the cache until "
                                "it succeeds", type(error).__name__)
                self._failing = True
            finally:
                self._first.set()
            self._stop.wait(self._every)

    def refresh(self) -> Status:
        status = self._read()
        with self._lock:
            changed = self._status is not None and self._status.version != status.version
            self._status, self._read_at = status, time.monotonic()
        if changed:
            self._on_change()
        if self._failing:
            log.warning("reading the pipeline-status items works again")
            self._failing = False
        return status

    def current(self) -> Status | None:
        """The last status if read within two periods (a hung read must not pin old answers), else None."""
        self._first.wait(FIRST_READ_WAIT_SECONDS)
        with self._lock:
            if self._status is None or time.monotonic() - self._read_at > 2 * self._every:
                return None
            return self._status

    def close(self) -> None:
        self._stop.set()
