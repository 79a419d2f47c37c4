"""What a spool record may hold so every store downstream can take it. The collector refuses the rest
(422); landing quarantines any record an older collector or a hand-written segment left behind."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)  # event times start here (µs 0)
MAX_FUTURE_LIMIT_SECONDS = 86_400  # the collector's skew setting is at most this; landing allows it
LATEST_RECEIVED_US = 7_258_118_400_000_000  # 2200-01-01: a receipt time past it is a broken clock
BYTES_TYPES = ("storage", "traffic")

UNPARSEABLE = "unparseable JSON"
WRONG_TYPE = "wrong type"
INT64 = "integer outside int64"
NON_FINITE = "non-finite number"
TIME_RANGE = "time out of range"
BAD_TEXT = "NUL or lone surrogate in text"


class HugeInt(str):
    """An integer literal too long for Python to convert (over 4,300 digits): outside int64 anyway."""


@dataclass(frozen=True)
class Problem:
    reason: str  # one of the constants above: what quarantine counts by
    field: str  # dotted path in the record ("" for the record itself)
    detail: str

    @property
    def sample(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


def loads(payload: bytes, huge: Callable[[str], object] = HugeInt):
    """JSON as the collector wrote it; integer literals too long to convert become `huge(literal)`."""
    try:
        return json.loads(payload)
    except ValueError as error:
        if "integer string conversion" not in str(error):
            raise
    return json.loads(payload, parse_int=lambda text: int(text) if len(text) <= 4000 else huge(text))


def bad_text(text: str) -> bool:
    """NUL (Postgres text and jsonb refuse it) or a lone surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def problem(record) -> Problem | None:
    """Why the warehouse or a sink could not take this spool record, or None when it can."""
    if not isinstance(record, dict):
        return Problem(WRONG_TYPE, "", f"a record must be a JSON object, not {_kind(record)}")
    try:
        found = _scan(record)
    except RecursionError:
        return Problem(WRONG_TYPE, "", "nested too deeply")
    if found is not None:
        return found
    for name in ("type", "product"):
        if not isinstance(record.get(name), str) or not record[name]:
            return Problem(WRONG_TYPE, name, f"must be a non-empty string, not {_kind(record.get(name))}")
    for name in ("user_id", "session_id", "idempotency_key"):
        if record.get(name) is not None and not isinstance(record[name], str):
            return Problem(WRONG_TYPE, name, f"must be a string or null, not {_kind(record[name])}")
    for name in ("time_us", "received_us"):
        if not _is_int(record.get(name)):
            return Problem(WRONG_TYPE, name, f"must be an integer (µs since 1970), not {_kind(record.get(name))}")
    properties = record.get("properties")
    if not isinstance(properties, dict):
        return Problem(WRONG_TYPE, "properties", f"must be an object, not {_kind(properties)}")
    if record["type"] in BYTES_TYPES and properties.get("bytes") is not None and not _is_int(properties["bytes"]):
        return Problem(WRONG_TYPE, "properties.bytes", f"must be an integer, not {_kind(properties['bytes'])}")
    response_ms = properties.get("response_ms")
    if record["type"] == "health" and response_ms is not None and not _is_number(response_ms):
        return Problem(WRONG_TYPE, "properties.response_ms", f"must be a number, not {_kind(response_ms)}")
    received, at = record["received_us"], record["time_us"]
    if not 0 <= received < LATEST_RECEIVED_US:
        return Problem(TIME_RANGE, "received_us", f"{received} is not from 1970-01-01 to 2200-01-01")
    if not 0 <= at <= received + MAX_FUTURE_LIMIT_SECONDS * 1_000_000:
        return Problem(TIME_RANGE, "time_us", f"{at} is not from 1970-01-01 to a day past its receipt ({received})")
    return None


def _scan(container: dict | list, path: str = "") -> Problem | None:
    """The first integer outside int64, non-finite number or unstorable text anywhere in `container`."""
    for key, value in container.items() if type(container) is dict else enumerate(container):
        kind = type(value)
        if kind is str:
            if "\x00" in value or not value.isascii() and bad_text(value):
                return Problem(BAD_TEXT, _join(path, key), f"a string of {len(value)} characters")
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return Problem(INT64, _join(path, key), str(value)[:40])
        elif kind is float:
            if not math.isfinite(value):
                return Problem(NON_FINITE, _join(path, key), repr(value))
        elif kind is dict or kind is list:
            found = _scan(value, _join(path, key))
            if found is not None:
                return found
        elif kind is HugeInt:
            return Problem(INT64, _join(path, key), f"{value[:20]}… ({len(value)} digits)")
        if type(key) is str and ("\x00" in key or not key.isascii() and bad_text(key)):
            return Problem(BAD_TEXT, path, "a key")
    return None


def _join(path: str, key) -> str:
    if type(key) is int:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
