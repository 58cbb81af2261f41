"""Copied comments: the same specific comment text posted by many accounts, a mark of bot networks.

Spam and engagement-bot operators run many accounts from a few texts ("Check my page for a collab 💰",
"Send this to @promo_xyz to get featured"); people rarely write the same four-word comment as dozens of
strangers. Events are partitioned by creator, so each partition counts, per comment fingerprint (the SimHash
of its normalized tokens: case, punctuation, emoji and word order do not matter), the distinct accounts that
posted it there (:mod:`detectors.kernels.comments`). Each comment forwarded to its actor's partition
(:mod:`schemas.actions`) carries that count, and the bot detector turns an actor whose comments are copies
into evidence (:mod:`detectors.bots`).

Only *specific* texts count (at least five words, not generic): "nice pic" from thousands of people is no sign
of anything, and generic texts are the bot detector's templated rule. And a text counts only once it has been
posted on ``min_creators`` creators: a phrase a giveaway asks of its entrants ("count me in please") is written
by many people on one post, a network's texts travel from creator to creator. A campaign that comments across many
creators reaches every partition, so each partition sees most of its accounts; with one partition (offline
replay) the count is global.

Memory: 32 bytes per remembered (account, text) pair and 24 per text slot, ``capacity`` of each per partition;
when 3/4 full the most recently seen half of the pairs is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from detectors.kernels import comments as K
from detectors.kernels.pods import find_slot
from detectors.segments import dump_segments, empty_segment, load_segments

_NAME = "cprint"


@dataclass(frozen=True)
class CommentParams:
    capacity: int = 1 << 18  # (account, text) pairs remembered per partition
    min_creators: int = 5  # a text counts once seen on this many creators (a giveaway phrase stays on one)


class CopiedComments:
    """Per partition: the distinct accounts behind each specific comment text (see module doc)."""

    def __init__(self, params: CommentParams | None = None) -> None:
        self.params = params or CommentParams()
        cap = 1 << max(K.SEG_SHIFT, (self.params.capacity - 1).bit_length())
        self.pk = np.zeros(cap, dtype=np.uint64)
        self.pfp = np.zeros(cap, dtype=np.uint64)
        self.pt = np.zeros(cap)
        self.pm = np.zeros(cap, dtype=np.uint64)
        self.fk = np.zeros(cap, dtype=np.uint64)
        self.fc = np.zeros(cap, dtype=np.int64)
        self.fm = np.zeros(cap, dtype=np.uint64)
        self.dirty = np.zeros(cap >> K.SEG_SHIFT, dtype=np.bool_)
        self.state = np.zeros(2, dtype=np.int64)  # pairs used, rebuilds
        self._orphans: list[str] = []

    def update(self, kind: np.ndarray, actor_h: np.ndarray, target_h: np.ndarray, sim: np.ndarray,
               tflags: np.ndarray, ts: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Apply a batch in order; per event, the other accounts that posted its text on this partition so far
        (0 until the text was seen on ``min_creators`` creators)."""
        return K.copied_comments(kind, actor_h, target_h, sim, tflags, ts, keep, self.pk, self.pfp,  # type: ignore[no-any-return]
                                 self.pt, self.pm, self.fk, self.fc, self.fm, self.dirty, self.state,
                                 self.params.min_creators)

    def accounts(self, sim: int) -> tuple[int, int]:
        """Distinct accounts remembered with the text of fingerprint ``sim``, and the creators it was seen on (as
        counted: distinct creator hash buckets of 64)."""
        f = int(find_slot(self.fk, np.uint64(sim)))
        if self.fk[f] != np.uint64(sim):
            return 0, 0
        return int(self.fc[f]), int(K.popcount64(self.fm[f]))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"k": self.pk, "f": self.pfp, "t": self.pt, "m": self.pm}

    def checkpoint(self) -> list[tuple[str, bytes]]:
        out = dump_segments(_NAME, self.dirty, K.SEG_SHIFT, self._arrays())
        out += [(key, empty_segment(self._arrays())) for key in self._orphans]
        self._orphans = []
        return out

    def restore(self, blobs: Mapping[str, bytes]) -> None:
        """Load checkpoint records (any capacity) into this empty table; every segment is written again at the
        next checkpoint, since pairs may land in other slots."""
        data, self._orphans = load_segments(_NAME, blobs, self.dirty.shape[0])
        if data is None:
            return
        k, f, t, m = data["k"], data["f"], data["t"], data["m"]
        used = np.flatnonzero(k != 0)
        cap = self.pk.shape[0]
        if used.shape[0] * 4 > cap * 3:  # a smaller table than the checkpoint's: the most recent half
            used = used[np.argsort(-t[used], kind="mergesort")[: cap // 2]]
        self.state[0] = K.reinsert(k[used], f[used], t[used], m[used], self.pk, self.pfp, self.pt, self.pm)
        K.recount(self.pk, self.pfp, self.pm, self.fk, self.fc, self.fm)
        self.dirty[:] = True
