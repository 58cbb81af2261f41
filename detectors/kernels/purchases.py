"""Numba kernel of the purchase detector: bursts and drips of low-quality engagement on a creator, in event time.

Two channels per creator, each a block of ``NC`` float columns at ``ENG`` (likes and comments) and ``FOL``
(follows). Every event of a channel, in stream order:

1. decays the channel's *slow* window (time-weighted counts, half-life ``P_SLOW_HL``) and *baseline* (half-life
   ``P_BASE_HL``) to the event's time (late events: no decay);
2. scores the event with MIDAS-R (:mod:`detectors.kernels.midas`): the creator's own channel, and, for likes and
   comments, the post's sketch score given by the caller; a score at or above ``P_CHI2`` (with at least
   ``P_BURST_MIN`` recent events) opens a *burst* or extends it by ``P_HOLD`` seconds;
3. counts the event in the slow window, the fast one (half-life ``P_FAST_HL``) and, inside a burst, in the
   burst's exact counts: engagements, *strong* ones (an account's first engagement on the partition *and* a
   suspicious profile or bot flag), *suspicious* ones (suspicious whether new or not), new accounts, likes,
   comments and generic comments;
4. tests the burst (as a whole, and its fast window) and the slow window against the creator's own usual shares
   (its baseline, plus a prior of ``P_PRIOR_N`` events where new accounts are as often suspicious as anybody:
   ``P_PRIOR_SUSP`` times the partition's current share of first-seen engagers among those that do not look
   suspicious, floored at ``P_PRIOR_STRONG``).
   While the other creators' engagements in the window are fewer than ``P_MIN_OTHERS`` (a sparse stream), that
   share is unknown and taken as 1. While it is ``P_WARM`` or more (a stream's first hours, when every account is
   new), no engagement counts as strong and nothing is tested: ``k`` strong engagements where ``mu = n * usual`` were
   expected count when ``k >= P_MIN_K*`` and the Poisson log-likelihood ratio ``G = k ln(k / mu) - (k - mu)``
   reaches ``P_G*`` (``P(X >= k) <= exp(-G)`` for ``X ~ Poisson(mu)``: the false-positive bound of each test).
   Suspicious accounts that engaged before are composition evidence, not a rule: bots roam over every creator's
   posts (the bot detector flags them, and the audience score counts them), and a quiet creator's posts can hold
   more of them than of its people;
5. learns the baseline from the event unless the window it is in looks anomalous (``G >= P_G* / 2``, the shift
   test's statistic included), or the slow window holds more strong engagements than usual (``G >= P_LEARN_G``),
   or the shift test's statistic before the event is ``P_LEARN_G`` or more: a detector must not learn from what it
   flags, nor from a drip while it builds up. The event is then skipped whole, with its quality: learning the
   engagements without their low-quality ones would pull the usual share down whenever a window runs a little high.

The *scan* test, at each strong engagement inside a burst or whose last ``SCAN_K`` strong ones came within a
burst's hold ``P_HOLD`` (a delivery at a small creator's usual rate opens no burst), asks within how many
engagements the last
``SCAN_K`` strong ones came: ``SCAN_K - 1`` after the oldest of them where ``n * usual`` were expected, at
``G >= P_G_SCAN`` (a bound per strong engagement; these are a small share of all events, so the bound per event is
tighter than the windows'). It flags a slow delivery after its first few accounts, before the windows fill.

The *shift* test is Page's CUSUM of the log-likelihood ratio of a strong share ``P_SHIFT_RATIO`` times the usual
one (``+ln rho`` per strong engagement, ``-(rho - 1) usual`` per engagement, floored at 0): it passes at ``P_G_SLOW``
with at least ``P_MIN_K_SLOW`` strong engagements in its run, and names the run (its start, counts and expected
count) as evidence. It catches drips too thin against a big audience to fill the slow window within a day.

A test that passes raises or strengthens the channel's flag: its score is ``min(1, G / (2 P_G*))`` (0.5 at the
threshold), its evidence the window that gave the strongest score. Unfollows by suspicious accounts after a
follower flag count as churn (evidence, not a rule).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS
from detectors.kernels.engagement import claim
from detectors.kernels.midas import node_score

LIKE, COMMENT, FOLLOW, UNFOLLOW = 0, 1, 2, 3

# float columns of a channel (offset ENG or FOL)
LAST = 0
SN, SK, SS, SL, SC, SG = 1, 2, 3, 4, 5, 6  # slow window: events, strong, suspicious, likes, comments, generic
BN, BK, BS, HL, HC, HG = 7, 8, 9, 10, 11, 12  # baseline: the same, learned from unflagged windows
M_TICK, M_CUR, M_TOT, M_T0 = 13, 14, 15, 16  # MIDAS-R of the channel
B_START, B_UNTIL, B_MAX, B_N, B_K, B_S, B_NEW, B_L, B_C, B_G = 17, 18, 19, 20, 21, 22, 23, 24, 25, 26  # burst
SCORE, FIRST, FLAST = 27, 28, 29  # flag
E_CLASS, E_RULE, E_N, E_K, E_MU, E_USUAL, E_START, E_END, E_L, E_C, E_G, E_UL, E_UC, E_MIDAS, E_NEW = range(30, 45)
CH_UNF = 45  # unfollows by suspicious accounts since the flag (FOL channel)
E_SCORE = 46  # score of the evidence's window
FN, FK = 47, 48  # fast window (half-life P_FAST_HL): events, strong ones
SW = 49  # slow window: first-seen engagers that do not look suspicious
# shift test (Page's CUSUM): statistic; its run's start, events, strong ones, expected strong ones, likes, comments,
# generic comments
CU, CU_T0, CU_N, CU_K, CU_MU, CU_L, CU_C, CU_G = range(50, 58)
# scan test: the channel's engagements so far, and the times and counts at its last SCAN_K strong ones (newest first)
SCAN_K = 4
CNT = 58
RT0, RC0 = 59, 59 + SCAN_K
# slow window: the engagements the partition's share of first-seen engagers counts (all but new suspicious ones)
SO = 59 + 2 * SCAN_K
NC = SO + 1
ENG, FOL = 0, NC
N_F = 2 * NC
_CH_DEFAULTS = np.zeros(NC)
_CH_DEFAULTS[LAST] = -np.inf
_CH_DEFAULTS[[M_TICK, M_T0, B_START, FIRST, FLAST, E_START, E_END, CU_T0]] = np.nan
_CH_DEFAULTS[B_UNTIL] = -np.inf
_CH_DEFAULTS[RT0 : RC0 + SCAN_K] = np.nan
F_DEFAULTS = np.concatenate([_CH_DEFAULTS, _CH_DEFAULTS])
#: columns per channel of earlier layouts, which checkpoints may hold (upgraded by :func:`upgrade_f`): before the
#: shift test, and before SO
NC_V1, NC_V2 = 50, SO


def upgrade_f(old: np.ndarray) -> np.ndarray | None:
    """Float columns of a checkpoint of an earlier layout, in this one: the columns added since start afresh (a
    shift test's run from nothing; SO from 0, so the creator's own engagements are not taken off the partition's
    until the slow window has renewed itself)."""
    nc = old.shape[0] // 2
    if old.shape[0] % 2 or nc not in (NC_V1, NC_V2):
        return None
    new = np.repeat(F_DEFAULTS.reshape(-1, 1), old.shape[1], axis=1)
    new[ENG : ENG + nc] = old[:nc]
    new[FOL : FOL + nc] = old[nc:]
    return new


# int columns: the post of the flag's evidence (hash; 0: none), per channel
E_POST_ENG, E_POST_FOL = 0, 1
N_I = 2
I_DEFAULTS = np.zeros(N_I, dtype=np.int64)
CLASS_BURST, CLASS_DRIP, CLASS_SHIFT = 0.0, 1.0, 2.0
#: partition state (``pstat``): time-weighted engagements of every creator but those by new suspicious accounts (a
#: purchase's), and the first-seen ones among them (half-life P_SLOW_HL), the time they were decayed to, and the
#: source position of the last event they count (their replay guard: they are checkpointed in a record of their
#: own, apart from the creators' chunks)
PS_N, PS_NEW, PS_LAST, PS_POS = 0, 1, 2, 3
PSTAT_DEFAULTS = np.array([0.0, 0.0, -np.inf, -1.0])
RULE_STRONG = 0.0  # the only rule so far: new suspicious accounts (E_RULE keeps room for more)

# params vector
(P_SLOW_HL, P_BASE_HL, P_TICK, P_DECAY, P_CHI2, P_BURST_MIN, P_HOLD, P_PRIOR_N, P_PRIOR_STRONG, P_PRIOR_SUSP,
 P_MIN_K_BURST, P_G_BURST, P_MIN_K_SLOW, P_G_SLOW, P_LEARN_G, P_FAST_HL, P_MIN_K_FAST, P_WARM, P_SHIFT_RATIO,
 P_G_SCAN, P_MIN_OTHERS) = range(21)
N_P = 21


@njit(**NJIT_OPTIONS)
def poisson_g(k: float, mu: float) -> float:
    """Log-likelihood ratio of ``k`` events where ``mu`` were expected (0 when ``k <= mu``)."""
    if k <= mu or k <= 0.0:
        return 0.0
    if mu <= 0.0:
        mu = 1e-9
    return k * math.log(k / mu) - (k - mu)


@njit(**NJIT_OPTIONS)
def _test(n: float, k: float, usual_k: float, min_k: float, g_min: float) -> tuple[float, float, float, float]:
    """(G / g_min, rule, observed, expected) of the window; G / g_min < 1 when it does not pass."""
    mu_k = n * usual_k
    g_k = poisson_g(k, mu_k) if k >= min_k else 0.0
    return g_k / g_min, RULE_STRONG, k, mu_k


@njit(**NJIT_OPTIONS)
def _raise(F: np.ndarray, I: np.ndarray, a: int, b: int, ipost: int, ratio: float, cls: float, rule: float,
           k: float, mu: float, n: float, usual: float, start: float, t: float, likes: float, comments: float,
           generic: float, new: float, post: np.uint64) -> bool:
    """Raise or strengthen the flag of channel ``b``; True when it is new."""
    score = min(1.0, 0.5 * ratio)
    fresh = math.isnan(F[b + FIRST, a])
    if fresh:
        F[b + FIRST, a] = t
        F[b + E_CLASS, a] = cls
    F[b + FLAST, a] = t if fresh else max(F[b + FLAST, a], t)
    # the evidence: the strongest window of the kind (burst or drip) that raised the flag
    if fresh or (F[b + E_CLASS, a] == cls and (score > F[b + E_SCORE, a] or
                                               (score == F[b + E_SCORE, a] and k > F[b + E_K, a]))):
        F[b + E_SCORE, a] = score
        F[b + E_RULE, a] = rule
        F[b + E_N, a], F[b + E_K, a], F[b + E_MU, a], F[b + E_USUAL, a] = n, k, mu, usual
        F[b + E_START, a], F[b + E_END, a] = start, t
        F[b + E_L, a], F[b + E_C, a], F[b + E_G, a], F[b + E_NEW, a] = likes, comments, generic, new
        F[b + E_UL, a], F[b + E_UC, a] = F[b + HL, a], F[b + HC, a]
        F[b + E_MIDAS, a] = F[b + B_MAX, a]
        if post != np.uint64(0):
            I[ipost, a] = np.int64(post)
    F[b + SCORE, a] = max(score, F[b + SCORE, a])
    return fresh


@njit(**NJIT_OPTIONS)
def purchase_update(kind: np.ndarray, ts: np.ndarray, acct: np.ndarray, offset: np.ndarray, pos: np.ndarray,
                    keep: np.ndarray,
                    strong: np.ndarray, susp: np.ndarray, new: np.ndarray, generic: np.ndarray, post_h: np.ndarray,
                    post_score: np.ndarray, F: np.ndarray, I: np.ndarray, chunk_off: np.ndarray, chunk_shift: int,
                    dirty: np.ndarray, p: np.ndarray, pstat: np.ndarray, new_flag: np.ndarray) -> int:
    """Apply a batch in order (see the module doc); ``new_flag[a]`` gets bit 1 (engagement) or 2 (followers) when
    that flag first appears on ``a``. Updates already covered by a restored chunk (``offset <= chunk_off``) are
    skipped, and so are the partition's counts (``pstat``) of events at or below their own covered position
    (``pos <= pstat[PS_POS]``). Returns the number of events applied."""
    applied = 0
    ln2 = math.log(2.0)
    for i in range(kind.shape[0]):
        if not keep[i]:
            continue
        k = kind[i]
        if k > UNFOLLOW:
            continue
        t = ts[i]
        # the partition's share of first-seen engagers (time-weighted like the slow window): while nearly all are
        # new (a stream's first hours), being new means nothing, and nothing is tested or learned as low quality
        if k != UNFOLLOW and pos[i] > pstat[PS_POS]:
            if t > pstat[PS_LAST]:
                if pstat[PS_LAST] > -np.inf:
                    fp = math.exp(-ln2 * (t - pstat[PS_LAST]) / p[P_SLOW_HL])
                    pstat[PS_N] *= fp
                    pstat[PS_NEW] *= fp
                pstat[PS_LAST] = t
            if not strong[i]:  # bought (new, suspicious) accounts elsewhere on the partition must not hide these
                pstat[PS_N] += 1.0
                pstat[PS_NEW] += 1.0 if new[i] else 0.0
            pstat[PS_POS] = pos[i]
        a = acct[i]
        if not claim(a, offset[i], chunk_off, chunk_shift, dirty):
            continue
        applied += 1
        if k == UNFOLLOW:
            if susp[i] and not math.isnan(F[FOL + FIRST, a]) and t >= F[FOL + FIRST, a]:
                F[FOL + CH_UNF, a] += 1.0
            continue
        b = FOL if k == FOLLOW else ENG
        if t > F[b + LAST, a]:
            if F[b + LAST, a] > -np.inf:
                dt = t - F[b + LAST, a]
                fs = math.exp(-ln2 * dt / p[P_SLOW_HL])
                fb = math.exp(-ln2 * dt / p[P_BASE_HL])
                for c in range(SN, SG + 1):
                    F[b + c, a] *= fs
                for c in range(BN, HG + 1):
                    F[b + c, a] *= fb
                ff = math.exp(-ln2 * dt / p[P_FAST_HL])
                F[b + FN, a] *= ff
                F[b + FK, a] *= ff
                F[b + SW, a] *= fs
                F[b + SO, a] *= fs
            F[b + LAST, a] = t
        is_new = 1.0 if new[i] else 0.0
        counted = 0.0 if strong[i] else 1.0
        F[b + SW, a] += is_new * counted
        F[b + SO, a] += counted
        # the share among the *other* creators' engagers (the partition's window less this creator's: they decay
        # alike), so that a burst of new accounts on a quiet partition does not hide itself; counted over all but new
        # suspicious accounts, so that a purchase elsewhere does not hide one here either. Old suspicious accounts
        # count: they are history as much as anybody's, and a bot score that arrives mid-stream must not make a
        # partition look younger than it is
        others = pstat[PS_N] - F[b + SO, a] - counted
        # while the other creators' engagements are too few to tell that share (a sparse stream, or a creator alone
        # on its partition), it is taken as 1 for the prior (as if every engager were new: a lone creator would
        # otherwise get the prior's floor whatever its audience), and the tests run
        if others >= p[P_MIN_OTHERS]:
            new_share = min(1.0, max(0.0, (pstat[PS_NEW] - F[b + SW, a]) / others))
            warm = new_share < p[P_WARM]
        else:
            new_share, warm = 1.0, True
        st, su = 1.0 if strong[i] and warm else 0.0, 1.0 if susp[i] else 0.0
        # the prior: new accounts are suspicious as often as anybody (P_PRIOR_SUSP), floored
        prior = p[P_PRIOR_N]
        prior_k, prior_s = max(p[P_PRIOR_STRONG], new_share * p[P_PRIOR_SUSP]), p[P_PRIOR_SUSP]
        # MIDAS-R: the creator's channel, and its post (scored by the caller's sketch)
        ms = max(node_score(F, b + M_TICK, b + M_CUR, b + M_TOT, b + M_T0, a, t, p[P_TICK], p[P_DECAY]),
                 post_score[i])
        if ms >= p[P_CHI2] and F[b + M_CUR, a] >= p[P_BURST_MIN]:
            if t > F[b + B_UNTIL, a]:  # a new burst
                F[b + B_START, a] = t
                for c in range(B_MAX, B_G + 1):
                    F[b + c, a] = 0.0
            F[b + B_UNTIL, a] = max(F[b + B_UNTIL, a], t + p[P_HOLD])
            F[b + B_MAX, a] = max(F[b + B_MAX, a], ms)
        is_like, is_comment = 1.0 if k == LIKE else 0.0, 1.0 if k == COMMENT else 0.0
        is_generic = 1.0 if (k == COMMENT and generic[i]) else 0.0
        F[b + SN, a] += 1.0
        F[b + SK, a] += st
        F[b + FN, a] += 1.0
        F[b + FK, a] += st
        F[b + SS, a] += su
        F[b + SL, a] += is_like
        F[b + SC, a] += is_comment
        F[b + SG, a] += is_generic
        in_burst = t <= F[b + B_UNTIL, a]
        if in_burst:
            F[b + B_N, a] += 1.0
            F[b + B_K, a] += st
            F[b + B_S, a] += su
            F[b + B_NEW, a] += 1.0 if new[i] else 0.0
            F[b + B_L, a] += is_like
            F[b + B_C, a] += is_comment
            F[b + B_G, a] += is_generic
        usual_k = (F[b + BK, a] + prior * prior_k) / (F[b + BN, a] + prior)
        usual_s = (F[b + BS, a] + prior * prior_s) / (F[b + BN, a] + prior)
        r_slow, rule_s, obs_s, mu_s = 0.0, RULE_STRONG, 0.0, 0.0
        if warm:
            r_slow, rule_s, obs_s, mu_s = _test(F[b + SN, a], F[b + SK, a], usual_k, p[P_MIN_K_SLOW], p[P_G_SLOW])
        # the shift test: Page's CUSUM of the log-likelihood ratio of a strong share P_SHIFT_RATIO times the usual
        # one, for drips too slow against a big audience to stand out in the slow window. exp(CU) is a
        # supermartingale while the usual share holds, so a run reaches P_G_SLOW with probability <= exp(-P_G_SLOW)
        cu_r, r_shift, cu_before = 0.0, 0.0, F[b + CU, a]
        if warm:
            rho = p[P_SHIFT_RATIO]
            if F[b + CU, a] <= 0.0:  # a new run
                F[b + CU_T0, a] = t
                for c in range(CU_N, CU_G + 1):
                    F[b + c, a] = 0.0
            F[b + CU, a] = max(0.0, F[b + CU, a] + st * math.log(rho) - (rho - 1.0) * usual_k)
            F[b + CU_N, a] += 1.0
            F[b + CU_K, a] += st
            F[b + CU_MU, a] += usual_k
            F[b + CU_L, a] += is_like
            F[b + CU_C, a] += is_comment
            F[b + CU_G, a] += is_generic
            cu_r = F[b + CU, a] / p[P_G_SLOW]
            if F[b + CU_K, a] >= p[P_MIN_K_SLOW]:
                r_shift = cu_r
        # the scan test's memory: the channel's count of engagements, and that count at its last strong ones
        F[b + CNT, a] += 1.0
        if st > 0.0:
            for j in range(SCAN_K - 1, 0, -1):
                F[b + RT0 + j, a], F[b + RC0 + j, a] = F[b + RT0 + j - 1, a], F[b + RC0 + j - 1, a]
            F[b + RT0, a], F[b + RC0, a] = t, F[b + CNT, a]
        r_burst, rule_b, obs_b, mu_b = 0.0, RULE_STRONG, 0.0, 0.0
        r_scan, n_scan = 0.0, 0.0
        if in_burst and warm:
            # the whole burst, and its last minutes (a delivery that starts inside a long organic burst)
            r_burst, rule_b, obs_b, mu_b = _test(F[b + B_N, a], F[b + B_K, a], usual_k, p[P_MIN_K_BURST],
                                                 p[P_G_BURST])
            r_fast = _test(F[b + FN, a], F[b + FK, a], usual_k, p[P_MIN_K_FAST], p[P_G_BURST])[0]
            r_burst = max(r_burst, r_fast)
        # the scan: at a strong engagement, the SCAN_K - 1 strong ones after the SCAN_K-th last came within how
        # few engagements (a slow delivery's first minutes, before the windows hold enough); tested once per
        # strong engagement, so its bound P_G_SCAN is per strong engagement, not per event. Inside a burst, or when
        # the SCAN_K strong ones came within a burst's hold: a delivery at the creator's usual rate (a small creator,
        # a slow vendor) opens no MIDAS burst, and only its composition gives it away
        if st > 0.0 and not math.isnan(F[b + RC0 + SCAN_K - 1, a]) and (
                in_burst or t - F[b + RT0 + SCAN_K - 1, a] <= p[P_HOLD]):
            n_after = F[b + CNT, a] - F[b + RC0 + SCAN_K - 1, a]
            r_scan = poisson_g(SCAN_K - 1.0, n_after * usual_k) / p[P_G_SCAN]
            n_scan = n_after + 1.0
        post = post_h[i] if k != FOLLOW else np.uint64(0)
        ipost = E_POST_FOL if k == FOLLOW else E_POST_ENG
        fresh = False
        if r_scan >= 1.0 and r_burst < 1.0:
            # outside a burst there is no window of likes and comments to describe: none are claimed
            w = 1.0 if in_burst else 0.0
            fresh = _raise(F, I, a, b, ipost, r_scan, CLASS_BURST, RULE_STRONG, float(SCAN_K), n_scan * usual_k,
                           n_scan, usual_k, F[b + RT0 + SCAN_K - 1, a], t, w * F[b + B_L, a], w * F[b + B_C, a],
                           w * F[b + B_G, a], w * F[b + B_NEW, a], post)
        elif r_burst >= 1.0:
            fresh = _raise(F, I, a, b, ipost, r_burst, CLASS_BURST, rule_b, obs_b, mu_b, F[b + B_N, a],
                           usual_k if rule_b == RULE_STRONG else usual_s, F[b + B_START, a], t, F[b + B_L, a],
                           F[b + B_C, a], F[b + B_G, a], F[b + B_NEW, a], post)
        elif r_slow >= 1.0:
            fresh = _raise(F, I, a, b, ipost, r_slow, CLASS_DRIP, rule_s, obs_s, mu_s, F[b + SN, a],
                           usual_k if rule_s == RULE_STRONG else usual_s, t - p[P_SLOW_HL] / ln2, t,
                           F[b + SL, a], F[b + SC, a], F[b + SG, a], 0.0, post)
        elif r_shift >= 1.0:
            fresh = _raise(F, I, a, b, ipost, r_shift, CLASS_SHIFT, RULE_STRONG, F[b + CU_K, a], F[b + CU_MU, a],
                           F[b + CU_N, a], F[b + CU_MU, a] / F[b + CU_N, a], F[b + CU_T0, a], t, F[b + CU_L, a],
                           F[b + CU_C, a], F[b + CU_G, a], 0.0, post)
        if fresh:
            new_flag[a] |= 2 if b == FOL else 1
        # learn only from windows that do not look anomalous, and nothing at all while the windows hold more
        # low-quality engagements than usual, or the shift test's run that much evidence (two strong engagements
        # closer than the usual share explains): a drip must not raise the usual share as fast as the window's, or it
        # would never stand out. The engagement is skipped with its quality: learning the engagements without their
        # low-quality ones pulled the usual share down whenever a window ran a little high (a viral post reaching
        # people never seen before), until the rest of the burst stood out against it
        elevated = warm and (poisson_g(F[b + SK, a], F[b + SN, a] * usual_k) >= p[P_LEARN_G] or
                             cu_before >= p[P_LEARN_G])
        if r_slow < 0.5 and r_burst < 0.5 and r_scan < 0.5 and cu_r < 0.5 and not elevated:
            F[b + BN, a] += 1.0
            F[b + HL, a] += is_like
            F[b + HC, a] += is_comment
            F[b + HG, a] += is_generic
            F[b + BK, a] += st
            if poisson_g(F[b + SS, a], F[b + SN, a] * usual_s) < p[P_LEARN_G]:
                F[b + BS, a] += su
    return applied
