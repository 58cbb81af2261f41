"""Pydantic models of the JSON objects carried by trustream's Kafka topics."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

EventKind = Literal["like", "comment", "follow", "unfollow", "post"]

#: Event kinds in the order of their integer codes inside the numba core.
EVENT_KINDS: tuple[str, ...] = ("like", "comment", "follow", "unfollow", "post")

#: Longest id accepted for accounts, posts and events (bytes of UTF-8 are not checked, characters are).
MAX_ID_LEN = 256
#: Longest comment text kept; longer texts fail validation rather than being silently cut.
MAX_TEXT_LEN = 8192


def int_as_float(v: Any) -> Any:
    """Before-validator: JSON integers where a float is expected (strict mode refuses them)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


#: Epoch seconds: a finite JSON number (integers accepted).
EpochSeconds = Annotated[float, BeforeValidator(int_as_float), AfterValidator(_finite)]


class _Wire(BaseModel):
    # Unknown fields are ignored (forward compatibility); values are never coerced from strings.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class EngagementEvent(_Wire):
    """One engagement event: like, comment, follow, unfollow or post.

    ``ts`` is event time in epoch seconds. For ``post``, ``actor_id == target_id`` is the creator.
    Likes and comments name the creator in ``target_id`` and the post in ``post_id`` when known.
    Events are keyed (and so partitioned) by ``target_id``.
    """

    event_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    kind: EventKind
    ts: EpochSeconds = Field(description="event time, epoch seconds")
    actor_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    target_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    post_id: str | None = Field(default=None, max_length=MAX_ID_LEN)
    text: str | None = Field(default=None, max_length=MAX_TEXT_LEN)

    @model_validator(mode="after")
    def _post_is_self(self) -> EngagementEvent:
        if self.kind == "post" and self.actor_id != self.target_id:
            raise ValueError("a post event must have actor_id == target_id (the creator)")
        return self


class ProfileSnapshot(_Wire):
    """A snapshot of an account's public profile at event time ``ts``; keyed by ``account_id``."""

    account_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    ts: EpochSeconds
    followers: int = Field(ge=0)
    following: int = Field(ge=0)
    posts: int = Field(ge=0)
    created_at: EpochSeconds | None = None
    has_avatar: bool | None = None
    bio_len: int | None = Field(default=None, ge=0)
    is_private: bool | None = None
    username: str | None = Field(default=None, max_length=MAX_ID_LEN)


FlagKind = Literal["engagement_spike", "follower_spike", "pod", "bot", "purchased_engagement",
                   "purchased_followers"]


class FlagRecord(_Wire):
    """A flag raised on an account, with reasons a brand can read and the evidence behind them."""

    kind: FlagKind
    score: float = Field(ge=0.0, le=1.0)
    first_ts: float
    last_ts: float
    reasons: list[str]
    evidence: dict[str, Any]


AudienceCategory = Literal["real", "mass_follower", "influencer", "suspicious", "unknown"]


class AudienceMix(_Wire):
    """Shares of a sample of accounts by category (they sum to 1), and the sample size."""

    sampled: int
    real: float
    mass_follower: float
    influencer: float
    suspicious: float
    unknown: float


class Audience(_Wire):
    """Who engages with and follows a creator, from uniform samples of the distinct accounts seen in the stream.

    ``suspicious`` accounts are flagged bots or have a fake-looking profile (probability >= 0.8);
    ``mass_follower`` follows 1,500+ accounts; ``influencer`` has 5,000+ followers; ``real`` has a profile and
    none of those marks; ``unknown`` has no profile seen. ``non_follower_engagers`` is the share of engagers not
    among the followers seen in the stream (null when too few engagers can be checked). ``points`` is what the
    audience costs the authenticity score, with the reasons behind it.
    """

    engagers: AudienceMix
    followers: AudienceMix
    suspicious_engagers: float | None = Field(description="share of engagers with a known category that are suspicious")
    suspicious_followers: float | None = Field(description="same for followers")
    non_follower_engagers: float | None
    points: int = Field(ge=0, description="authenticity points lost to the audience")
    reasons: list[str]


class Deduction(_Wire):
    """Points an account lost, under a reason code (a flag kind, or ``audience``), and why
    (:mod:`detectors.scoring`)."""

    code: str
    points: int = Field(ge=0)
    reason: str


class ScoreRecord(_Wire):
    """Current authenticity of one account, as published on the ``scores`` topic (key: account_id)."""

    account_id: str
    authenticity: int = Field(ge=0, le=100)
    flags: list[FlagRecord]
    counts: dict[str, int]
    followers: int | None
    updated_at: float = Field(description="event time of the newest event reflected, epoch seconds")
    partition: int
    offset: int = Field(description="source offset of the newest event reflected")
    audience: Audience | None = Field(default=None, description="a creator's audience quality (engaged or followed)")
    deductions: list[Deduction] = Field(default_factory=list,
                                        description="the points lost, by reason code: 100 - their sum = authenticity")


class ActorQuality(_Wire):
    """Published on the ``actor-quality`` topic (key: account_id) when an account's audience category changes,
    so that every partition can judge the audiences of its creators."""

    account_id: str
    account_hash: int = Field(description="FNV-1a 64 of account_id as a signed 64-bit integer")
    category: AudienceCategory


class Alert(_Wire):
    """Published on the ``alerts`` topic when a flag first appears on an account.

    ``alert_id`` is deterministic (account, kind, first_ts), so a consumer can drop the repeats
    that at-least-once delivery may produce after a worker restart.
    """

    alert_id: str
    account_id: str
    flag: FlagRecord
    authenticity: int
    raised_at: float = Field(description="event time at which the flag was raised")


class DeadLetter(_Wire):
    """Published on the ``dlq`` topic for input that could not be used, with the original bytes."""

    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    index: int | None = Field(description="position inside a batch message, null for the whole message")
    original_b64: str = Field(description="the original message value (or batch item) in base64, "
                                          "cut to the first TRUSTREAM_DLQ_MAX_ORIGINAL_BYTES when truncated")
    original_size: int = Field(description="size of the original in bytes")
    original_sha256: str = Field(description="SHA-256 of the whole original, hex")
    truncated: bool = Field(description="true when original_b64 holds only the start of the original")
    received_at: float


class PairSummary(_Wire):
    """Repeated early engagement of one actor on one creator's posts, as counted on the creator's partition.

    Published on the ``pod-edges`` topic (key ``actor_id\\x00target_id``) each time ``count`` grows past 1.
    Records are absolute, so applying one twice, or an older one after a newer, changes nothing: the graph
    keeps the record with the highest ``count`` per directed pair.
    """

    actor_id: str
    target_id: str
    count: int = Field(ge=1, description="distinct posts of target_id that actor_id engaged early")
    delay_hist: list[int] = Field(description="early engagements per delay bucket (detectors.pods.DELAY_EDGES_S)")
    t2: EpochSeconds = Field(description="event time at which count reached 2 (the pair became repeated)")
    last_ts: EpochSeconds = Field(description="event time of the latest early engagement counted")
    last_post: str | None = Field(description="the latest post engaged early")


class PodMember(_Wire):
    account_id: str
    engaged: int = Field(description="early engagements given on other members' posts")
    received: int = Field(description="early engagements received from other members")
    partners: int = Field(description="members it engages with, early and repeatedly, in either direction")
    reciprocal: int = Field(description="members with repeated early engagement in both directions")
    first_ts: float = Field(description="event time from which its membership was evident")


class PodRecord(_Wire):
    """An engagement pod: a group of creators who engage each other's posts early and repeatedly.

    Published on the ``pods`` topic keyed by ``pod_id``; ``pod_id`` is derived from the sorted member ids,
    so the same group gets the same id in every run. A group that changes gets a new id, and the old one is
    published once more with ``active`` false and ``superseded_by`` set.
    """

    pod_id: str
    active: bool = True
    superseded_by: list[str] = Field(default_factory=list)
    members: list[str] = Field(description="sorted account ids")
    score: float = Field(ge=0.0, le=1.0)
    first_ts: float = Field(description="event time at which the group first showed (its first reciprocal triangle)")
    last_ts: float = Field(description="event time of the latest early engagement inside the group")
    reciprocal_pairs: int
    directed_pairs: int
    early_engagements: int = Field(description="distinct (member, post) early engagements inside the group")
    median_delay_s: float = Field(description="median delay of those engagements after the post (bucketed)")
    posts: list[str] = Field(description="a sample of posts engaged early inside the group (up to 20)")
    member_stats: list[PodMember]
    reasons: list[str]
