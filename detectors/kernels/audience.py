"""Numba kernel of the audience detector: bottom-k samples of the distinct accounts engaging and following.

A bottom-k sketch (KMV) keeps the ``K`` smallest 64-bit hashes seen: a uniform sample of the distinct accounts,
the same whatever the order or repetition of the events (inserting is idempotent), in ``K`` slots. Hashes are
stored in int64 columns as their bit patterns and compared as unsigned; 0 marks an empty slot.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS

LIKE, COMMENT, FOLLOW = 0, 1, 2
K = 16
ENG, FOL = 0, K  # first column of the engager and follower samples
N_I = 2 * K
I_DEFAULTS = np.zeros(N_I, dtype=np.int64)


@njit(**NJIT_OPTIONS)
def kmv_insert(I: np.ndarray, base: int, a: int, h: np.uint64) -> bool:
    """Insert ``h`` into the sorted sample at columns base..base+K-1 of account ``a``; True if it changed."""
    if h == np.uint64(0):
        return False
    n = 0
    while n < K and I[base + n, a] != 0:
        if np.uint64(I[base + n, a]) == h:
            return False
        n += 1
    if n == K and h > np.uint64(I[base + K - 1, a]):
        return False
    j = min(n, K - 1)  # the slot the largest entry leaves (or the first empty one)
    while j > 0 and np.uint64(I[base + j - 1, a]) > h:
        I[base + j, a] = I[base + j - 1, a]
        j -= 1
    I[base + j, a] = np.int64(h)
    return True


@njit(**NJIT_OPTIONS)
def audience_update(kind: np.ndarray, target: np.ndarray, actor_h: np.ndarray, apply: np.ndarray, I: np.ndarray,
                    dirty: np.ndarray, chunk_shift: int) -> None:
    for i in range(kind.shape[0]):
        if not apply[i]:
            continue
        k = kind[i]
        a = target[i]
        if k == LIKE or k == COMMENT:
            changed = kmv_insert(I, ENG, a, actor_h[i])
        elif k == FOLLOW:
            changed = kmv_insert(I, FOL, a, actor_h[i])
        else:
            continue
        if changed:
            dirty[a >> chunk_shift] = True
