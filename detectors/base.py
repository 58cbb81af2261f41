"""The detector contract (interfaces only; implementations live beside this module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from detectors.state import AccountTable, BlockSpec
from schemas.wire import FlagRecord


@dataclass(frozen=True, slots=True)
class EventColumns:
    """A batch of engagement events as columns, in processing order.

    ``offset`` is the source message offset (all events of a batch message share it); ``keep`` is
    False for events the duplicate filter dropped.
    """

    kind: np.ndarray  # int8 codes, schemas.wire.EVENT_KINDS order
    ts: np.ndarray  # float64 event time, epoch seconds
    target: np.ndarray  # int64 dense id of target_id
    offset: np.ndarray  # int64
    pos: np.ndarray  # int64 source position (offset << POS_SHIFT | index in the message): partition-level guards
    keep: np.ndarray  # bool
    actor_h: np.ndarray  # uint64 FNV-1a of actor_id
    post_h: np.ndarray  # uint64 FNV-1a of post_id (0: no post)
    suspicious: np.ndarray  # bool: the actor is a flagged bot or has a fake-looking profile (detectors.audience)
    new: np.ndarray  # bool: the actor's first engagement on this partition (detectors.purchases.SeenAccounts)
    generic: np.ndarray  # bool: a comment whose text is generic (detectors.kernels.bots.TEXT_GENERIC)
    post_score: np.ndarray  # float64 MIDAS-R burst score of the event's post (detectors.purchases.PostSketch)


@dataclass(frozen=True, slots=True)
class ProfileColumns:
    ts: np.ndarray  # float64
    account: np.ndarray  # int64 dense id
    followers: np.ndarray  # int64
    offset: np.ndarray  # int64
    fake: np.ndarray  # float64 P(fake) of the profile model (detectors.profiles)
    following: np.ndarray  # int64


@dataclass(frozen=True, slots=True)
class ActionColumns:
    """Actions (likes, comments, follows, unfollows) of actors on this partition, in processing order."""

    actor: np.ndarray  # int64 dense id of the actor
    ts: np.ndarray  # float64
    kind: np.ndarray  # int8 codes, schemas.wire.EVENT_KINDS order
    target_h: np.ndarray  # uint64 hash of the target account
    sim: np.ndarray  # uint64 SimHash of the comment text (0 without text)
    tflags: np.ndarray  # uint8 text flags (detectors.kernels.bots.TEXT_*)
    shared: np.ndarray  # int32 other accounts that posted the same specific text (detectors.comments)
    offset: np.ndarray  # int64 source offset on the actions topic
    apply: np.ndarray  # bool: kept by the duplicate filter and not covered by a restored chunk


class Detector(Protocol):
    """A streaming detector: updates its block of per-account state from whole batches.

    ``update`` must process events strictly in the given order, so that the result does not depend
    on how a stream is cut into batches, and must skip updates already covered by a restored
    checkpoint chunk (``table.chunk_off``). It returns, per account, a bit mask of flags that first
    appeared in this batch (bit ``i`` is ``flag_kinds[i]``). Deciding *how much* a flag costs is the
    scorer's job (:mod:`detectors.scoring`), not the detector's.
    """

    name: str
    spec: BlockSpec
    flag_kinds: tuple[str, ...]

    def update(self, batch: EventColumns, table: AccountTable) -> np.ndarray: ...

    def update_profiles(self, batch: ProfileColumns, table: AccountTable) -> np.ndarray | None:
        """Apply profile snapshots; may return a flag mask like :meth:`update`."""
        ...

    def flags(self, table: AccountTable, account: int) -> list[FlagRecord]:
        """Current flags of one account, with reasons and evidence."""
        ...

    def counts(self, table: AccountTable, account: int) -> dict[str, int]:
        """Plain counters shown beside the score."""
        ...
