"""HTTP response models (apart from the wire schemas in :mod:`schemas`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FlagPublic(BaseModel):
    kind: str
    score: float = Field(description="severity 0..1")
    first_ts: float
    last_ts: float
    reasons: list[str]
    evidence: dict[str, Any]


class AccountPublic(BaseModel):
    account_id: str
    authenticity: int = Field(ge=0, le=100, description="100 = nothing suspicious seen")
    flagged: bool
    flags: list[FlagPublic]
    counts: dict[str, int]
    followers: int | None
    updated_at: float = Field(description="event time of the newest event reflected (epoch s)")


class AccountsPublic(BaseModel):
    data: list[AccountPublic]
    count: int = Field(description="accounts on this page")
    total: int = Field(description="accounts matching the filter")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class Health(BaseModel):
    status: str
    detail: dict[str, Any] = {}
