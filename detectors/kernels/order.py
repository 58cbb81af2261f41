"""Merging runs sorted by (time, id): the order of the action buffer (:class:`detectors.core.ActionBuffer`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS


@njit(**NJIT_OPTIONS)
def merge_order(ts_a: np.ndarray, h_a: np.ndarray, ts_b: np.ndarray, h_b: np.ndarray) -> np.ndarray:
    """Positions in ``concat(a, b)`` that list both runs merged in (ts, h) order.

    Each run must already be sorted by (ts, h); ties between the runs take ``a`` first, so the merge is stable.
    """
    na, nb = ts_a.shape[0], ts_b.shape[0]
    out = np.empty(na + nb, dtype=np.int64)
    i = j = 0
    for k in range(na + nb):
        if j >= nb or (i < na and (ts_a[i] < ts_b[j] or (ts_a[i] == ts_b[j] and h_a[i] <= h_b[j]))):
            out[k] = i
            i += 1
        else:
            out[k] = na + j
            j += 1
    return out
