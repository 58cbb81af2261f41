"""Checkpoint records of hash tables kept outside the account blocks, cut into segments of slots.

A table is a few arrays whose last axis is the slot, its keys in ``k`` (0: an empty slot). Every write marks its
segment dirty; a checkpoint writes the dirty segments as ``<name>:<segment>`` records (``.npz`` of each array's
entries in that segment, empty slots left out: a sparse table costs what it holds, not its capacity), and a
restore reads them back, in any order and from any capacity, for the table to re-insert their entries (slots
move when the capacity changes). Records of segments past the new table's end are *orphans*: they are
overwritten empty at the next checkpoint, so no stale layout survives in the log.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """``arrays`` as a compressed ``.npz`` archive (no pickle): the form of every checkpoint record."""
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def npz_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of a record written by :func:`npz_bytes`."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def dump_segments(name: str, dirty: np.ndarray, seg_shift: int, arrays: Mapping[str, np.ndarray]
                  ) -> list[tuple[str, bytes]]:
    """The entries in the dirty segments of the table ``arrays`` as checkpoint records; clears ``dirty``."""
    out = []
    keys = arrays["k"]
    for seg in np.flatnonzero(dirty).tolist():
        lo, hi = seg << seg_shift, (seg + 1) << seg_shift
        used = lo + np.flatnonzero(keys[lo:hi] != 0)
        out.append((f"{name}:{seg:06d}", npz_bytes(**{k: v[..., used] for k, v in arrays.items()})))
    dirty[:] = False
    return out


def empty_segment(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A record with no entries, shaped like a segment of ``arrays`` (to overwrite an orphan)."""
    return npz_bytes(**{k: v[..., :0] for k, v in arrays.items()})


def load_segments(name: str, blobs: Mapping[str, bytes], n_segs: int
                  ) -> tuple[dict[str, np.ndarray] | None, list[str]]:
    """Every entry of the ``name`` records in ``blobs``, concatenated per array along the slot axis (None when
    there is no record; an array some records lack, as written by an older version, is left out), and the keys
    of the orphan records (segment numbers from ``n_segs`` on)."""
    parts: list[dict[str, np.ndarray]] = []
    orphans: list[str] = []
    for key, blob in blobs.items():
        prefix, _, seg = key.partition(":")
        if prefix != name:
            continue
        parts.append(npz_arrays(blob))
        if seg.isdigit() and int(seg) >= n_segs:
            orphans.append(key)
    if not parts:
        return None, orphans
    common = set(parts[0]).intersection(*parts[1:])
    return {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0] if k in common}, orphans
