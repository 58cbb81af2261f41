"""The ``actions`` topic: likes, comments, follows and unfollows repartitioned by actor (internal, binary).

Events arrive partitioned by the creator they target; an actor's behaviour (its pace, its hours, its comments)
is spread over every partition. Each worker forwards the actions of its batch, in compact columns, to the
partition of each actor (Kafka's default partitioner on the actor id, the partition of its profile snapshots),
where the bot detector sees the actor's whole stream. One message holds the actions of one batch for one
partition, as an ``.npz`` archive of the arrays of :class:`ActionBatch` (``format`` 2). Comment texts travel as
their fingerprints only (:func:`detectors.kernels.bots.text_fingerprints`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Format written; format 1 (before ``shared``) is still read, with no copies counted.
FORMAT = 2
ARRAYS = ("ts", "kind", "target_h", "sim", "tflags", "event_h", "shared")


@dataclass(frozen=True, slots=True)
class ActionBatch:
    actors: list[str]
    ts: np.ndarray  # float64 event time
    kind: np.ndarray  # int8 (schemas.wire.EVENT_KINDS order)
    target_h: np.ndarray  # uint64 FNV-1a of target_id
    sim: np.ndarray  # uint64 SimHash of the comment text, 0 without text
    tflags: np.ndarray  # uint8 text flags
    event_h: np.ndarray  # uint64 FNV-1a of event_id (the actor side drops re-sent duplicates)
    #: int32: other accounts that posted the same specific comment text on the source partition so far
    #: (detectors.comments); 0 for anything else
    shared: np.ndarray
    #: the events partition these actions come from, and the newest event time it has processed: the actor
    #: side applies actions in event-time order up to the oldest such watermark among its sources
    source: int = 0
    watermark: float = float("-inf")
    #: the source's next events offset to process (everything before it is processed; -1: not stated)
    position: int = -1
    #: the source has processed no events for a while (a heartbeat says so): if the broker confirms that its
    #: partition holds nothing past ``position``, it stops holding the others back
    idle: bool = False

    def __len__(self) -> int:
        return len(self.actors)

    def take(self, idx: np.ndarray) -> ActionBatch:
        return ActionBatch([self.actors[i] for i in idx.tolist()], self.ts[idx], self.kind[idx], self.target_h[idx],
                           self.sim[idx], self.tflags[idx], self.event_h[idx], self.shared[idx], self.source,
                           self.watermark, self.position, self.idle)

    @staticmethod
    def from_columns(actors: list[str], cols: Mapping[str, np.ndarray], source: int = 0,
                     watermark: float = float("-inf"), position: int = -1, idle: bool = False) -> ActionBatch:
        """A batch from its arrays by name (:data:`ARRAYS`)."""
        return ActionBatch(actors, cols["ts"], cols["kind"], cols["target_h"], cols["sim"], cols["tflags"],
                           cols["event_h"], cols["shared"], source, watermark, position, idle)

    @staticmethod
    def empty() -> ActionBatch:
        return ActionBatch.from_columns([], {k: np.zeros(0, dtype=DTYPES[k]) for k in ARRAYS})


DTYPES = {"ts": np.float64, "kind": np.int8, "target_h": np.uint64, "sim": np.uint64, "tflags": np.uint8,
          "event_h": np.uint64, "shared": np.int32}


def encode_actions(batch: ActionBatch) -> bytes:
    encoded = [a.encode() for a in batch.actors]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64) if encoded else np.zeros(0, np.int64)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, format=np.asarray([FORMAT]), actor_buf=np.frombuffer(b"".join(encoded),
             dtype=np.uint8), actor_ends=ends, source=np.asarray([batch.source], dtype=np.int64),
             watermark=np.asarray([batch.watermark], dtype=np.float64),
             position=np.asarray([batch.position], dtype=np.int64), idle=np.asarray([batch.idle], dtype=np.bool_),
             **{k: getattr(batch, k) for k in ARRAYS})
    return buf.getvalue()


def decode_actions(value: bytes | None) -> ActionBatch:
    """Decode a message of the actions topic; ValueError (with what is wrong) for anything else."""
    if not value:
        raise ValueError("empty actions message")
    try:
        with np.load(io.BytesIO(value), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable archive is the same error to the caller
        raise ValueError(f"not an actions archive: {exc}") from None
    try:
        return _from_arrays(arrays)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - shapes or dtypes no writer of ours produces
        raise ValueError(f"malformed actions arrays: {exc}") from None


def _from_arrays(arrays: dict[str, np.ndarray]) -> ActionBatch:
    fmt = arrays.get("format", np.zeros(0)).tolist()
    if fmt not in ([1], [FORMAT]):
        raise ValueError("unknown actions format")
    if fmt == [1] and "actor_ends" in arrays and "shared" not in arrays:
        arrays["shared"] = np.zeros(np.shape(arrays["actor_ends"])[:1], dtype=np.int32)
    missing = [k for k in (*ARRAYS, "actor_buf", "actor_ends") if k not in arrays]
    if missing:
        raise ValueError(f"actions message lacks {', '.join(missing)}")
    scalars = ("source", "watermark", "position", "idle")
    if any(arrays[k].ndim != 1 for k in (*ARRAYS, "actor_buf", "actor_ends", *scalars) if k in arrays):
        raise ValueError("actions arrays must be one-dimensional")
    ends = arrays["actor_ends"].astype(np.int64)
    n = ends.shape[0]
    if any(arrays[k].shape != (n,) for k in ARRAYS):
        raise ValueError("actions arrays disagree in length")
    bounds = np.concatenate([[0], ends])
    if np.any(np.diff(bounds) < 0) or bounds[-1] != arrays["actor_buf"].shape[0]:
        raise ValueError("actor id offsets out of order or past the end")
    raw = arrays["actor_buf"].tobytes()
    try:
        actors = [raw[s:e].decode() for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
    except UnicodeDecodeError:
        raise ValueError("actor id is not UTF-8") from None
    default = {"source": np.zeros(1, np.int64), "watermark": np.full(1, -np.inf), "position": np.full(1, -1),
               "idle": np.zeros(1, np.bool_)}  # absent in messages of writers before them
    one = {k: arrays.get(k, default[k]) for k in scalars}
    if any(v.shape != (1,) for v in one.values()):
        raise ValueError(f"{', '.join(scalars)} must hold one value each")
    cols = {k: arrays[k].astype(DTYPES[k]) for k in ARRAYS}
    return ActionBatch.from_columns(actors, cols, int(one["source"][0]), float(one["watermark"][0]),
                                    int(one["position"][0]), bool(one["idle"][0]))
