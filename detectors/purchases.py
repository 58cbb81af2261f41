"""Purchased engagement and followers: bursts and drips of low-quality engagement, told apart from viral posts.

A creator who buys 5,000 likes shows a jump; so does a creator whose post goes viral. What separates them is
*who* engages: bought likes, comments and follows come from throw-away accounts (new to the platform's stream,
with fake-looking profiles or bot scores) at a vendor's delivery speed; a viral post brings many more of the
people who engage anyway. So the detector does not flag a rate, it flags a *composition*:

- **bursts** are found per creator and per post in event time with MIDAS-R (:mod:`detectors.kernels.midas`:
  chi-squared scores on count-min sketches, a bounded false-positive rate per test, constant cost per event);
- every burst counts its engagers: *strong* ones (an account's first engagement seen on this partition,
  :class:`SeenAccounts`, *and* a suspicious profile or a bot flag, :mod:`detectors.audience`), suspicious
  ones, new ones, likes, comments and generic comments;
- a burst is flagged when its strong engagements are far more
  than the creator's own usual share of them predicts: a Poisson test whose threshold bounds the chance that the
  creator's usual audience produced them (:mod:`detectors.kernels.purchases`); a viral post from real accounts
  never is, however large, since its share of such accounts stays the usual one;
- **drip-feeds** (a lot spread over a day or more: no spike) are the same test on a slow time-weighted window
  (half-life ``slow_halflife_s``), with stricter counts, and a *shift* test (Page's CUSUM for a share
  ``shift_ratio`` times the usual one, same bound) for drips too thin against a big audience to fill that window
  in a day;
- the flags ``purchased_engagement`` (likes and comments, naming the post) and ``purchased_followers`` carry
  reasons in plain words and their evidence: the window, counts and shares, the creator's usual shares, its
  likes-to-comments ratio against its own history, generic comments, the MIDAS-R burst score, and for followers
  the churn (suspicious accounts that unfollowed since).

Memory: 134 float64 + 2 int64 columns per account (1,088 B); per partition, the post sketch (``rows x width`` x 2
float64) and the first-seen table (24 B per slot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from detectors.base import EventColumns, ProfileColumns
from detectors.kernels import midas
from detectors.kernels import purchases as k
from detectors.kernels import seen as ks
from detectors.reasons import duration
from detectors.segments import dump_segments, empty_segment, load_segments, npz_arrays, npz_bytes
from detectors.state import CHUNK_SHIFT, TOPIC_EVENTS, AccountTable, BlockSpec
from schemas.wire import FlagKind, FlagRecord

#: chi2.ppf(1 - 1e-3, df=1): a MIDAS-R score this high happens by chance with probability at most 0.1% per test.
CHI2_999 = 10.828


@dataclass(frozen=True)
class PurchaseParams:
    """Thresholds of the purchase detector; units in the names. Set from :class:`services.settings.Settings`."""

    tick_s: float = 60.0  # MIDAS-R tick
    decay: float = 0.5  # MIDAS-R decay of the current tick's counts per tick
    burst_chi2: float = CHI2_999  # MIDAS-R score that opens a burst
    burst_min_events: float = 1.0  # ... with at least this many recent (decayed) events of the creator
    burst_hold_s: float = 1_800.0  # a burst lasts this long after its last high score
    slow_halflife_s: float = 12 * 3_600.0  # drip-feed window
    baseline_halflife_s: float = 7 * 86_400.0  # the creator's usual shares
    prior_events: float = 500.0  # weight of the prior shares below, in events
    prior_strong_share: float = 0.002  # least share of new suspicious accounts expected among a creator's engagers
    prior_suspicious_share: float = 0.03  # suspicious accounts (3% of real profiles look fake: detectors.audience)
    burst_min_strong: float = 5.0
    fast_halflife_s: float = 900.0  # the burst's last minutes
    fast_min_strong: float = 4.0
    burst_g: float = 14.0  # P(X >= k) <= e^-14 ~ 8e-7 under the creator's usual share
    slow_min_strong: float = 10.0
    slow_g: float = 14.0  # the same bound as a burst's: the slow window moves slowly, so its tests are few
    scan_g: float = 10.0  # the scan test's bound e^-G per strong engagement (~1 in 100-500 events: e^-14.6..-16.2)
    shift_ratio: float = 3.0  # the shift test looks for this many times the usual share of strong engagements
    warm_min_others: float = 20.0  # fewer other creators' engagements in the slow window: the share is unknown
    warm_new_share: float = 0.9  # nothing is tested while this share of the other creators' engagers is first seen
    learn_g: float = 2.0  # low-quality engagements are learned as usual only while the slow window's G is below this
    sketch_rows: int = 4
    sketch_width: int = 1 << 13
    seen_capacity: int = 1 << 19  # accounts remembered per partition

    def vector(self) -> np.ndarray:
        p = np.zeros(k.N_P)
        p[k.P_SLOW_HL], p[k.P_BASE_HL] = self.slow_halflife_s, self.baseline_halflife_s
        p[k.P_TICK], p[k.P_DECAY], p[k.P_CHI2] = self.tick_s, self.decay, self.burst_chi2
        p[k.P_BURST_MIN], p[k.P_HOLD] = self.burst_min_events, self.burst_hold_s
        p[k.P_PRIOR_N], p[k.P_PRIOR_STRONG] = self.prior_events, self.prior_strong_share
        p[k.P_PRIOR_SUSP] = self.prior_suspicious_share
        p[k.P_MIN_K_BURST], p[k.P_G_BURST] = self.burst_min_strong, self.burst_g
        p[k.P_MIN_K_SLOW], p[k.P_G_SLOW] = self.slow_min_strong, self.slow_g
        p[k.P_LEARN_G] = self.learn_g
        p[k.P_FAST_HL], p[k.P_MIN_K_FAST] = self.fast_halflife_s, self.fast_min_strong
        p[k.P_WARM] = self.warm_new_share
        p[k.P_SHIFT_RATIO] = self.shift_ratio
        p[k.P_G_SCAN] = self.scan_g
        p[k.P_MIN_OTHERS] = self.warm_min_others
        return p


class PostSketch:
    """MIDAS-R count-min sketches of the posts of one partition (a record of its own in the checkpoint)."""

    def __init__(self, params: PurchaseParams) -> None:
        self.params = params
        shape = (params.sketch_rows, params.sketch_width)
        self.cur = np.zeros(shape)
        self.tot = np.zeros(shape)
        self.state = np.array([np.nan, 0.0, -1.0])  # tick, t, covered position
        #: the partition's share of first-seen engagers (detectors.kernels.purchases.PS_*)
        self.pstat = k.PSTAT_DEFAULTS.copy()
        self._saved = (-1.0, -1.0)

    def score(self, post_h: np.ndarray, ts: np.ndarray, pos: np.ndarray, use: np.ndarray) -> np.ndarray:
        return midas.cms_score(post_h, ts, pos.astype(np.float64), use, self.cur, self.tot, self.state,  # type: ignore[no-any-return]
                               self.params.tick_s, self.params.decay)

    def checkpoint(self) -> list[tuple[str, bytes]]:
        saved = (float(self.state[midas.COVERED]), float(self.pstat[k.PS_POS]))
        if saved == self._saved:
            return []
        self._saved = saved
        return [("psketch", npz_bytes(cur=self.cur, tot=self.tot, state=self.state, pstat=self.pstat))]

    def restore(self, blobs: Mapping[str, bytes]) -> None:
        if "psketch" not in blobs:
            return
        x = npz_arrays(blobs["psketch"])
        if x["cur"].shape != self.cur.shape:
            return  # resized since: the sketch starts again (bursts of posts are found again within a few ticks)
        self.cur[:], self.tot[:], self.state[:] = x["cur"], x["tot"], x["state"]
        if "pstat" in x:
            n = x["pstat"].shape[0]
            self.pstat[:n] = x["pstat"]
            if n <= k.PS_POS:  # written before the counts had a guard of their own: they went with the sketch
                self.pstat[k.PS_POS] = self.state[midas.COVERED]
        self._saved = (float(self.state[midas.COVERED]), float(self.pstat[k.PS_POS]))


class SeenAccounts:
    """The accounts that engaged on one partition, with the position of their first engagement
    (:mod:`detectors.kernels.seen`), checkpointed in segments."""

    name = "seen"

    def __init__(self, capacity: int) -> None:
        cap = 1 << max(ks.SEG_SHIFT, (capacity - 1).bit_length())
        self.keys = np.zeros(cap, dtype=np.uint64)
        self.first = np.zeros(cap, dtype=np.int64)
        self.last = np.zeros(cap)
        self.dirty = np.zeros(cap >> ks.SEG_SHIFT, dtype=np.bool_)
        self.state = np.zeros(2, dtype=np.int64)
        self._orphans: list[str] = []

    def update(self, actor_h: np.ndarray, pos: np.ndarray, ts: np.ndarray, use: np.ndarray) -> np.ndarray:
        return ks.first_seen(actor_h, pos, ts, use, self.keys, self.first, self.last, self.dirty, self.state)  # type: ignore[no-any-return]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"k": self.keys, "f": self.first, "l": self.last}

    def checkpoint(self) -> list[tuple[str, bytes]]:
        out = dump_segments(self.name, self.dirty, ks.SEG_SHIFT, self._arrays())
        out += [(key, empty_segment(self._arrays())) for key in self._orphans]
        self._orphans = []
        return out

    def restore(self, blobs: Mapping[str, bytes]) -> None:
        data, self._orphans = load_segments(self.name, blobs, self.dirty.shape[0])
        if data is None:
            return
        kk, f, last = data["k"], data["f"], data["l"]
        last = np.where(last > 1e7, np.floor(last / ks.DAY_S), last)  # times, in checkpoints before days
        used = np.flatnonzero(kk != 0)
        if used.shape[0] * 4 > self.keys.shape[0] * 3:  # a smaller table than the checkpoint's: the most recent
            used = ks.most_recent(kk, last, self.keys.shape[0] // 2)
        self.state[0] = ks.reinsert(kk[used], f[used], last[used], self.keys, self.first, self.last)
        self.dirty[:] = True


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


class PurchaseDetector:
    """The ``purchases`` block: flags ``purchased_engagement`` and ``purchased_followers`` (see module doc)."""

    name: str = "purchases"
    spec: BlockSpec = BlockSpec("purchases", k.F_DEFAULTS, k.I_DEFAULTS, k.upgrade_f)
    flag_kinds: tuple[str, ...] = ("purchased_engagement", "purchased_followers")

    def __init__(self, params: PurchaseParams | None = None) -> None:
        self.params = params or PurchaseParams()
        self._p = self.params.vector()
        #: post ids of the flags' evidence by post hash (the kernel keeps hashes), filled from the batches
        self.post_ids: dict[int, str] = {}
        #: the partition's share of first-seen engagers (shared with the PostSketch record of the checkpoint)
        self.pstat = k.PSTAT_DEFAULTS.copy()

    def update(self, batch: EventColumns, table: AccountTable) -> np.ndarray:
        new_flag = np.zeros(table.capacity, dtype=np.int8)
        strong = batch.suspicious & batch.new
        k.purchase_update(batch.kind, batch.ts, batch.target, batch.offset, batch.pos, batch.keep, strong,
                          batch.suspicious, batch.new, batch.generic, batch.post_h, batch.post_score,
                          table.F[self.name], table.I[self.name], table.chunk_off[TOPIC_EVENTS], CHUNK_SHIFT,
                          table.dirty, self._p, self.pstat, new_flag)
        return new_flag

    def update_profiles(self, batch: ProfileColumns, table: AccountTable) -> None:
        return None

    def counts(self, table: AccountTable, account: int) -> dict[str, int]:
        return {}

    def evidence_posts(self, table: AccountTable, accounts: np.ndarray) -> np.ndarray:
        """Post hashes named by the flags of ``accounts`` (0: none), for the caller to keep their ids."""
        col = table.I[self.name][k.E_POST_ENG]
        return col[accounts].view(np.uint64)  # type: ignore[no-any-return]

    def flags(self, table: AccountTable, account: int) -> list[FlagRecord]:
        F = table.F[self.name][:, account]
        out = []
        for b, kind in ((k.ENG, "purchased_engagement"), (k.FOL, "purchased_followers")):
            if math.isnan(F[b + k.FIRST]):
                continue
            post_h = int(table.I[self.name][k.E_POST_ENG, account]) & 0xFFFFFFFFFFFFFFFF if b == k.ENG else 0
            out.append(self._flag(kind, F[b : b + k.NC], self.post_ids.get(post_h)))  # type: ignore[arg-type]
        return out

    def _flag(self, kind: FlagKind, f: np.ndarray, post: str | None) -> FlagRecord:
        burst = f[k.E_CLASS] == k.CLASS_BURST
        n, obs, mu, usual = float(f[k.E_N]), float(f[k.E_K]), float(f[k.E_MU]), float(f[k.E_USUAL])
        start, end = float(f[k.E_START]), float(f[k.E_END])
        what = "new followers" if kind == "purchased_followers" else "likes and comments"
        who = "accounts never seen engaging before whose profiles look fake or that are scored as bots"
        where = f" on post {post}" if post else ""
        if burst:
            head = (f"{_pct(obs / max(n, 1.0))} of {n:,.0f} {what}{where} within {duration(end - start)} from "
                    f"{_utc(start)} came from {who}; usual share {_pct(usual)} ({obs:,.0f} where {mu:.1f} were "
                    f"expected)")
        elif f[k.E_CLASS] == k.CLASS_SHIFT:
            head = (f"a lasting shift: {obs:,.0f} of the {n:,.0f} {what} from {_utc(start)} to {_utc(end)} came from "
                    f"{who}; usual share {_pct(usual)} ({mu:.1f} expected)")
        else:
            hl = duration(self.params.slow_halflife_s)
            head = (f"a steady drip: about {obs:,.0f} of the last {n:,.0f} {what} (time-weighted, half-life {hl}, to "
                    f"{_utc(end)}) came from {who}; usual share {_pct(usual)} ({mu:.1f} expected)")
        reasons = [head]
        likes, comments, generic = float(f[k.E_L]), float(f[k.E_C]), float(f[k.E_G])
        ul, uc = float(f[k.E_UL]), float(f[k.E_UC])
        if kind == "purchased_engagement" and likes + comments >= 10:
            share_c = comments / (likes + comments)
            usual_c = uc / (ul + uc) if ul + uc >= 10 else None
            if usual_c is not None and share_c < usual_c / 2:
                reasons.append(f"likes without conversation: {comments:,.0f} comments to {likes:,.0f} likes in this "
                               f"window ({_pct(share_c)} comments; usually {_pct(usual_c)})")
            elif usual_c is not None and share_c > max(2 * usual_c, 0.2):
                reasons.append(f"comments without likes: {comments:,.0f} comments to {likes:,.0f} likes in this "
                               f"window ({_pct(share_c)} comments; usually {_pct(usual_c)})")
            if comments >= 3 and generic / comments >= 0.5:
                reasons.append(f"{generic:,.0f} of its {comments:,.0f} comments are generic "
                               "(\"Nice pic!\", emoji only)")
        churn = float(f[k.CH_UNF])
        if kind == "purchased_followers" and churn >= 1:
            reasons.append(f"{churn:,.0f} of the suspicious followers have unfollowed again since, as bought "
                           "followers do")
        evidence: dict[str, object] = {
            "delivery": "burst" if burst else "drip",
            "test": "burst" if burst else "shift" if f[k.E_CLASS] == k.CLASS_SHIFT else "slow_window",
            "window_start": round(start, 3), "window_end": round(end, 3), "events": round(n, 1),
            "low_quality": round(obs, 1), "expected": round(mu, 3), "share": round(obs / max(n, 1.0), 4),
            "usual_share": round(usual, 5), "likes": round(likes, 1), "comments": round(comments, 1),
            "generic_comments": round(generic, 1),
            "usual_comment_share": round(uc / (ul + uc), 4) if ul + uc > 0 else None,
            "midas_score": round(float(f[k.E_MIDAS]), 2), "new_accounts": round(float(f[k.E_NEW]), 1),
            "post_id": post}
        if kind == "purchased_followers":
            evidence["unfollowed_since"] = int(churn)
        return FlagRecord(kind=kind, score=round(float(f[k.SCORE]), 4), first_ts=float(f[k.FIRST]),
                          last_ts=float(f[k.FLAST]), reasons=reasons, evidence=evidence)
