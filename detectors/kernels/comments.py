"""Numba kernels of copied comments: how many distinct accounts posted each specific comment text on a partition.

Two open-addressing tables (linear probing, key 0 = empty, slot = splitmix64(key) & mask, as in
:mod:`detectors.kernels.pods`) hold the state of one partition:

- pairs: ``pair_key(actor, text fingerprint) -> text fingerprint, last time, creators``: who posted which text,
  and where (a 64-bit mask of creator hash buckets);
- texts: ``text fingerprint -> number of pairs with it, creators``: the distinct accounts that posted it, and the
  creators it was posted on (the OR of its pairs' masks; its popcount counts distinct creators up to a few
  dozen, which is all the rule needs).

Inserting a pair that is already there changes no count, so events replayed after a restore change nothing and
the count of a text never depends on how the stream was cut into batches. The texts table is derived from the
pairs (same capacity, so it never fills first): only the pairs are checkpointed, in segments of ``SEG`` slots
marked dirty by every write, and a restore recounts the texts. When an insert would make the pairs table 3/4
full, it is rebuilt keeping the most recently seen half and the texts are recounted, so a count is the number
of distinct accounts among the pairs remembered.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS
from detectors.kernels.bots import COMMENT, TEXT_SPECIFIC
from detectors.kernels.pods import find_slot, pair_key

SEG_SHIFT = 13
SEG = 1 << SEG_SHIFT


@njit(**NJIT_OPTIONS)
def popcount64(x: np.uint64) -> int:
    c = 0
    while x:
        x &= x - np.uint64(1)
        c += 1
    return c


@njit(**NJIT_OPTIONS)
def recount(pk: np.ndarray, pfp: np.ndarray, pm: np.ndarray, fk: np.ndarray, fc: np.ndarray, fm: np.ndarray
            ) -> None:
    """Rebuild the texts table from the pairs table."""
    fk[:] = 0
    fc[:] = 0
    fm[:] = 0
    for s in range(pk.shape[0]):
        if pk[s] != np.uint64(0):
            f = find_slot(fk, pfp[s])
            fk[f] = pfp[s]
            fc[f] += 1
            fm[f] |= pm[s]


@njit(**NJIT_OPTIONS)
def _rebuild(pk: np.ndarray, pfp: np.ndarray, pt: np.ndarray, pm: np.ndarray, fk: np.ndarray, fc: np.ndarray,
             fm: np.ndarray, dirty: np.ndarray, state: np.ndarray) -> None:
    cap = pk.shape[0]
    used = np.flatnonzero(pk != np.uint64(0))
    order = np.argsort(-pt[used], kind="mergesort")
    sel = used[order[: cap // 2]]
    k2, f2, t2, m2 = pk[sel].copy(), pfp[sel].copy(), pt[sel].copy(), pm[sel].copy()
    pk[:] = 0
    for j in range(k2.shape[0]):
        s = find_slot(pk, k2[j])
        pk[s], pfp[s], pt[s], pm[s] = k2[j], f2[j], t2[j], m2[j]
    recount(pk, pfp, pm, fk, fc, fm)
    dirty[:] = True
    state[0] = k2.shape[0]
    state[1] += 1


@njit(**NJIT_OPTIONS)
def copied_comments(kind: np.ndarray, actor_h: np.ndarray, target_h: np.ndarray, sim: np.ndarray,
                    tflags: np.ndarray, ts: np.ndarray, keep: np.ndarray, pk: np.ndarray, pfp: np.ndarray,
                    pt: np.ndarray, pm: np.ndarray, fk: np.ndarray, fc: np.ndarray, fm: np.ndarray,
                    dirty: np.ndarray, state: np.ndarray, min_creators: int) -> np.ndarray:
    """Apply a batch in order; for each event, how many *other* accounts have posted its text so far (itself
    entered first), once the text has been seen on at least ``min_creators`` creators, else 0; 0 for anything
    but a kept comment whose text is specific (``TEXT_SPECIFIC``). A phrase that a giveaway asks of its entrants
    is written by many people on one or two posts; a bot network's text travels over many creators.

    ``state`` holds [pairs used, rebuilds].
    """
    n = kind.shape[0]
    out = np.zeros(n, dtype=np.int32)
    cap = pk.shape[0]
    for i in range(n):
        if not keep[i] or kind[i] != COMMENT or not (tflags[i] & TEXT_SPECIFIC):
            continue
        key = pair_key(actor_h[i], sim[i])
        s = find_slot(pk, key)
        if pk[s] != key:
            if 4 * (state[0] + 1) > 3 * cap:
                _rebuild(pk, pfp, pt, pm, fk, fc, fm, dirty, state)
                s = find_slot(pk, key)
            pk[s], pfp[s], pt[s], pm[s] = key, sim[i], ts[i], np.uint64(0)
            state[0] += 1
            f = find_slot(fk, sim[i])
            fk[f] = sim[i]
            fc[f] += 1
        else:
            pt[s] = max(pt[s], ts[i])
            f = find_slot(fk, sim[i])
        bit = np.uint64(1) << (target_h[i] % np.uint64(64))
        pm[s] |= bit
        fm[f] |= bit
        dirty[s >> SEG_SHIFT] = True
        if popcount64(fm[f]) >= min_creators:
            out[i] = fc[f] - 1
    return out


@njit(**NJIT_OPTIONS)
def reinsert(k_in: np.ndarray, f_in: np.ndarray, t_in: np.ndarray, m_in: np.ndarray, pk: np.ndarray,
             pfp: np.ndarray, pt: np.ndarray, pm: np.ndarray) -> int:
    """Insert restored pairs into an empty pairs table (a pair twice: the later time, both masks); returns the
    pairs inserted."""
    n = 0
    for j in range(k_in.shape[0]):
        k = k_in[j]
        if k == np.uint64(0):
            continue
        s = find_slot(pk, k)
        if pk[s] == k:
            pt[s] = max(pt[s], t_in[j])
            pm[s] |= m_in[j]
            continue
        pk[s], pfp[s], pt[s], pm[s] = k, f_in[j], t_in[j], m_in[j]
        n += 1
    return n
