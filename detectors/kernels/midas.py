"""MIDAS-R burst scores (Bhatia et al., "MIDAS: Microcluster-Based Detector of Anomalies in Edge Streams", AAAI 2020).

Time is cut into ticks of ``tick_s`` event-time seconds. For a key (a creator, or one of its posts) MIDAS-R keeps
``a``, the count in the current tick *decayed* by ``decay`` at every tick boundary (the "R": recent ticks still
count), and ``s``, the count since the key's clock started ``t`` ticks ago. Under the null hypothesis that the key's
events arrive at a constant rate, the score

    (a - s / t) ** 2 * t ** 2 / (s * (t - 1))

is a chi-squared statistic with one degree of freedom, so ``score >= chi2.ppf(1 - eps, 1)`` flags a burst with a
false-positive probability bounded by ``eps`` per test (the bound of the paper's Theorem 1).

Two forms, the same arithmetic:

- :func:`cms_score` for keys without a row of their own (posts: unbounded in number): count-min sketches of
  ``rows x width`` cells for ``a`` and ``s``, every per-event operation O(rows); counts are over-estimated by
  collisions (never under), and the partition's tick is the clock (``t`` since the partition's first tick),
  exactly as in the paper;
- :func:`node_score` for a key with its own columns (a creator's channel in the purchase block): exact counts
  and a clock that starts at the key's first tick, so a creator first seen late is not a burst for being new.

Late events (older than the current tick) count in the current tick: the score stays a function of the order
of the stream, which is what keeps replay deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS
from detectors.kernels.pods import mix64

#: Per-row seeds of the sketch's hash functions (odd 64-bit constants).
SEEDS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                  0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x2545F4914F6CDD1D, 0x9FB21C651E98DF25], dtype=np.uint64)
#: State of a sketch: [current tick, ticks since the first one (t), covered position]
TICK, T, COVERED = 0, 1, 2


@njit(**NJIT_OPTIONS)
def chi2_score(a: float, s: float, t: float) -> float:
    """The MIDAS statistic; 0 when it is undefined (nothing counted, or the first tick)."""
    if s <= 0.0 or t <= 1.0:
        return 0.0
    d = (a - s / t) * t
    return d * d / (s * (t - 1.0))


@njit(**NJIT_OPTIONS)
def bucket(key: np.uint64, row: int, mask: int) -> int:
    return int(mix64(key ^ SEEDS[row]) & np.uint64(mask))


@njit(**NJIT_OPTIONS)
def advance(cur: np.ndarray, state: np.ndarray, tick: float, decay: float) -> None:
    """Move the sketch's clock to ``tick`` (never back), decaying the current counts once per tick passed."""
    if math.isnan(state[TICK]):
        state[TICK] = tick
        state[T] = 1.0
        return
    if tick <= state[TICK]:
        return
    d = tick - state[TICK]
    f = decay ** d if d < 2000 else 0.0
    for r in range(cur.shape[0]):
        for b in range(cur.shape[1]):
            cur[r, b] *= f
    state[T] += d
    state[TICK] = tick


@njit(**NJIT_OPTIONS)
def cms_score(key: np.ndarray, ts: np.ndarray, pos: np.ndarray, use: np.ndarray, cur: np.ndarray, tot: np.ndarray,
              state: np.ndarray, tick_s: float, decay: float) -> np.ndarray:
    """Score each event of a batch, in order; ``key`` 0 or ``use`` False: no key, score 0 (nothing counted).

    An event whose ``pos`` is at or below ``state[COVERED]`` is already in the sketch (restored from a checkpoint
    written after it): it is scored without being counted again.
    """
    n = key.shape[0]
    out = np.zeros(n)
    rows, mask = cur.shape[0], cur.shape[1] - 1
    for i in range(n):
        if not use[i] or key[i] == np.uint64(0):
            continue
        advance(cur, state, math.floor(ts[i] / tick_s), decay)
        add = pos[i] > state[COVERED]
        a = np.inf
        s = np.inf
        for r in range(rows):
            b = bucket(key[i], r, mask)
            if add:
                cur[r, b] += 1.0
                tot[r, b] += 1.0
            a = min(a, cur[r, b])
            s = min(s, tot[r, b])
        if add:
            state[COVERED] = pos[i]
        out[i] = chi2_score(a, s, state[T])
    return out


@njit(**NJIT_OPTIONS)
def node_score(F: np.ndarray, tick_col: int, cur_col: int, tot_col: int, t0_col: int, a: int, ts: float,
               tick_s: float, decay: float) -> float:
    """Count one event of account ``a`` in its own MIDAS-R columns and return its score."""
    tick = math.floor(ts / tick_s)
    if math.isnan(F[t0_col, a]):
        F[t0_col, a] = tick
        F[tick_col, a] = tick
    elif tick > F[tick_col, a]:
        d = tick - F[tick_col, a]
        F[cur_col, a] *= decay ** d if d < 2000 else 0.0
        F[tick_col, a] = tick
    F[cur_col, a] += 1.0
    F[tot_col, a] += 1.0
    return chi2_score(F[cur_col, a], F[tot_col, a], F[tick_col, a] - F[t0_col, a] + 1.0)  # type: ignore[no-any-return]
