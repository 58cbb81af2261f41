"""Per-partition detector state: interned account ids and struct-of-arrays columns.

Accounts are interned to dense ints in order of first appearance. Each detector owns a *block*:
a float64 matrix ``F`` and an int64 matrix ``I`` of shape (columns, capacity), grown by doubling.
State is cut into chunks of ``2**CHUNK_SHIFT`` consecutive dense ids; a chunk is the unit of
checkpointing, and each chunk remembers the source offsets its checkpoint covers, so replay after
a restart skips what a restored chunk already reflects (see :mod:`services.worker.checkpoint`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import orjson

#: log2 of accounts per chunk; 2048 accounts x ~240 B stays well under Kafka's 1 MB message limit.
CHUNK_SHIFT = 11
CHUNK = 1 << CHUNK_SHIFT
#: Source topics whose offsets a chunk tracks (index into ``chunk_off``): events and profiles, and the actions
#: repartitioned by actor (:mod:`schemas.actions`).
TOPIC_EVENTS, TOPIC_PROFILES, TOPIC_ACTIONS = 0, 1, 2
N_TOPICS = 3


@dataclass(frozen=True)
class BlockSpec:
    """Column layout of one detector's block."""

    name: str
    f_defaults: np.ndarray  # float64, one default per float column
    i_defaults: np.ndarray  # int64, one default per int column
    #: maps the float columns of a checkpoint written with an older layout to this one (None: not convertible,
    #: the block keeps its defaults)
    upgrade_f: Callable[[np.ndarray], np.ndarray | None] | None = None


class AccountTable:
    """Interned accounts plus the detector blocks, with chunk bookkeeping for checkpoints."""

    def __init__(self, specs: Sequence[BlockSpec], capacity: int = CHUNK) -> None:
        self.specs = {s.name: s for s in specs}
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.capacity = max(CHUNK, capacity)
        self.F = {s.name: self._alloc_f(s, self.capacity) for s in specs}
        self.I = {s.name: self._alloc_i(s, self.capacity) for s in specs}
        n_chunks = self.capacity >> CHUNK_SHIFT
        self.chunk_off = np.full((N_TOPICS, n_chunks), -1, dtype=np.int64)
        self.dirty = np.zeros(n_chunks, dtype=np.bool_)

    @staticmethod
    def _alloc_f(spec: BlockSpec, cap: int) -> np.ndarray:
        return np.repeat(spec.f_defaults.reshape(-1, 1), cap, axis=1)

    @staticmethod
    def _alloc_i(spec: BlockSpec, cap: int) -> np.ndarray:
        return np.repeat(spec.i_defaults.reshape(-1, 1), cap, axis=1)

    def __len__(self) -> int:
        return len(self.ids)

    def _grow(self, need: int) -> None:
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap == self.capacity:
            return
        for name, spec in self.specs.items():
            f = self._alloc_f(spec, cap)
            f[:, : self.capacity] = self.F[name]
            self.F[name] = f
            i = self._alloc_i(spec, cap)
            i[:, : self.capacity] = self.I[name]
            self.I[name] = i
        n_chunks = cap >> CHUNK_SHIFT
        off = np.full((N_TOPICS, n_chunks), -1, dtype=np.int64)
        off[:, : self.chunk_off.shape[1]] = self.chunk_off
        self.chunk_off = off
        dirty = np.zeros(n_chunks, dtype=np.bool_)
        dirty[: self.dirty.shape[0]] = self.dirty
        self.dirty = dirty
        self.capacity = cap

    def intern(self, ids: Iterable[str]) -> np.ndarray:
        """Dense ids for ``ids``, adding unseen ones in order of appearance."""
        index = self.index
        out = []
        for s in ids:
            d = index.get(s)
            if d is None:
                d = len(self.ids)
                index[s] = d
                self.ids.append(s)
            out.append(d)
        if len(self.ids) > self.capacity:
            self._grow(len(self.ids))
        return np.asarray(out, dtype=np.int64)

    def lookup(self, account_id: str) -> int | None:
        return self.index.get(account_id)

    # --- checkpoint chunks ------------------------------------------------------------------
    def n_chunks_used(self) -> int:
        return (len(self.ids) + CHUNK - 1) >> CHUNK_SHIFT

    def dirty_chunks(self) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.dirty[: self.n_chunks_used()])]

    def dump_chunk(self, c: int, covered: tuple[int, ...], extra: dict[str, np.ndarray] | None = None) -> bytes:
        """Serialize chunk ``c`` as of source offsets ``covered`` (events, profiles, actions); clears its dirty bit.

        A chunk never moves backwards: after a restore, replay starts at or below every chunk's offset,
        and a chunk is dirtied only by events beyond its own offset, so the chunk covers
        ``max(its offset, covered)``.
        """
        lo, hi = c * CHUNK, min((c + 1) * CHUNK, len(self.ids))
        arrays: dict[str, np.ndarray] = {
            "ids": np.frombuffer(orjson.dumps(self.ids[lo:hi]), dtype=np.uint8),
            "covered": np.asarray(covered, dtype=np.int64),
            "chunk": np.asarray([c], dtype=np.int64),
        }
        covered_c = np.maximum(self.chunk_off[:, c], np.asarray(covered, dtype=np.int64))
        arrays["covered"] = covered_c
        for name in self.specs:
            arrays[f"F.{name}"] = self.F[name][:, lo:hi]
            arrays[f"I.{name}"] = self.I[name][:, lo:hi]
        for key, value in (extra or {}).items():  # state of the chunk's accounts kept outside the blocks
            arrays[f"X.{key}"] = value
        buf = io.BytesIO()
        np.savez_compressed(buf, allow_pickle=False, **arrays)
        self.chunk_off[:, c] = covered_c
        self.dirty[c] = False
        return buf.getvalue()

    def load_chunks(self, blobs: Iterable[bytes]) -> dict[int, dict[str, np.ndarray]]:
        """Restore chunks written by :meth:`dump_chunk` (any order) into an empty table; returns each chunk's
        ``extra`` arrays."""
        if self.ids:
            raise RuntimeError("load_chunks needs an empty table")
        loaded: dict[int, dict[str, np.ndarray]] = {}
        for blob in blobs:
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            loaded[int(data["chunk"][0])] = data
        ids: list[str] = []
        sizes: dict[int, int] = {}
        for c in sorted(loaded):
            if c * CHUNK != len(ids):
                raise RuntimeError(f"checkpoint chunk {c} found but chunk {len(ids) >> CHUNK_SHIFT} missing")
            chunk_ids = orjson.loads(loaded[c]["ids"].tobytes())
            sizes[c] = len(chunk_ids)
            ids.extend(chunk_ids)
        self.intern(ids)
        for c, data in loaded.items():
            lo, n = c * CHUNK, sizes[c]
            for name, spec in self.specs.items():
                f, i = data.get(f"F.{name}"), data.get(f"I.{name}")
                # a block added after the checkpoint was written keeps its defaults
                if f is not None and f.shape[0] != spec.f_defaults.size and spec.upgrade_f is not None:
                    f = spec.upgrade_f(f)
                if f is not None and f.shape[0] == spec.f_defaults.size:
                    self.F[name][:, lo : lo + n] = f
                if i is not None and i.shape[0] == spec.i_defaults.size:
                    self.I[name][:, lo : lo + n] = i
            cov = data["covered"]  # checkpoints written before the actions topic cover two topics
            self.chunk_off[: cov.shape[0], c] = cov
        self.dirty[:] = False
        return {c: {k[2:]: v for k, v in data.items() if k.startswith("X.")} for c, data in loaded.items()}
