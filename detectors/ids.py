"""Stable 64-bit hashes of string ids, the same in every process (no per-process hash seed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.kernels.hashing import fnv1a_packed


def hash_ids(ids: Sequence[str]) -> np.ndarray:
    """Stable 64-bit FNV-1a hashes of strings (same value in every process)."""
    if not ids:
        return np.zeros(0, dtype=np.uint64)
    encoded = [s.encode() for s in ids]
    ends = np.cumsum(np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded)))
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return fnv1a_packed(buf, ends)  # type: ignore[no-any-return]


__all__ = ["hash_ids"]
