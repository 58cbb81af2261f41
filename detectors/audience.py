"""Audience quality of creators: who likes, comments and follows, by category, and what it costs the score.

Each creator keeps uniform samples (bottom-k, :mod:`detectors.kernels.audience`) of the distinct accounts that
engaged with it and that followed it in the stream. When the creator is scored, each sampled account's
category is looked up (:class:`QualityLookup`): ``suspicious`` (a flagged bot, or a profile fake probability
>= 0.8: 3% of the real labelled genuine profiles and 80% of the fake ones score that high from counts, avatar
and bio alone), ``mass_follower`` (follows 1,500+ accounts), ``influencer`` (5,000+ followers), ``real`` (a
profile without those marks) or ``unknown`` (no profile seen). Categories live on each account's own
partition; the worker broadcasts their changes on the ``actor-quality`` topic so every partition can look them
up, and offline replay, with one partition, reads them from its own state. Reading categories at scoring time
(not at event time) keeps the result independent of how events were batched; and when categories change, the
worker re-scores the creators whose samples hold those accounts (:meth:`AudienceDetector.sampling`), so a
creator's audience does not wait for its next event.

Points lost (:func:`_points`): up to 40 for suspicious engagers and up to 30 for suspicious followers, linear
from a 20% share to 70%, counted once at least 8 sampled accounts have a known category. Real creators'
audiences hold a few percent of suspicious accounts; counting from 20% leaves room for the sample's error.
Samples hold 16 accounts each (256 bytes per account); a share is then known within about +/-12 points, which
the reasons state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from detectors.base import EventColumns, ProfileColumns
from detectors.kernels import audience as k
from detectors.state import CHUNK_SHIFT, AccountTable, BlockSpec
from schemas.wire import Audience, AudienceCategory, AudienceMix, FlagRecord

CATEGORIES: tuple[AudienceCategory, ...] = ("unknown", "real", "mass_follower", "influencer", "suspicious")
UNKNOWN, REAL, MASS, INFLUENCER, SUSPICIOUS = range(5)
MASS_FOLLOWING, INFLUENCER_FOLLOWERS = 1_500, 5_000
SUSPICIOUS_FAKE = 0.8
MIN_KNOWN = 8
USUAL_SUSPICIOUS, FULL_PENALTY_AT = 0.20, 0.70
MAX_POINTS_ENGAGERS, MAX_POINTS_FOLLOWERS = 40, 30


class QualityLookup(Protocol):
    def categories(self, hashes: np.ndarray) -> np.ndarray:
        """Category code (index into CATEGORIES) of each account hash; UNKNOWN when not known."""
        ...


class GlobalQuality:
    """Categories received from the ``actor-quality`` topic (every partition's accounts), and the accounts whose
    category changed since :meth:`take_changed` was last called (the creators that sampled them are re-scored)."""

    def __init__(self) -> None:
        self.by_hash: dict[int, int] = {}
        self.changed: set[int] = set()

    def update(self, account_hash: int, category: AudienceCategory) -> None:
        code = CATEGORIES.index(category)
        h = account_hash & 0xFFFFFFFFFFFFFFFF
        if self.by_hash.get(h, UNKNOWN) == code:
            return
        if code == UNKNOWN:
            self.by_hash.pop(h, None)
        else:
            self.by_hash[h] = code
        self.changed.add(h)

    def take_changed(self) -> np.ndarray:
        """The hashes whose category changed since the last call (uint64), and forget them."""
        out = np.fromiter(self.changed, dtype=np.uint64, count=len(self.changed))
        self.changed = set()
        return out

    def categories(self, hashes: np.ndarray) -> np.ndarray:
        get = self.by_hash.get
        return np.fromiter((get(int(h), UNKNOWN) for h in hashes.tolist()), dtype=np.int8, count=hashes.shape[0])


class AudienceDetector:
    """The ``audience`` block: engager and follower samples per account (no flags of its own)."""

    name = "audience"
    flag_kinds: tuple[str, ...] = ()
    spec = BlockSpec(name, np.zeros(0), k.I_DEFAULTS)

    def update(self, batch: EventColumns, table: AccountTable) -> np.ndarray:
        k.audience_update(batch.kind, batch.target, batch.actor_h, batch.keep, table.I[self.name], table.dirty,
                          CHUNK_SHIFT)
        return np.zeros(len(table), dtype=np.uint8)

    def update_profiles(self, batch: ProfileColumns, table: AccountTable) -> None:
        return None

    def flags(self, table: AccountTable, a: int) -> list[FlagRecord]:
        return []

    def counts(self, table: AccountTable, a: int) -> dict[str, int]:
        return {}

    def sampling(self, table: AccountTable, hashes: np.ndarray) -> np.ndarray:
        """Dense ids of the accounts whose engager or follower sample holds any of ``hashes`` (whose audience
        changes when those accounts' categories do): one vectorized pass over the block."""
        n = len(table)
        if not n or not len(hashes):
            return np.zeros(0, dtype=np.int64)
        block = table.I[self.name][:, :n].view(np.uint64)
        hit = np.isin(block, np.unique(hashes)) & (block != 0)
        return np.flatnonzero(hit.any(axis=0)).astype(np.int64)

    def samples(self, table: AccountTable, a: int) -> tuple[np.ndarray, np.ndarray]:
        col = table.I[self.name][:, a].view(np.uint64)
        eng, fol = col[k.ENG : k.ENG + k.K], col[k.FOL : k.FOL + k.K]
        return eng[eng != 0], fol[fol != 0]

    def audience(self, table: AccountTable, a: int, lookup: QualityLookup) -> Audience | None:
        eng, fol = self.samples(table, a)
        if not len(eng) and not len(fol):
            return None
        ce, cf = lookup.categories(eng), lookup.categories(fol)
        # engagers below the follower sample's largest hash are followers exactly when they are in the sample
        limit = fol.max() if len(fol) == k.K else np.uint64(0xFFFFFFFFFFFFFFFF)
        checkable = eng[eng <= limit] if len(fol) else eng[:0]
        non_follower = (float(np.mean(~np.isin(checkable, fol))) if len(checkable) >= 4 else None)
        se, sf = _suspicious_share(ce), _suspicious_share(cf)
        pe, re = _points(se, ce, MAX_POINTS_ENGAGERS, "likers and commenters")
        pf, rf = _points(sf, cf, MAX_POINTS_FOLLOWERS, "new followers")
        return Audience(engagers=_mix(ce), followers=_mix(cf), suspicious_engagers=se, suspicious_followers=sf,
                        non_follower_engagers=non_follower, points=pe + pf, reasons=re + rf)


def _mix(codes: np.ndarray) -> AudienceMix:
    n = int(codes.shape[0])
    share = np.bincount(codes, minlength=len(CATEGORIES)) / max(n, 1)
    return AudienceMix(sampled=n, **{c: round(float(share[i]), 3) for i, c in enumerate(CATEGORIES)})


def _suspicious_share(codes: np.ndarray) -> float | None:
    known = codes[codes != UNKNOWN]
    return round(float(np.mean(known == SUSPICIOUS)), 3) if len(known) >= MIN_KNOWN else None


def _points(share: float | None, codes: np.ndarray, most: int, who: str) -> tuple[int, list[str]]:
    if share is None or share <= USUAL_SUSPICIOUS:
        return 0, []
    pts = round(most * min(1.0, (share - USUAL_SUSPICIOUS) / (FULL_PENALTY_AT - USUAL_SUSPICIOUS)))
    known = int(np.count_nonzero(codes != UNKNOWN))
    return pts, [f"{share:.0%} of a sample of {known} {who} with a known profile are bots or fake accounts "
                 f"(real creators: a few percent; counted above {USUAL_SUSPICIOUS:.0%}, as the sample puts the "
                 f"share within about +/-{100 / np.sqrt(known):.0f} points)"]


def category_codes(flagged: np.ndarray, fake: np.ndarray, following: np.ndarray, followers: np.ndarray
                   ) -> np.ndarray:
    """Category code per account from its bot flag, profile fake probability (NaN: no profile), following
    (NaN: unknown) and followers (< 0: unknown)."""
    out = np.full(flagged.shape[0], UNKNOWN, dtype=np.int8)
    has = ~np.isnan(fake)
    out[has] = REAL
    out[followers >= INFLUENCER_FOLLOWERS] = INFLUENCER
    out[np.nan_to_num(following, nan=0.0) >= MASS_FOLLOWING] = MASS
    out[flagged | (np.nan_to_num(fake, nan=0.0) >= SUSPICIOUS_FAKE)] = SUSPICIOUS
    return out


def mapping_lookup(by_hash: Mapping[int, int]) -> QualityLookup:
    g = GlobalQuality()
    g.by_hash = dict(by_hash)
    return g
