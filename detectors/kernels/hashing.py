"""Stable 64-bit hashing of strings packed in one byte buffer (FNV-1a)."""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(**NJIT_OPTIONS)
def fnv1a_packed(buf: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash ``buf[ends[i-1]:ends[i]]`` for each i; ``buf`` is uint8, ``ends`` int64 cumulative ends."""
    n = ends.shape[0]
    out = np.empty(n, dtype=np.uint64)
    start = 0
    for i in range(n):
        h = FNV_OFFSET
        for j in range(start, ends[i]):
            h = (h ^ np.uint64(buf[j])) * FNV_PRIME
        out[i] = h
        start = ends[i]
    return out
