"""JSON Schema export of the wire contract (``trustream schema``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.wire import Alert, DeadLetter, EngagementEvent, PairSummary, PodRecord, ProfileSnapshot, ScoreRecord

WIRE_MODELS: dict[str, type[BaseModel]] = {
    "engagement_event": EngagementEvent,
    "profile_snapshot": ProfileSnapshot,
    "score": ScoreRecord,
    "alert": Alert,
    "dead_letter": DeadLetter,
    "pair_summary": PairSummary,
    "pod": PodRecord,
}


def json_schemas() -> dict[str, Any]:
    """One JSON Schema per wire object, keyed by name."""
    return {name: model.model_json_schema() for name, model in WIRE_MODELS.items()}
