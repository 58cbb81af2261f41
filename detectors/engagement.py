"""Engagement and follower rate against the account's own baseline (event time).

For every account that receives likes, comments or follows, the detector keeps a tumbling window of
``window_s`` seconds and an exponentially weighted baseline (mean and variance) of its past windows.
A window with at least ``min_count`` events that is ``ratio`` times above the baseline and ``z``
standard scores above it is a *spike* of engagement (likes + comments) or of follows. Severity grows with the log
of the excess: 0.5 at the threshold ratio, 1.0 at ten times it.

A spike is not a flag: a viral post spikes too. Spikes are evidence that the purchase detector's flags quote
(:meth:`EngagementRate.spikes`, :mod:`detectors.purchases`), beside the counters every score shows.

Memory: 23 float64 + 8 int64 columns = 248 bytes per account, no per-event state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from detectors.base import EventColumns, ProfileColumns
from detectors.kernels import engagement as k
from detectors.state import CHUNK_SHIFT, TOPIC_EVENTS, TOPIC_PROFILES, AccountTable, BlockSpec
from schemas.wire import FlagKind, FlagRecord


@dataclass(frozen=True)
class RateParams:
    """Thresholds of the rate detector; units in the names. Set from :class:`services.settings.Settings`."""

    window_s: float = 3600.0
    baseline_halflife_windows: float = 48.0
    warmup_windows: int = 24
    min_count: int = 50
    ratio: float = 8.0
    z: float = 6.0

    def vector(self) -> np.ndarray:
        p = np.zeros(k.N_P)
        p[k.P_WINDOW] = self.window_s
        p[k.P_ALPHA] = 1.0 - 0.5 ** (1.0 / self.baseline_halflife_windows)
        p[k.P_WARMUP] = self.warmup_windows
        p[k.P_MIN_COUNT] = self.min_count
        p[k.P_RATIO] = self.ratio
        p[k.P_Z] = self.z
        return p


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    if seconds == 3600:
        return "hour"
    if seconds == 60:
        return "minute"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} hours"
    return f"{seconds / 60:g} minutes"


class EngagementRate:
    """Spikes of engagement and of new followers against each account's own history."""

    name: str = "engagement_rate"
    spec: BlockSpec = BlockSpec("engagement_rate", k.F_DEFAULTS, k.I_DEFAULTS)
    flag_kinds: tuple[str, ...] = ()  # spikes are evidence, not flags (module doc)

    def __init__(self, params: RateParams | None = None) -> None:
        self.params = params or RateParams()
        self._p = self.params.vector()

    def update(self, batch: EventColumns, table: AccountTable) -> np.ndarray:
        new_flag = np.zeros(table.capacity, dtype=np.int8)
        k.engagement_update(batch.kind, batch.ts, batch.target, batch.offset, batch.keep,
                            table.F[self.name], table.I[self.name], table.chunk_off[TOPIC_EVENTS],
                            CHUNK_SHIFT, table.dirty, self._p, new_flag)
        return new_flag

    def update_profiles(self, batch: ProfileColumns, table: AccountTable) -> None:
        k.profile_update(batch.ts, batch.account, batch.followers, batch.offset,
                         table.F[self.name], table.I[self.name], table.chunk_off[TOPIC_PROFILES],
                         CHUNK_SHIFT, table.dirty)

    def counts(self, table: AccountTable, account: int) -> dict[str, int]:
        i = table.I[self.name][:, account]
        return {"likes": int(i[k.N_LIKE]), "comments": int(i[k.N_COMMENT]), "follows": int(i[k.N_FOLLOW]),
                "unfollows": int(i[k.N_UNFOLLOW]), "posts": int(i[k.N_POST]), "late_events": int(i[k.N_LATE])}

    followers_col = k.FOLLOWERS

    def followers(self, table: AccountTable, account: int) -> int | None:
        f = int(table.I[self.name][k.FOLLOWERS, account])
        return None if f < 0 else f

    def last_ts(self, table: AccountTable, account: int) -> float:
        return float(table.F[self.name][k.LAST_TS, account])

    def flags(self, table: AccountTable, account: int) -> list[FlagRecord]:
        return []

    def spikes(self, table: AccountTable, account: int) -> list[FlagRecord]:
        """The account's strongest spike of engagement and of follows, as records of kind ``engagement_spike`` /
        ``follower_spike`` (evidence for the purchase flags, never scored)."""
        F = table.F[self.name][:, account]
        I = table.I[self.name][:, account]
        out = []
        blocks: tuple[tuple[int, FlagKind, str], ...] = (
            (k.ES, "engagement_spike", "likes and comments"), (k.FS, "follower_spike", "new followers"))
        for blk, kind, what in blocks:
            if math.isnan(F[blk + k.FIRST]):
                continue
            count, base = float(F[blk + k.COUNT]), float(F[blk + k.BASE])
            ratio = count / (base + 1.0)
            win = float(F[blk + k.EWIN])
            reason = (f"{count:,.0f} {what} in the {_span(self.params.window_s)} from {_utc(win)}, "
                      f"{ratio:.1f}x this account's usual {base:.1f} per {_span(self.params.window_s)}")
            followers = int(I[k.FOLLOWERS])
            if followers > 0:
                reason += f" ({100.0 * count / followers:.1f}% of its {followers:,} followers)"
            out.append(FlagRecord(
                kind=kind, score=round(float(F[blk + k.SCORE]), 4),
                first_ts=float(F[blk + k.FIRST]), last_ts=float(F[blk + k.LAST]),
                reasons=[reason],
                evidence={"window_start": win, "window_s": self.params.window_s, "count": int(count),
                          "baseline_per_window": round(base, 3), "ratio": round(ratio, 2),
                          "windows_of_history": int(I[k.N_WINDOWS]),
                          "followers": followers if followers >= 0 else None},
            ))
        return out
