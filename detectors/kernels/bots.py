"""Numba kernels of the bot detector: comment text fingerprints, the Kafka partitioner, per-actor behaviour.

Column layout of the ``bots`` block (``F`` float64, ``I`` int64, one column per account): the indices below
are the contract between these kernels and :mod:`detectors.bots`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS
from detectors.kernels.hashing import FNV_OFFSET, FNV_PRIME

LIKE, COMMENT, FOLLOW, UNFOLLOW = 0, 1, 2, 3
TEXT_EMOJI_ONLY, TEXT_GENERIC, TEXT_SPECIFIC = 1, 2, 4  # bits of a text's flags
#: Fewest word tokens of a *specific* text: not generic, and long enough that two people rarely write it alike.
SPECIFIC_TOKENS = 5

# float columns
(FIRST_TS, LAST_TS, GAP_MEAN, GAP_M2, PROFILE_FAKE, SCORE, FLAG_FIRST, FLAG_LAST, LGAP_MEAN, LGAP_M2,
 PROFILE_FOLLOWING) = range(11)
N_F = 11
F_DEFAULTS = np.array([np.inf, -np.inf, 0.0, 0.0, np.nan, 0.0, np.nan, np.nan, 0.0, 0.0, np.nan])
# int columns
(N_ACT, N_LIKE, N_COMMENT, N_FOLLOW, N_GAPS, N_FAST, HOUR_MASK, N_DAYS, LAST_DAY, N_GENERIC, N_REPEAT,
 RECENT0, RECENT1, RECENT2, RECENT3, RECENT_PTR, TARGET_BITS, N_OOO, EVIDENCE, FLAGGED, CATEGORY, N_COPIED,
 MAX_SHARED, DAY_MASK, HOUR_MASK2) = range(25)
N_I = 25
N_RECENT = 4
I_DEFAULTS = np.zeros(N_I, dtype=np.int64)
I_DEFAULTS[LAST_DAY] = -1

# evidence bits (one per rule, see detectors.bots)
E_REGULAR, E_EVEN, E_SLEEPLESS, E_TEMPLATED, E_FAST, E_VOLUME, E_PROFILE, E_COPIED = (1 << i for i in range(8))
# params vector
P_SESSION, P_FAST, P_THRESHOLD, P_COPIED_ACCOUNTS = 0, 1, 2, 3
N_P = 4
#: The copied-comments rule: at least this many of the actor's comments are copies, and this share of them.
COPIED_MIN, COPIED_SHARE = 3, 0.1


@njit(**NJIT_OPTIONS)
def _is_alnum(b: int) -> bool:
    return (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122)


@njit(**NJIT_OPTIONS)
def _is_letter_lead(b: int) -> bool:
    """UTF-8 lead byte of a letter outside ASCII: Latin-1 letters to Arabic (C3-DF), Indic (E0-E1), CJK, kana
    and Hangul (E3-EE). Emoji (F0-F4), symbols and joiners (E2), variation selectors and other specials (EF) and
    Latin-1 punctuation (C2) are not letters."""
    return (0xC3 <= b <= 0xDF) or (0xE0 <= b <= 0xE1) or (0xE3 <= b <= 0xEE)


@njit(**NJIT_OPTIONS)
def text_fingerprints(buf: np.ndarray, ends: np.ndarray, generic: np.ndarray, generic_prefix: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """SimHash (64 bit, over lower-cased ASCII word tokens) and flags of each text in ``buf``.

    A text with no ASCII word is fingerprinted by the FNV hash of its bytes, so identical texts match; it is
    *emoji-only* (and generic) when it has no letter in any script either (emoji, symbols, punctuation).
    A text is *generic* when its normalized token sequence (or,
    for longer texts, its first two tokens) is in the sorted hash arrays ``generic`` / ``generic_prefix``, and
    *specific* when it is not generic and has at least ``SPECIFIC_TOKENS`` tokens (the texts whose copies across
    accounts are counted, :mod:`detectors.kernels.comments`).
    """
    n = ends.shape[0]
    sim = np.zeros(n, dtype=np.uint64)
    flags = np.zeros(n, dtype=np.uint8)
    start = 0
    acc = np.zeros(64, dtype=np.int64)
    for i in range(n):
        end = ends[i]
        acc[:] = 0
        n_tok = 0
        whole = FNV_OFFSET  # hash of the normalized token sequence, tokens joined by one space
        first2 = FNV_OFFSET
        raw = FNV_OFFSET
        letters = False
        j = start
        while j < end:
            raw = (raw ^ np.uint64(buf[j])) * FNV_PRIME
            if _is_letter_lead(buf[j]):
                letters = True
            if not _is_alnum(buf[j]):
                j += 1
                continue
            h = FNV_OFFSET
            if n_tok > 0:
                whole = (whole ^ np.uint64(32)) * FNV_PRIME
                if n_tok < 2:
                    first2 = (first2 ^ np.uint64(32)) * FNV_PRIME
            while j < end and _is_alnum(buf[j]):
                b = buf[j]
                if 65 <= b <= 90:
                    b += 32
                h = (h ^ np.uint64(b)) * FNV_PRIME
                whole = (whole ^ np.uint64(b)) * FNV_PRIME
                if n_tok < 2:
                    first2 = (first2 ^ np.uint64(b)) * FNV_PRIME
                j += 1
            n_tok += 1
            for bit in range(64):
                if (h >> np.uint64(bit)) & np.uint64(1):
                    acc[bit] += 1
                else:
                    acc[bit] -= 1
        if n_tok == 0:
            sim[i] = raw
            if end > start and not letters:
                flags[i] |= TEXT_EMOJI_ONLY | TEXT_GENERIC
        else:
            s = np.uint64(0)
            for bit in range(64):
                if acc[bit] > 0:
                    s |= np.uint64(1) << np.uint64(bit)
            sim[i] = s
            k = np.searchsorted(generic, whole)
            if k < generic.shape[0] and generic[k] == whole:
                flags[i] |= TEXT_GENERIC
            elif n_tok > 2:
                k = np.searchsorted(generic_prefix, first2)
                if k < generic_prefix.shape[0] and generic_prefix[k] == first2:
                    flags[i] |= TEXT_GENERIC
            if n_tok >= SPECIFIC_TOKENS and not flags[i] & TEXT_GENERIC:
                flags[i] |= TEXT_SPECIFIC
        start = end
    return sim, flags


@njit(**NJIT_OPTIONS)
def murmur2_partition(buf: np.ndarray, ends: np.ndarray, n_partitions: int) -> np.ndarray:
    """Kafka's default partitioner for keyed records: ``(murmur2(key) & 0x7fffffff) % n_partitions``."""
    n = ends.shape[0]
    out = np.empty(n, dtype=np.int64)
    m = np.uint32(0x5BD1E995)
    start = 0
    for i in range(n):
        length = ends[i] - start
        h = np.uint32(0x9747B28C) ^ np.uint32(length)
        k4 = length // 4
        for q in range(k4):
            o = start + 4 * q
            k = (np.uint32(buf[o]) | (np.uint32(buf[o + 1]) << np.uint32(8)) | (np.uint32(buf[o + 2]) << np.uint32(16))
                 | (np.uint32(buf[o + 3]) << np.uint32(24)))
            k = np.uint32(k * m)
            k ^= k >> np.uint32(24)
            k = np.uint32(k * m)
            h = np.uint32(h * m)
            h ^= k
        rem = length % 4
        o = start + 4 * k4
        if rem == 3:
            h ^= np.uint32(buf[o + 2]) << np.uint32(16)
        if rem >= 2:
            h ^= np.uint32(buf[o + 1]) << np.uint32(8)
        if rem >= 1:
            h ^= np.uint32(buf[o])
            h = np.uint32(h * m)
        h ^= h >> np.uint32(13)
        h = np.uint32(h * m)
        h ^= h >> np.uint32(15)
        out[i] = np.int64(h & np.uint32(0x7FFFFFFF)) % n_partitions
        start = ends[i]
    return out


@njit(**NJIT_OPTIONS)
def _popcount(x: np.int64) -> int:
    c = 0
    v = np.uint64(x)
    while v:
        v &= v - np.uint64(1)
        c += 1
    return c


@njit(**NJIT_OPTIONS)
def evidence(F: np.ndarray, I: np.ndarray, a: int) -> tuple[np.int64, float]:
    """The rules that hold for account ``a`` now (bits) and the bot score they give, 1 - prod(1 - strength)."""
    bits = np.int64(0)
    keep = 1.0
    n_gaps = I[N_GAPS, a]
    if n_gaps >= 2:
        mean = F[GAP_MEAN, a]
        cv = np.sqrt(F[GAP_M2, a] / n_gaps) / mean if mean > 0 else 0.0
        if n_gaps >= 30 and cv < 0.35:
            bits |= E_REGULAR
            keep *= 1.0 - 0.9
        elif n_gaps >= 100 and np.sqrt(F[LGAP_M2, a] / n_gaps) < 0.75:
            bits |= E_EVEN
            keep *= 1.0 - 0.4
    if _popcount(I[HOUR_MASK2, a]) >= 22 and I[N_DAYS, a] >= 2 and I[N_ACT, a] >= 100:
        bits |= E_SLEEPLESS
        keep *= 1.0 - 0.7
    nc = I[N_COMMENT, a]
    if nc >= 5 and max(I[N_GENERIC, a], I[N_REPEAT, a]) >= 0.6 * nc:
        bits |= E_TEMPLATED
        keep *= 1.0 - 0.7
    if I[N_FAST, a] >= 10 and I[N_FAST, a] >= 0.05 * I[N_ACT, a]:
        bits |= E_FAST
        keep *= 1.0 - 0.8
    span_days = max(1.0, (F[LAST_TS, a] - F[FIRST_TS, a]) / 86_400.0)
    if I[N_ACT, a] >= 800 and I[N_ACT, a] / span_days >= 800.0:
        bits |= E_VOLUME
        keep *= 1.0 - 0.6
    if I[N_COPIED, a] >= COPIED_MIN and I[N_COPIED, a] >= COPIED_SHARE * nc:
        bits |= E_COPIED
        keep *= 1.0 - 0.7
    p = F[PROFILE_FAKE, a]
    if p == p and p >= 0.5:  # not NaN
        bits |= E_PROFILE
        keep *= 1.0 - 0.6 * p
    return bits, 1.0 - keep


@njit(**NJIT_OPTIONS)
def bot_update(actor: np.ndarray, ts: np.ndarray, kind: np.ndarray, target_h: np.ndarray, sim: np.ndarray,
               tflags: np.ndarray, shared: np.ndarray, apply: np.ndarray, F: np.ndarray, I: np.ndarray,
               params: np.ndarray, dirty: np.ndarray, chunk_shift: int) -> np.ndarray:
    """Apply actions in order; returns a per-account mask, 1 where the ``bot`` flag first rose in this batch.

    A comment whose text ``shared`` other accounts also posted, at least ``copied_accounts`` of them, is a copy
    (``N_COPIED``). Gaps are measured between an actor's consecutive actions in arrival order; an action timed
    before the actor's latest one is counted but gives no gap (``N_OOO``). Gaps longer than ``session_s`` end a session
    and are not part of the pace statistics (Welford mean and M2 of in-session gaps and of their logarithms).
    """
    out = np.zeros(F.shape[1], dtype=np.uint8)
    session, fast, threshold = params[P_SESSION], params[P_FAST], params[P_THRESHOLD]
    copied = params[P_COPIED_ACCOUNTS]
    for i in range(actor.shape[0]):
        if not apply[i]:
            continue
        a = actor[i]
        t = ts[i]
        dirty[a >> chunk_shift] = True
        I[N_ACT, a] += 1
        k = kind[i]
        if k == LIKE:
            I[N_LIKE, a] += 1
        elif k == COMMENT:
            I[N_COMMENT, a] += 1
            if tflags[i] & TEXT_GENERIC:
                I[N_GENERIC, a] += 1
            s = sim[i]
            for r in range(N_RECENT):
                d = s ^ np.uint64(I[RECENT0 + r, a])
                if I[RECENT0 + r, a] != 0 and _popcount(np.int64(d)) <= 3:
                    I[N_REPEAT, a] += 1
                    break
            I[RECENT0 + I[RECENT_PTR, a], a] = np.int64(s)
            I[RECENT_PTR, a] = (I[RECENT_PTR, a] + 1) % N_RECENT
            if shared[i] >= copied:
                I[N_COPIED, a] += 1
            I[MAX_SHARED, a] = max(I[MAX_SHARED, a], np.int64(shared[i]))
        elif k == FOLLOW:
            I[N_FOLLOW, a] += 1
        I[TARGET_BITS, a] |= np.int64(1) << np.int64(target_h[i] % np.uint64(63))
        if t < F[FIRST_TS, a]:
            F[FIRST_TS, a] = t
        last = F[LAST_TS, a]
        if t >= last:
            if last > -np.inf:
                g = t - last
                if g < fast:
                    I[N_FAST, a] += 1
                if g <= session:
                    I[N_GAPS, a] += 1
                    d1 = g - F[GAP_MEAN, a]
                    F[GAP_MEAN, a] += d1 / I[N_GAPS, a]
                    F[GAP_M2, a] += d1 * (g - F[GAP_MEAN, a])
                    lg = np.log1p(g)
                    d2 = lg - F[LGAP_MEAN, a]
                    F[LGAP_MEAN, a] += d2 / I[N_GAPS, a]
                    F[LGAP_M2, a] += d2 * (lg - F[LGAP_MEAN, a])
            F[LAST_TS, a] = t
        else:
            I[N_OOO, a] += 1
        day = np.int64(t // 86_400.0)
        if day != I[LAST_DAY, a]:
            I[N_DAYS, a] += 1
            I[LAST_DAY, a] = day
            I[DAY_MASK, a] = 0
        hbit = np.int64(1) << (np.int64(t // 3600.0) % 24)
        if not I[DAY_MASK, a] & hbit:  # first action in this hour of this day
            if I[HOUR_MASK, a] & hbit:
                I[HOUR_MASK2, a] |= hbit
            I[HOUR_MASK, a] |= hbit
            I[DAY_MASK, a] |= hbit
        _decide(F, I, a, t, threshold, out)
    return out


@njit(**NJIT_OPTIONS)
def _decide(F: np.ndarray, I: np.ndarray, a: int, t: float, threshold: float, out: np.ndarray) -> None:
    """Re-score actor ``a`` at time ``t``: the flag is up exactly while the score is at the threshold or above.

    ``FLAG_FIRST`` is the first time it ever rose (so a flag that falls and rises again keeps its alert id),
    ``FLAG_LAST`` the latest time it held; ``out[a]`` is set when it rises.
    """
    bits, score = evidence(F, I, a)
    I[EVIDENCE, a] = bits
    F[SCORE, a] = score
    if score >= threshold:
        if not I[FLAGGED, a]:
            I[FLAGGED, a] = 1
            out[a] = 1
            if F[FLAG_FIRST, a] != F[FLAG_FIRST, a]:  # NaN: never flagged before
                F[FLAG_FIRST, a] = t
                F[FLAG_LAST, a] = t
        F[FLAG_LAST, a] = max(F[FLAG_LAST, a], t)
    else:
        I[FLAGGED, a] = 0


@njit(**NJIT_OPTIONS)
def profile_update(account: np.ndarray, fake: np.ndarray, following: np.ndarray, ts: np.ndarray, F: np.ndarray,
                   I: np.ndarray, threshold: float, dirty: np.ndarray, chunk_shift: int) -> np.ndarray:
    """Record the profile fake score of each snapshot (newest wins in arrival order) and re-score at the snapshot's
    time, or at the actor's latest action if that is later."""
    out = np.zeros(F.shape[1], dtype=np.uint8)
    for i in range(account.shape[0]):
        a = account[i]
        dirty[a >> chunk_shift] = True
        F[PROFILE_FAKE, a] = fake[i]
        F[PROFILE_FOLLOWING, a] = following[i]
        _decide(F, I, a, max(ts[i], F[LAST_TS, a]), threshold, out)
    return out
