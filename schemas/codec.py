"""Decoding of Kafka message values into validated wire objects.

A message value is UTF-8 JSON holding one object or an array of objects. Decoding never raises:
every unusable message, or unusable item inside a batch, comes back as a :class:`DecodeError` with a
reason code and the original bytes, and every valid item of the same message is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.wire import EngagementEvent, ProfileSnapshot

M = TypeVar("M", bound=BaseModel)

#: Reason codes of dead letters, also the label values of the DLQ counter.
REASONS = ("too_large", "not_utf8", "not_json", "not_object", "schema", "future_ts")


@dataclass(frozen=True, slots=True)
class DecodeError:
    reason: str
    detail: str
    index: int | None  # position inside a batch; None when the whole message is unusable
    original: bytes


@dataclass(slots=True)
class DecodeResult(Generic[M]):
    items: list[M] = field(default_factory=list)
    errors: list[DecodeError] = field(default_factory=list)


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _decode(value: bytes | None, model: type[M], list_adapter: TypeAdapter[list[M]], max_bytes: int,
            max_ts: float | None = None) -> DecodeResult[M]:
    out: DecodeResult[M] = DecodeResult()
    raw = value or b""
    if len(raw) > max_bytes:
        out.errors.append(DecodeError("too_large", f"{len(raw)} bytes > limit {max_bytes}", None, raw))
        return out
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            out.errors.append(DecodeError("not_utf8", str(uexc), None, raw))
        else:
            out.errors.append(DecodeError("not_json", str(exc), None, raw))
        return out
    if isinstance(doc, dict):
        items: list[object] = [doc]
        batch = False
    elif isinstance(doc, list):
        items = doc
        batch = True
    else:
        out.errors.append(DecodeError("not_object", f"JSON {type(doc).__name__} is neither an object "
                                      "nor an array of objects", None, raw))
        return out
    try:
        # Fast path: the whole batch is valid (the common case), validated in one call.
        valid = list_adapter.validate_python(items)
        if max_ts is None or all(getattr(m, "ts", 0.0) <= max_ts for m in valid):
            out.items = valid
            return out
    except ValidationError:
        pass
    for i, item in enumerate(items):
        index = i if batch else None
        original = orjson.dumps(item) if batch else raw
        if not isinstance(item, dict):
            out.errors.append(DecodeError("not_object", f"batch item is a JSON {type(item).__name__}",
                                          index, original))
            continue
        try:
            obj = model.model_validate(item)
        except ValidationError as exc:
            out.errors.append(DecodeError("schema", _short(exc), index, original))
            continue
        ts = getattr(obj, "ts", 0.0)
        if max_ts is not None and ts > max_ts:
            # one event far in the future would move its account's windows ahead of every real event
            out.errors.append(DecodeError("future_ts", f"ts {ts} is after the latest accepted {max_ts}",
                                          index, original))
            continue
        out.items.append(obj)
    return out


_EVENTS = TypeAdapter(list[EngagementEvent])
_PROFILES = TypeAdapter(list[ProfileSnapshot])


def decode_events(value: bytes | None, max_bytes: int = 1 << 20, max_ts: float | None = None
                  ) -> DecodeResult[EngagementEvent]:
    """Decode one message value of the events topic; events with ``ts > max_ts`` are refused."""
    return _decode(value, EngagementEvent, _EVENTS, max_bytes, max_ts)


def decode_profiles(value: bytes | None, max_bytes: int = 1 << 20) -> DecodeResult[ProfileSnapshot]:
    """Decode one message value of the profiles topic."""
    return _decode(value, ProfileSnapshot, _PROFILES, max_bytes)
