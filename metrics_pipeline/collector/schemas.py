"""Event schemas per type (pydantic), and the spool record each accepted event becomes.

Only what every store downstream can hold is accepted: integers within int64, finite numbers, text
without NUL, times from 1970 to the skew tolerance past the collector's clock (records.py).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, Union

from pydantic import (
    AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, TypeAdapter, ValidationError,
)

from metrics_pipeline.collector.records import EARLIEST_TIME, INT64_MAX, INT64_MIN, bad_text, loads

MAX_BATCH_EVENTS = 1000
_NO_NUL = r"^[^\x00]*$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=_NO_NUL)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
_NUL_MESSAGE = "must not contain NUL (\\u0000)"


def _property_value(value) -> str | float:
    """A custom property: text up to 1,000 characters or a finite number within int64 when whole."""
    if isinstance(value, str):
        if len(value) > 1000:
            raise ValueError("must be at most 1000 characters")
        if bad_text(value):
            raise ValueError(_NUL_MESSAGE)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"must be an integer from {INT64_MIN} to {INT64_MAX}")
        return float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    raise ValueError("must be a string or a number")


PropertyValue = Annotated[str | float, PlainValidator(_property_value)]


class _Event(BaseModel):
    """Fields every event carries; `time` is UTC (server time when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    product: Name | None = None
    time: AwareDatetime | None = None
    user_id: Id | None = None
    session_id: Id | None = None
    idempotency_key: Id | None = None


class StorageEvent(_Event):
    type: Literal["storage"] = "storage"
    action: Literal["uploaded", "deleted"]
    file_id: Id
    dataset_id: Id | None = None
    space_id: Id | None = None
    bytes: Count


class ExtractionEvent(_Event):
    type: Literal["extraction"] = "extraction"
    status: Literal["queued", "working", "done", "failed"]
    extractor: Id
    message: Text | None = None
    file_id: Id | None = None


class TrafficEvent(_Event):
    type: Literal["traffic"] = "traffic"
    kind: Literal["page_view", "download"]
    url: Annotated[Text, StringConstraints(min_length=1)]
    resource_id: Id | None = None
    bytes: Count | None = None


class HealthEvent(_Event):
    type: Literal["health"] = "health"
    response_ms: float = Field(ge=0)
    queue_length: Count | None = None


class CustomEvent(_Event):
    type: Literal["custom"] = "custom"
    name: Name
    properties: dict[Name, PropertyValue] = Field(default_factory=dict, max_length=50)


EVENT_TYPES: dict[str, type[_Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (StorageEvent, ExtractionEvent, TrafficEvent, HealthEvent, CustomEvent)
}
AnyEvent = Annotated[Union[tuple(EVENT_TYPES.values())], Field(discriminator="type")]


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    events: list[AnyEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


BATCH = TypeAdapter(Batch)
SINGLE = {name: TypeAdapter(cls) for name, cls in EVENT_TYPES.items()}
_COMMON = set(_Event.model_fields) | {"type"}


class InvalidEvents(ValueError):
    """A batch or event failed validation; `errors` name the event index and field of each problem."""

    def __init__(self, errors: list[dict]):
        super().__init__("invalid events")
        self.errors = errors


def _errors(error: ValidationError, single: bool) -> list[dict]:
    found = []
    for item in error.errors(include_url=False, include_input=False, include_context=True)[:20]:
        loc = list(item["loc"])
        index = None
        if single:
            index = 0
        elif len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
            index, loc = loc[1], loc[2:]
            if loc and loc[0] in EVENT_TYPES:  # the discriminator's tag, not a field
                loc = loc[1:]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["type"]
        field = ".".join(str(part) for part in loc) or ("events" if not single else "body")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch" and item.get("ctx", {}).get("pattern") == _NO_NUL:
            message = _NUL_MESSAGE
        found.append({"event": index, "field": field, "message": message})
    return found


def _validate(adapter: TypeAdapter, body: bytes, single: bool):
    try:
        return adapter.validate_json(body)
    except ValidationError as error:
        errors = _errors(error, single)
        if "number out of range" in str(error):  # a literal too long for the JSON parser: find its field
            try:
                adapter.validate_python(loads(body, huge=lambda text: -1 << 64 if text[0] == "-" else 1 << 64))
            except ValidationError as located:
                errors = _errors(located, single)
            except (ValueError, RecursionError):
                pass
        raise InvalidEvents(errors) from None


def parse_batch(body: bytes) -> list[_Event]:
    return _validate(BATCH, body, single=False).events


def parse_single(event_type: str, body: bytes) -> list[_Event]:
    adapter = SINGLE.get(event_type)
    if adapter is None:
        raise InvalidEvents([{"event": 0, "field": "type", "message": f"unknown event type {event_type!r}; "
                              f"one of {sorted(EVENT_TYPES)}"}])
    return [_validate(adapter, body, single=True)]


def to_records(events: list[_Event], product: str, now: datetime, max_future: timedelta) -> list[dict]:
    """Spool records: common fields flat, the type's own fields under `properties`; times as UTC µs,
    from 1970 to `max_future` past `now`."""
    records, problems = [], []
    received_us = _micros(now)
    for index, event in enumerate(events):
        when = _utc(event.time) if event.time is not None else now
        if when is None or when < EARLIEST_TIME or when - now > max_future:
            problems.append({"event": index, "field": "time", "message": "must be from 1970-01-01T00:00:00Z to "
                             f"{int(max_future.total_seconds())} s past the collector's clock"})
            continue
        values = event.__dict__
        records.append({
            "type": event.type, "product": product, "time_us": _micros(when), "received_us": received_us,
            "user_id": event.user_id, "session_id": event.session_id, "idempotency_key": event.idempotency_key,
            "properties": {k: v for k, v in values.items() if k not in _COMMON and v is not None},
        })
    if problems:
        raise InvalidEvents(problems)
    return records


def _utc(moment: datetime) -> datetime | None:
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        return None


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
