"""Event schemas per type (pydantic), and the spool record each accepted event becomes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

MAX_BATCH_EVENTS = 1000
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Event(BaseModel):
    """Fields every event carries; `time` is UTC (server time when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
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
    bytes: int = Field(ge=0)


class ExtractionEvent(_Event):
    type: Literal["extraction"] = "extraction"
    status: Literal["queued", "working", "done", "failed"]
    extractor: Id
    message: Annotated[str, StringConstraints(max_length=2000)] | None = None
    file_id: Id | None = None


class TrafficEvent(_Event):
    type: Literal["traffic"] = "traffic"
    kind: Literal["page_view", "download"]
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    resource_id: Id | None = None
    bytes: int | None = Field(default=None, ge=0)


class HealthEvent(_Event):
    type: Literal["health"] = "health"
    response_ms: float = Field(ge=0)
    queue_length: int | None = Field(default=None, ge=0)


class CustomEvent(_Event):
    type: Literal["custom"] = "custom"
    name: Name
    properties: dict[Name, Annotated[str, StringConstraints(max_length=1000)] | float] = Field(
        default_factory=dict, max_length=50
    )


EVENT_TYPES: dict[str, type[_Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (StorageEvent, ExtractionEvent, TrafficEvent, HealthEvent, CustomEvent)
}
AnyEvent = Annotated[Union[tuple(EVENT_TYPES.values())], Field(discriminator="type")]


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:20]:
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
        found.append({"event": index, "field": field, "message": item["msg"]})
    return found


def parse_batch(body: bytes) -> list[_Event]:
    try:
        return BATCH.validate_json(body).events
    except ValidationError as error:
        raise InvalidEvents(_errors(error, single=False)) from None


def parse_single(event_type: str, body: bytes) -> list[_Event]:
    adapter = SINGLE.get(event_type)
    if adapter is None:
        raise InvalidEvents([{"event": 0, "field": "type", "message": f"unknown event type {event_type!r}; "
                              f"one of {sorted(EVENT_TYPES)}"}])
    try:
        return [adapter.validate_json(body)]
    except ValidationError as error:
        raise InvalidEvents(_errors(error, single=True)) from None


def to_records(events: list[_Event], product: str, now: datetime, max_future: timedelta) -> list[dict]:
    """Spool records: common fields flat, the type's own fields under `properties`; times as UTC µs."""
    records, problems = [], []
    received_us = _micros(now)
    for index, event in enumerate(events):
        when = event.time.astimezone(timezone.utc) if event.time is not None else now
        if when - now > max_future:
            problems.append({"event": index, "field": "time", "message": "is further in the future than the "
                             f"collector's skew tolerance ({int(max_future.total_seconds())} s)"})
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


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
