"""Wire contract of trustream: what travels over Kafka, defined once.

Every Kafka message value is UTF-8 JSON holding one object or a JSON array of objects
(a batch). Unknown extra fields are ignored. The models here are the *wire* schemas;
the HTTP API has its own response models in :mod:`services.api.models`.

Topics (prefix configurable with ``TRUSTREAM_TOPIC_PREFIX``): ``events``, ``profiles``,
``scores``, ``alerts``, ``dlq``. See ``docs/wire-contract.md``.
"""

from schemas.codec import DecodeError, DecodeResult, decode_events, decode_profiles
from schemas.wire import (
    EVENT_KINDS,
    Alert,
    DeadLetter,
    EngagementEvent,
    EventKind,
    FlagRecord,
    ProfileSnapshot,
    ScoreRecord,
)

__all__ = [
    "EVENT_KINDS",
    "Alert",
    "DeadLetter",
    "DecodeError",
    "DecodeResult",
    "EngagementEvent",
    "EventKind",
    "FlagRecord",
    "ProfileSnapshot",
    "ScoreRecord",
    "decode_events",
    "decode_profiles",
]
