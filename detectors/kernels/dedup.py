"""Bounded duplicate filter on event-id hashes: a ring of the last C ids plus an open-addressing index.

Memory: ring ``C`` x (8 B hash + 8 B offset) + index ``4C`` x 4 B = 32 B per remembered id.
The index holds ring positions; entries whose ring slot was overwritten are stale and skipped.
It is rebuilt from the ring every time the ring wraps, so at most ``2C`` entries (live + stale)
occupy the ``4C`` slots and the load factor stays <= 0.5.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS

EMPTY = -1


@njit(**NJIT_OPTIONS)
def _insert_index(index: np.ndarray, h: np.uint64, pos: np.int64) -> None:
    mask = index.shape[0] - 1
    slot = np.int64(h & np.uint64(mask))
    while index[slot] != EMPTY:
        slot = (slot + 1) & mask
    index[slot] = pos


@njit(**NJIT_OPTIONS)
def rebuild_index(ring_h: np.ndarray, n_total: np.int64, index: np.ndarray) -> None:
    """Index every live ring entry (the last min(n_total, C) inserted)."""
    index[:] = EMPTY
    cap = ring_h.shape[0]
    live = min(n_total, cap)
    for k in range(n_total - live, n_total):
        pos = k % cap
        _insert_index(index, ring_h[pos], np.int64(pos))


@njit(**NJIT_OPTIONS)
def dedup_batch(hashes: np.ndarray, offsets: np.ndarray, ring_h: np.ndarray, ring_o: np.ndarray,
                index: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Return a keep-mask for a batch, remembering the ids it keeps.

    An id already remembered with the *same* source offset is the replay of that very message after
    a restart, so it is kept (and not remembered twice); with another offset it is a duplicate.
    ``state[0]`` is the number of ids ever inserted; ``state[1]`` counts inserts since the last rebuild.
    """
    n = hashes.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    cap = ring_h.shape[0]
    mask = index.shape[0] - 1
    for i in range(n):
        h = hashes[i]
        slot = np.int64(h & np.uint64(mask))
        found = False
        while index[slot] != EMPTY:
            pos = index[slot]
            if ring_h[pos] == h:
                # live only if the ring slot was written within the last `cap` inserts
                found = True
                if ring_o[pos] != offsets[i]:
                    keep[i] = False
                break
            slot = (slot + 1) & mask
        if found:
            continue
        pos = state[0] % cap
        ring_h[pos] = h
        ring_o[pos] = offsets[i]
        state[0] += 1
        state[1] += 1
        if state[1] >= cap:
            rebuild_index(ring_h, state[0], index)
            state[1] = 0
        else:
            _insert_index(index, h, np.int64(pos))
    return keep
