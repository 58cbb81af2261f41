"""Numba kernel of first-seen accounts: has this account engaged on this partition before?

An open-addressing table (linear probing, key 0 = empty, as in :mod:`detectors.kernels.pods`) maps an account
hash to the stream position of its first engagement on the partition and the UTC day it was last seen. An event
is *new* when it is its account's first engagement: the table has no entry, or the entry's position is the event's
own (the same event again, replayed after a restore). So replays give the same answer whatever checkpoint the
table was restored from, and the answer never depends on how the stream was cut into batches.

When an insert would make the table 3/4 full, it is rebuilt keeping the most recently seen half (by last-seen day,
ties by account hash): an account not seen in that long is new again. Inserts, a position moving earlier and a
last-seen day moving on mark a segment dirty, so the checkpoint holds everything a rebuild reads and a table
restored from it evicts exactly what the uninterrupted one does; days, not times, keep that to one write per
account and day.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS
from detectors.kernels.pods import find_slot

SEG_SHIFT = 13
DAY_S = 86_400.0


@njit(**NJIT_OPTIONS)
def most_recent(keys: np.ndarray, last: np.ndarray, n: int) -> np.ndarray:
    """Slots of the ``n`` most recently seen entries (latest day first, then by account hash): an order that
    depends only on the entries, not on where they sit in the table."""
    used = np.flatnonzero(keys != np.uint64(0))
    by_key = used[np.argsort(keys[used], kind="mergesort")]
    return by_key[np.argsort(-last[by_key], kind="mergesort")[:n]]


@njit(**NJIT_OPTIONS)
def _rebuild(keys: np.ndarray, first: np.ndarray, last: np.ndarray, dirty: np.ndarray, state: np.ndarray) -> None:
    cap = keys.shape[0]
    sel = most_recent(keys, last, cap // 2)
    k2, f2, l2 = keys[sel].copy(), first[sel].copy(), last[sel].copy()
    keys[:] = 0
    for j in range(k2.shape[0]):
        s = find_slot(keys, k2[j])
        keys[s], first[s], last[s] = k2[j], f2[j], l2[j]
    dirty[:] = True
    state[0] = k2.shape[0]
    state[1] += 1


@njit(**NJIT_OPTIONS)
def first_seen(actor_h: np.ndarray, pos: np.ndarray, ts: np.ndarray, use: np.ndarray, keys: np.ndarray,
               first: np.ndarray, last: np.ndarray, dirty: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Per event, True when it is the first engagement of its account on this partition (see module doc).

    ``use`` False: not an engagement (or a duplicate), False and nothing recorded. ``state``: [entries, rebuilds].
    """
    n = actor_h.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    cap = keys.shape[0]
    for i in range(n):
        if not use[i]:
            continue
        k = actor_h[i] if actor_h[i] != np.uint64(0) else np.uint64(1)
        day = np.floor(ts[i] / DAY_S)
        s = find_slot(keys, k)
        if keys[s] != k:
            if 4 * (state[0] + 1) > 3 * cap:
                _rebuild(keys, first, last, dirty, state)
                s = find_slot(keys, k)
            keys[s], first[s], last[s] = k, pos[i], day
            state[0] += 1
            dirty[s >> SEG_SHIFT] = True
            out[i] = True
            continue
        if pos[i] <= first[s]:
            if pos[i] < first[s]:
                first[s] = pos[i]
                dirty[s >> SEG_SHIFT] = True
            out[i] = True
        if day > last[s]:
            last[s] = day
            dirty[s >> SEG_SHIFT] = True
    return out


@njit(**NJIT_OPTIONS)
def reinsert(k_in: np.ndarray, f_in: np.ndarray, l_in: np.ndarray, keys: np.ndarray, first: np.ndarray,
             last: np.ndarray) -> int:
    """Insert restored entries into an empty table (a key twice: the earlier position); returns the entries."""
    n = 0
    for j in range(k_in.shape[0]):
        k = k_in[j]
        if k == np.uint64(0):
            continue
        s = find_slot(keys, k)
        if keys[s] == k:
            first[s] = min(first[s], f_in[j])
            last[s] = max(last[s], l_in[j])
            continue
        keys[s], first[s], last[s] = k, f_in[j], l_in[j]
        n += 1
    return n
