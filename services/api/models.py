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


class AudienceMixPublic(BaseModel):
    sampled: int = Field(description="accounts in the uniform sample")
    real: float
    mass_follower: float = Field(description="follow 1,500+ accounts")
    influencer: float = Field(description="have 5,000+ followers")
    suspicious: float = Field(description="flagged bots or fake-looking profiles")
    unknown: float = Field(description="no profile seen")


class AudiencePublic(BaseModel):
    engagers: AudienceMixPublic = Field(description="who liked and commented")
    followers: AudienceMixPublic = Field(description="who followed (in the stream)")
    suspicious_engagers: float | None = Field(description="share of engagers with a known profile that are suspicious")
    suspicious_followers: float | None
    non_follower_engagers: float | None = Field(description="share of engagers not among the followers seen")
    points: int = Field(description="authenticity points lost to the audience")
    reasons: list[str]


class DeductionPublic(BaseModel):
    code: str = Field(description="reason code: a flag kind, or audience")
    points: int = Field(description="authenticity points lost to it")
    reason: str


class AccountPublic(BaseModel):
    account_id: str
    authenticity: int = Field(ge=0, le=100, description="100 = nothing suspicious seen")
    alert: bool = Field(description="authenticity below the alert threshold of the request (alert_below)")
    alert_below: int = Field(description="the alert threshold applied")
    deductions: list[DeductionPublic] = Field(
        default_factory=list, description="every point lost, by reason code: 100 - their sum = authenticity")
    flagged: bool
    flags: list[FlagPublic]
    counts: dict[str, int]
    followers: int | None
    updated_at: float = Field(description="event time of the newest event reflected (epoch s)")
    pods: list[str] = Field(default_factory=list,
                            description="ids of the active engagement pods the account is a member of, sorted")
    audience: AudiencePublic | None = Field(default=None, description="audience quality of a creator")


class AccountsPublic(BaseModel):
    data: list[AccountPublic]
    count: int = Field(description="accounts on this page")
    total: int = Field(description="accounts matching the filter")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class PodMemberPublic(BaseModel):
    account_id: str
    engaged: int = Field(description="early engagements given on other members' posts")
    received: int = Field(description="early engagements received from other members")
    partners: int = Field(description="members it engages with, early and repeatedly, in either direction")
    reciprocal: int = Field(description="members with repeated early engagement in both directions")
    first_ts: float = Field(description="event time from which its membership was evident (epoch s)")


class PodPublic(BaseModel):
    pod_id: str = Field(description="derived from the sorted member ids: the same group has the same id")
    active: bool = Field(description="false once the group changed (see superseded_by) or dissolved")
    superseded_by: list[str] = Field(description="ids of the pods that replaced this one (retired pods)")
    members: list[str] = Field(description="member account ids, sorted")
    score: float = Field(ge=0.0, le=1.0, description="severity 0..1 of the pod flag its members carry")
    first_ts: float = Field(description="event time at which the group first showed (epoch s)")
    last_ts: float = Field(description="event time of the latest early engagement inside the group (epoch s)")
    reciprocal_pairs: int = Field(description="member pairs engaging each other early and repeatedly, both ways")
    directed_pairs: int = Field(description="ordered member pairs with repeated early engagement")
    early_engagements: int = Field(description="distinct (member, post) early engagements inside the group")
    median_delay_s: float | None = Field(
        description="median delay of those engagements after the post, seconds (bucketed); null if unknown")
    posts: list[str] = Field(description="a sample of posts engaged early inside the group (up to 20)")
    member_stats: list[PodMemberPublic]
    reasons: list[str]


class PodsPublic(BaseModel):
    data: list[PodPublic]
    count: int = Field(description="pods on this page")
    total: int = Field(description="pods matching the filter")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class Health(BaseModel):
    status: str
    detail: dict[str, Any] = {}
