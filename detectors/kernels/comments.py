"""Numba kernels of copied comments: how many distinct accounts posted each specific comment text on a partition.

Two open-addressing tables (linear probing, key 0 = empty, slot = splitmix64(key) & mask, as in
:mod:`detectors.kernels.pods`) hold the state of one partition:

- pairs: ``pair_key(actor, text fingerprint) -> text fingerprint, last time``: who posted which text;
- texts: ``text fingerprint -> number of pairs with it``: the distinct accounts that posted it.

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
def recount(pk: np.ndarray, pfp: np.ndarray, fk: np.ndarray, fc: np.ndarray) -> None:
    """Rebuild the texts table from the pairs table."""
    fk[:] = 0
    fc[:] = 0
    for s in range(pk.shape[0]):
        if pk[s] != np.uint64(0):
            f = find_slot(fk, pfp[s])
            fk[f] = pfp[s]
            fc[f] += 1


@njit(**NJIT_OPTIONS)
def _rebuild(pk: np.ndarray, pfp: np.ndarray, pt: np.ndarray, fk: np.ndarray, fc: np.ndarray, dirty: np.ndarray,
             state: np.ndarray) -> None:
    cap = pk.shape[0]
    used = np.flatnonzero(pk != np.uint64(0))
    order = np.argsort(-pt[used], kind="mergesort")
    sel = used[order[: cap // 2]]
    k2, f2, t2 = pk[sel].copy(), pfp[sel].copy(), pt[sel].copy()
    pk[:] = 0
    for j in range(k2.shape[0]):
        s = find_slot(pk, k2[j])
        pk[s], pfp[s], pt[s] = k2[j], f2[j], t2[j]
    recount(pk, pfp, fk, fc)
    dirty[:] = True
    state[0] = k2.shape[0]
    state[1] += 1


@njit(**NJIT_OPTIONS)
def copied_comments(kind: np.ndarray, actor_h: np.ndarray, sim: np.ndarray, tflags: np.ndarray, ts: np.ndarray,
                    keep: np.ndarray, pk: np.ndarray, pfp: np.ndarray, pt: np.ndarray, fk: np.ndarray,
                    fc: np.ndarray, dirty: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Apply a batch in order; for each event, how many *other* accounts have posted its text so far, itself
    included in the table first (0 for anything but a kept comment whose text is specific, ``TEXT_SPECIFIC``).

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
                _rebuild(pk, pfp, pt, fk, fc, dirty, state)
                s = find_slot(pk, key)
            pk[s], pfp[s], pt[s] = key, sim[i], ts[i]
            state[0] += 1
            f = find_slot(fk, sim[i])
            fk[f] = sim[i]
            fc[f] += 1
        else:
            pt[s] = max(pt[s], ts[i])
            f = find_slot(fk, sim[i])
        dirty[s >> SEG_SHIFT] = True
        out[i] = fc[f] - 1
    return out


@njit(**NJIT_OPTIONS)
def reinsert(k_in: np.ndarray, f_in: np.ndarray, t_in: np.ndarray, pk: np.ndarray, pfp: np.ndarray, pt: np.ndarray
             ) -> int:
    """Insert restored pairs into an empty pairs table (a pair twice: the later time wins); returns the pairs."""
    n = 0
    for j in range(k_in.shape[0]):
        k = k_in[j]
        if k == np.uint64(0):
            continue
        s = find_slot(pk, k)
        if pk[s] == k:
            pt[s] = max(pt[s], t_in[j])
            continue
        pk[s], pfp[s], pt[s] = k, f_in[j], t_in[j]
        n += 1
    return n
