"""Bots: an automation score for every actor, from its behaviour in the stream and its profile.

The actor's actions reach the partition of the actor (:mod:`schemas.actions`), where one numba kernel
(:func:`detectors.kernels.bots.bot_update`) keeps, per actor, constant-size state: the pace of its actions
(mean and spread of in-session gaps, Welford), the hours of the day it was active over how many days, actions
less than a second apart, the share of its comments that are generic or emoji-only, and how many of them
repeat one of its last four comments (SimHash within 3 bits) or copy other accounts' (:mod:`detectors.comments`),
and the profile fake score of
:mod:`detectors.profiles` when a snapshot arrived. Each rule that holds is evidence with a fixed strength, and
``score = 1 - prod(1 - strength)``; the ``bot`` flag rises at ``threshold`` (0.75):

======================  ========  =====================================================================
rule                    strength  holds when
======================  ========  =====================================================================
regular pace            0.9       >= 30 in-session gaps with coefficient of variation < 0.35
even pace               0.4       >= 100 in-session gaps whose logarithms spread < 0.75 (people: ~1 or more)
no sleep                0.7       active in >= 22 of the 24 hours of the day on two days or more, >= 100 actions
                                  (a stray night action or two does not count: people do that)
templated comments      0.7       >= 5 comments, >= 60% generic/emoji-only, or repeating its own
copied comments         0.7       >= 3 comments, and >= 10% of them, are specific texts that >= 5 other accounts
                                  posted too (:mod:`detectors.comments`; people: ~0, a giveaway phrase now and then)
faster than a human     0.8       >= 10 actions, and >= 5% of all, less than a second after the previous
volume                  0.6       >= 800 actions a day (Instagram blocks accounts at a few hundred)
fake profile            0.6 x p   profile fake probability p >= 0.5
======================  ========  =====================================================================

No single weak rule flags: a fake-looking profile alone (at most 0.6) or no sleep alone (0.7) does not, so a
real person with an odd profile or a long day is not called a bot; a bot that acts every minute is (0.9).

The flag is up while the score is at the threshold; it falls when later evidence lowers the score (a genuine
profile snapshot, comments that dilute a share) and keeps its first time if it rises again.

Memory: 11 float64 + 25 int64 columns = 288 bytes per account.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from detectors.base import ActionColumns, EventColumns, ProfileColumns
from detectors.ids import hash_ids
from detectors.kernels import bots as k
from detectors.reasons import duration
from detectors.state import CHUNK_SHIFT, TOPIC_PROFILES, AccountTable, BlockSpec
from schemas.wire import FlagKind, FlagRecord

#: Common generic comments of engagement bots and comment pods (normalized: lower case, words only).
GENERIC_PHRASES: tuple[str, ...] = (
    "nice", "nice pic", "nice photo", "nice picture", "nice post", "nice shot", "nice one", "great", "great post",
    "great pic", "great photo", "great shot", "great content", "awesome", "awesome post", "awesome pic", "amazing",
    "amazing content", "amazing post", "amazing pic", "love it", "love this", "loved it", "cool", "so cool",
    "very nice", "wow", "beautiful", "gorgeous", "stunning", "perfect", "lovely", "cute", "super", "well done",
    "keep it up", "keep going", "good job", "great job", "follow me", "follow back", "check my profile",
    "check out my page", "dm me", "dm us", "send dm", "collab", "promote it on", "first",
)
#: Two-word openings that make a longer comment generic ("Nice pic! love this").
GENERIC_PREFIXES: tuple[str, ...] = tuple(p for p in GENERIC_PHRASES if len(p.split()) == 2)


def _normalize(text: str) -> str:
    return " ".join(t.lower() for t in re.findall(r"[A-Za-z0-9]+", text))


def _phrase_hashes(phrases: tuple[str, ...]) -> np.ndarray:
    return np.unique(hash_ids([_normalize(p) for p in phrases]))


_GENERIC = _phrase_hashes(GENERIC_PHRASES)
_GENERIC_PREFIX = _phrase_hashes(GENERIC_PREFIXES)


def fingerprint_texts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """SimHash and flags of comment texts (one numba pass over their packed UTF-8 bytes)."""
    if not texts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint8)
    encoded = [t.encode() for t in texts]
    ends = np.cumsum(np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded)))
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return k.text_fingerprints(buf, ends, _GENERIC, _GENERIC_PREFIX)  # type: ignore[no-any-return]


def partitions_of(keys: list[str], n_partitions: int) -> np.ndarray:
    """Kafka's default partition of each key (murmur2), so an actor's actions meet its profile snapshots."""
    if not keys:
        return np.zeros(0, dtype=np.int64)
    encoded = [s.encode() for s in keys]
    ends = np.cumsum(np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded)))
    return k.murmur2_partition(np.frombuffer(b"".join(encoded), dtype=np.uint8), ends, n_partitions)  # type: ignore[no-any-return]


def creators_engaged(target_bits: int) -> int | None:
    """Distinct creators an actor engaged, estimated from its 63 target buckets by linear counting (None once
    every bucket is set: more than about 250). Shown as evidence, not used as a rule: breadth alone does not
    tell a bot spraying likes from a person who likes what a feed shows."""
    m = 63
    used = bin(target_bits & ((1 << m) - 1)).count("1")
    return None if used == m else round(-m * math.log(1 - used / m))


@dataclass(frozen=True)
class BotParams:
    session_s: float = 1_800.0  # a longer gap ends a session (not part of the pace statistics)
    fast_s: float = 1.0  # actions closer than this are faster than a human
    threshold: float = 0.75
    lateness_s: float = 600.0  # actions wait this long behind the sources' watermark, for event-time order
    sources: int = 1  # events partitions that forward actions: all must be heard from before any is applied
    copied_accounts: int = 5  # a comment is a copy when this many other accounts posted its text (comments)

    def vector(self) -> np.ndarray:
        p = np.zeros(k.N_P)
        p[k.P_SESSION], p[k.P_FAST], p[k.P_THRESHOLD] = self.session_s, self.fast_s, self.threshold
        p[k.P_COPIED_ACCOUNTS] = self.copied_accounts
        return p


class BotDetector:
    """The ``bots`` block: per-actor behaviour and profile evidence, and the ``bot`` flag."""

    name = "bots"
    flag_kinds: tuple[str, ...] = ("bot",)
    spec = BlockSpec(name, k.F_DEFAULTS, k.I_DEFAULTS)

    def __init__(self, params: BotParams | None = None) -> None:
        self.params = params or BotParams()
        self._p = self.params.vector()

    def update(self, batch: EventColumns, table: AccountTable) -> np.ndarray:
        """Events are keyed by creator: the bot detector reads the actions topic instead (update_actions)."""
        return np.zeros(len(table), dtype=np.uint8)

    def update_actions(self, batch: ActionColumns, table: AccountTable) -> np.ndarray:
        return k.bot_update(batch.actor, batch.ts, batch.kind, batch.target_h, batch.sim, batch.tflags,  # type: ignore[no-any-return]
                            batch.shared, batch.apply, table.F[self.name], table.I[self.name], self._p, table.dirty,
                            CHUNK_SHIFT)

    def update_profiles(self, batch: ProfileColumns, table: AccountTable) -> np.ndarray:
        # as the rate detector: a snapshot a restored chunk already reflects is not applied again
        new = batch.offset > table.chunk_off[TOPIC_PROFILES][batch.account >> CHUNK_SHIFT]
        return k.profile_update(batch.account[new], batch.fake[new],  # type: ignore[no-any-return]
                                batch.following[new].astype(np.float64), batch.ts[new], table.F[self.name],
                                table.I[self.name], self.params.threshold, table.dirty, CHUNK_SHIFT)

    def score(self, table: AccountTable, a: int) -> float:
        return float(table.F[self.name][k.SCORE, a])

    def profile_fake(self, table: AccountTable, a: int) -> float:
        return float(table.F[self.name][k.PROFILE_FAKE, a])

    def flags(self, table: AccountTable, a: int) -> list[FlagRecord]:
        F, I = table.F[self.name][:, a], table.I[self.name][:, a]
        if not I[k.FLAGGED]:
            return []
        bits = int(I[k.EVIDENCE])
        reasons: list[str] = []
        n_gaps = int(I[k.N_GAPS])
        mean = float(F[k.GAP_MEAN])
        sd = math.sqrt(F[k.GAP_M2] / n_gaps) if n_gaps else 0.0
        hours = bin(int(I[k.HOUR_MASK2]) & 0xFFFFFF).count("1")
        days = int(I[k.N_DAYS])
        nc = int(I[k.N_COMMENT])
        if bits & (k.E_REGULAR | k.E_EVEN):
            what = "acts every" if bits & k.E_REGULAR else "keeps an even pace: every"
            reasons.append(f"{what} {duration(mean)} +/- {duration(sd)} within sessions ({n_gaps:,} gaps)")
        if bits & k.E_SLEEPLESS:
            reasons.append(f"active around the clock: in {hours} of the 24 hours of the day, each on two days or "
                           f"more of {days}, never sleeping")
        if bits & k.E_TEMPLATED:
            reasons.append(f"{max(int(I[k.N_GENERIC]), int(I[k.N_REPEAT]))} of its {nc} comments are generic "
                           "(\"Nice pic!\", emoji only) or repeat its own earlier comments")
        if bits & k.E_COPIED:
            reasons.append(f"{int(I[k.N_COPIED])} of its {nc} comments are word for word what at least "
                           f"{self.params.copied_accounts} other accounts posted (one of them: "
                           f"{int(I[k.MAX_SHARED]):,} other accounts), as bot networks do")
        if bits & k.E_FAST:
            reasons.append(f"{int(I[k.N_FAST])} times it acted less than a second after its previous action, "
                           "faster than a person")
        if bits & k.E_VOLUME:
            span = max(1.0, (F[k.LAST_TS] - F[k.FIRST_TS]) / 86_400)
            reasons.append(f"{int(I[k.N_ACT]) / span:,.0f} actions a day, beyond what platforms allow a person")
        if bits & k.E_PROFILE:
            reasons.append(f"its profile looks fake (probability {F[k.PROFILE_FAKE]:.2f} from its follower, "
                           "following and post counts, avatar, bio and username)")
        lsd = math.sqrt(F[k.LGAP_M2] / n_gaps) if n_gaps else 0.0
        evidence = {
            "score": round(float(F[k.SCORE]), 3), "actions": int(I[k.N_ACT]), "likes": int(I[k.N_LIKE]),
            "comments": nc, "follows": int(I[k.N_FOLLOW]), "gap_mean_s": round(mean, 2), "gap_sd_s": round(sd, 2),
            "log_gap_sd": round(lsd, 3),
            "gaps": n_gaps, "active_hours_of_day": hours, "days": days, "generic_comments": int(I[k.N_GENERIC]),
            "repeated_comments": int(I[k.N_REPEAT]), "copied_comments": int(I[k.N_COPIED]),
            "most_accounts_sharing_a_comment": int(I[k.MAX_SHARED]), "sub_second_gaps": int(I[k.N_FAST]),
            "creators_engaged_est": creators_engaged(int(I[k.TARGET_BITS])),
            "profile_fake": None if math.isnan(F[k.PROFILE_FAKE]) else round(float(F[k.PROFILE_FAKE]), 3),
        }
        kind: FlagKind = "bot"
        return [FlagRecord(kind=kind, score=min(1.0, round(float(F[k.SCORE]), 3)), first_ts=float(F[k.FLAG_FIRST]),
                           last_ts=float(F[k.FLAG_LAST]), reasons=reasons, evidence=evidence)]

    def counts(self, table: AccountTable, a: int) -> dict[str, int]:
        n = int(table.I[self.name][k.N_ACT, a])
        return {"actions": n} if n else {}
