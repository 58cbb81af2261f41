"""The batch step shared by the streaming worker and offline replay.

:class:`PartitionCore` owns the state of one source partition: interned accounts, every detector's
block, and the duplicate filter. :meth:`PartitionCore.step_events` takes validated events with
their source offsets, turns them into columns (the only per-event Python is id interning and
hashing input), and runs every detector's kernel over the whole batch.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from detectors.audience import SUSPICIOUS, AudienceDetector, QualityLookup, category_codes
from detectors.base import ActionColumns, Detector, EventColumns, ProfileColumns
from detectors.bots import BotDetector, BotParams, fingerprint_texts
from detectors.comments import CommentParams, CopiedComments
from detectors.engagement import EngagementRate, RateParams
from detectors.ids import hash_ids
from detectors.kernels import bots as kb
from detectors.kernels.dedup import dedup_batch, rebuild_index
from detectors.kernels.order import merge_order
from detectors.pods import PodEdges, PodParams
from detectors.profiles import ProfileModel, columns_from_snapshots
from detectors.purchases import PostSketch, PurchaseDetector, PurchaseParams, SeenAccounts
from detectors.scoring import authenticity_of, deductions
from detectors.segments import npz_arrays, npz_bytes
from detectors.state import CHUNK_SHIFT, N_TOPICS, TOPIC_ACTIONS, TOPIC_EVENTS, TOPIC_PROFILES, AccountTable
from schemas.actions import ARRAYS as ACTION_ARRAYS
from schemas.actions import DTYPES as ACTION_DTYPES
from schemas.actions import ActionBatch
from schemas.wire import EVENT_KINDS, EngagementEvent, FlagRecord, PairSummary, ProfileSnapshot, ScoreRecord

_KIND_CODE = {k: i for i, k in enumerate(EVENT_KINDS)}
#: Events of one message get positions ``offset << POS_SHIFT | index`` in the duplicate filter.
POS_SHIFT = 20
#: Ids per checkpoint segment of the duplicate filter (16 B each: 256 KiB raw).
DEDUP_SEGMENT = 1 << 14
#: Buffered actions per checkpoint record (~50 B each), so that a record always fits a Kafka message.
ABUF_PIECE = 8_192


class DedupFilter:
    """Remembers the last ``capacity`` event ids of a partition (see :mod:`detectors.kernels.dedup`)."""

    def __init__(self, capacity: int) -> None:
        cap = 1 << max(10, (capacity - 1).bit_length())
        cap = max(cap, DEDUP_SEGMENT)
        self.ring_h = np.zeros(cap, dtype=np.uint64)
        self.ring_o = np.full(cap, -1, dtype=np.int64)
        self.index = np.full(4 * cap, -1, dtype=np.int64)
        self.state = np.zeros(2, dtype=np.int64)  # [ids ever inserted, inserts since rebuild]
        self._saved = 0  # ids inserted at the last checkpoint

    def keep(self, hashes: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return dedup_batch(hashes, positions, self.ring_h, self.ring_o, self.index, self.state)  # type: ignore[no-any-return]

    def dirty_segments(self) -> list[int]:
        cap = self.ring_h.shape[0]
        n, saved = int(self.state[0]), self._saved
        if n == saved:
            return []
        if n - saved >= cap:
            return list(range(cap // DEDUP_SEGMENT))
        segs = {(p % cap) // DEDUP_SEGMENT for p in range(saved, n, DEDUP_SEGMENT)}
        segs.add(((n - 1) % cap) // DEDUP_SEGMENT)
        return sorted(segs)

    def dump_segment(self, s: int) -> bytes:
        lo, hi = s * DEDUP_SEGMENT, (s + 1) * DEDUP_SEGMENT
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, h=self.ring_h[lo:hi], o=self.ring_o[lo:hi],
                 n=np.asarray([self.state[0], s, self.ring_h.shape[0]], dtype=np.int64))
        return buf.getvalue()

    def mark_saved(self) -> None:
        self._saved = int(self.state[0])

    def load_segments(self, blobs: Iterable[bytes]) -> None:
        n_total = 0
        for blob in blobs:
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                n, s, cap = (int(x) for x in z["n"])
                if cap != self.ring_h.shape[0]:
                    continue  # capacity changed since: the filter restarts empty, replay refills it
                lo = s * DEDUP_SEGMENT
                self.ring_h[lo : lo + DEDUP_SEGMENT] = z["h"]
                self.ring_o[lo : lo + DEDUP_SEGMENT] = z["o"]
                n_total = max(n_total, n)
        self.state[0] = n_total
        self.state[1] = 0
        rebuild_index(self.ring_h, np.int64(n_total), self.index)
        self._saved = n_total


class ActionBuffer:
    """Actions taken but not applied yet (see :meth:`PartitionCore.step_actions`), as columns.

    The buffer is a few *runs*, each sorted by (time, event id) and merged like the digits of a binary counter
    (a new run is merged into the previous one while that one is at most twice its size), so an action is
    copied O(log n) times while it waits, and taking the due actions reads a prefix of each run: the cost of a
    batch does not grow with the number of actions waiting. Actors are kept as dense ids only; their id
    strings are the table's (``ids``), read only by :attr:`rows`.
    """

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.runs: list[dict[str, np.ndarray]] = []  # "actor" and _COLS, each run sorted by (ts, event_h)

    def __len__(self) -> int:
        return sum(int(r["actor"].shape[0]) for r in self.runs)

    def _all(self) -> dict[str, np.ndarray]:
        if not self.runs:
            return {"actor": np.zeros(0, dtype=np.int64), **{k: getattr(ActionBatch.empty(), k) for k in _COLS}}
        return {k: np.concatenate([r[k] for r in self.runs]) for k in ("actor", *_COLS)}

    @property
    def actor(self) -> np.ndarray:
        """Dense actor ids of the buffered actions (in the order of :attr:`rows`)."""
        return self._all()["actor"]

    @property
    def rows(self) -> ActionBatch:
        """The buffered actions as a batch (actor ids looked up; for inspection, not the hot path)."""
        c = self._all()
        return ActionBatch.from_columns([self.ids[a] for a in c["actor"].tolist()], c)

    def append(self, actor: np.ndarray, rows: ActionBatch) -> None:
        self._append({"actor": actor, **{k: getattr(rows, k) for k in _COLS}})

    @staticmethod
    def _sorted(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        order = np.lexsort((cols["event_h"], cols["ts"]))
        return {k: v[order] for k, v in cols.items()}

    def _append(self, cols: Mapping[str, np.ndarray]) -> None:
        if not len(cols["actor"]):
            return
        run = self._sorted(cols)
        while self.runs and len(self.runs[-1]["actor"]) <= 2 * len(run["actor"]):
            run = self._merge(self.runs.pop(), run)
        self.runs.append(run)

    @staticmethod
    def _merge(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        both = {k: np.concatenate([a[k], b[k]]) for k in a}
        if (a["ts"][-1], a["event_h"][-1]) <= (b["ts"][0], b["event_h"][0]):  # in order already (the usual case)
            return both
        order = merge_order(a["ts"], a["event_h"], b["ts"], b["event_h"])
        return {k: v[order] for k, v in both.items()}

    def pop_until(self, upto: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The buffered actions timed at or before ``upto``, in (time, event id) order, as (actor, columns);
        they leave the buffer."""
        due: list[dict[str, np.ndarray]] = []
        left: list[dict[str, np.ndarray]] = []
        for run in self.runs:
            n = int(np.searchsorted(run["ts"], upto, side="right"))
            if n:
                due.append({k: v[:n] for k, v in run.items()})
            if n < len(run["ts"]):
                left.append({k: v[n:] for k, v in run.items()} if n else run)
        self.runs = left
        if not due:
            return np.zeros(0, dtype=np.int64), {k: getattr(ActionBatch.empty(), k) for k in _COLS}
        out = due[0] if len(due) == 1 else self._sorted({k: np.concatenate([d[k] for d in due]) for k in due[0]})
        return out["actor"], {k: out[k] for k in _COLS}

    def chunk_rows(self, chunks: Sequence[int]) -> dict[int, dict[str, np.ndarray]]:
        """The buffered actions of the accounts of each of ``chunks``, as columns ("actor" and the action arrays),
        in one pass over the buffer whatever the number of chunks."""
        c_all = self._all()
        chunk = c_all["actor"] >> CHUNK_SHIFT
        order = np.argsort(chunk, kind="stable")
        wanted = np.asarray(chunks, dtype=np.int64)
        lo = np.searchsorted(chunk[order], wanted, side="left")
        hi = np.searchsorted(chunk[order], wanted, side="right")
        return {c: {k: v[order[a:b]] for k, v in c_all.items()}
                for c, a, b in zip(wanted.tolist(), lo.tolist(), hi.tolist(), strict=True)}

    def load(self, rows: Iterable[Mapping[str, np.ndarray]]) -> None:
        """Rebuild the buffer from restored rows (see :meth:`PartitionCore.checkpoint`)."""
        for x in rows:
            n = x["actor"].shape[0]  # a column added since the checkpoint was written starts at zero
            self._append({"actor": x["actor"].astype(np.int64),
                          **{k: x[k] if k in x else np.zeros(n, dtype=ACTION_DTYPES[k]) for k in _COLS}})


_COLS = ACTION_ARRAYS
_ABUF_META = ("abuf_sources", "abuf_watermarks")



@dataclass(slots=True)
class StepResult:
    touched: np.ndarray  # dense ids whose state changed
    new_flags: list[tuple[int, str]]  # (dense id, flag kind) first raised in this batch
    applied: int
    duplicates: int
    kind_counts: np.ndarray  # valid events per kind code (duplicates included)
    max_ts: float
    pod_pairs: list[PairSummary]  # repeated early pairs this batch changed (for the pod graph)
    actions: ActionBatch  # the batch's likes, comments, follows and unfollows, for their actors' partitions


_ACTION_KINDS = np.asarray([_KIND_CODE[k] for k in ("like", "comment", "follow", "unfollow")], dtype=np.int8)
_ENGAGEMENT_KINDS = np.asarray([_KIND_CODE[k] for k in ("like", "comment", "follow")], dtype=np.int8)
_POST_KINDS = np.asarray([_KIND_CODE[k] for k in ("like", "comment")], dtype=np.int8)


@dataclass(frozen=True, slots=True)
class SourcesSnapshot:
    """The sources of an actors partition as last heard: watermark, and (position, idle) per source."""

    watermarks: dict[int, float]
    states: dict[int, tuple[int, bool]]

    def candidates(self) -> list[int]:
        """Sources that said they are idle: the broker must confirm it before they stop holding others back."""
        return sorted(s for s, (pos, idle) in self.states.items() if idle and pos >= 0)

    def idle(self, end_offsets: Mapping[int, int]) -> set[int]:
        """The candidates whose events partition ends at their position (nothing left for them to process)."""
        return {s for s in self.candidates() if s in end_offsets and end_offsets[s] <= self.states[s][0]}


@dataclass(frozen=True)
class CoreParams:
    rate: RateParams = RateParams()
    pods: PodParams = PodParams()
    bots: BotParams = BotParams()
    comments: CommentParams = CommentParams()
    purchases: PurchaseParams = PurchaseParams()
    dedup_capacity: int = 1 << 18


_SPIKE_OF = {"purchased_engagement": "engagement_spike", "purchased_followers": "follower_spike"}


def _with_spikes(flags: list[FlagRecord], spikes: list[FlagRecord]) -> list[FlagRecord]:
    """Purchase flags with the rate detector's spike of the same channel quoted as a further reason."""
    by_kind: dict[str, FlagRecord] = {s.kind: s for s in spikes}
    out = []
    for f in flags:
        spike = by_kind.get(_SPIKE_OF.get(f.kind, ""))
        if spike is not None:
            f = f.model_copy(update={"reasons": [*f.reasons, f"the rate: {spike.reasons[0]}"],
                                     "evidence": {**f.evidence, "rate_spike": spike.evidence}})
        out.append(f)
    return out


class PartitionCore:
    """Detector state of one source partition and the batch step over it."""

    def __init__(self, partition: int, params: CoreParams | None = None) -> None:
        self.partition = partition
        self.params = params or CoreParams()
        self.rate = EngagementRate(self.params.rate)
        self.bots = BotDetector(self.params.bots)
        self.audience = AudienceDetector()
        self.purchases = PurchaseDetector(self.params.purchases)
        self.detectors: tuple[Detector, ...] = (self.rate, self.bots, self.audience, self.purchases)
        self.table = AccountTable([d.spec for d in self.detectors])
        self.dedup = DedupFilter(self.params.dedup_capacity)
        self.action_dedup = DedupFilter(self.params.dedup_capacity)
        self.abuf = ActionBuffer(self.table.ids)
        self.awatermark = -np.inf  # min over source partitions of their newest event time (src_wm)
        self.src_wm: dict[int, float] = {}
        self.src_idle: dict[int, tuple[int, bool]] = {}  # per source: (position, idle) from its latest message
        self.max_event_ts = -np.inf  # newest event time processed on this partition (its source watermark)
        self.pod_edges = PodEdges(self.params.pods)
        self.comments = CopiedComments(self.params.comments)
        self.seen = SeenAccounts(self.params.purchases.seen_capacity)
        self.post_sketch = PostSketch(self.params.purchases)
        self.purchases.pstat = self.post_sketch.pstat  # one array, checkpointed with the sketch
        self._post_ids_saved = 0
        self.profile_model = ProfileModel.load()
        #: highest source offset reflected, per source topic (events, profiles, actions), restored ones included
        self.processed = np.full(N_TOPICS, -1, dtype=np.int64)
        #: highest source offset applied by this core since it was created or restored
        self.applied = np.full(N_TOPICS, -1, dtype=np.int64)
        #: flags first raised by the last step_profiles / step_actions call, as (dense id, kind)
        self.raised: list[tuple[int, str]] = []
        #: audience categories of other partitions' accounts (the worker's actor-quality feed); None: this
        #: core's own accounts are the whole world (offline replay)
        self.quality: QualityLookup | None = None
        #: accounts whose audience category changed in the last step: (account_id, hash, category code)
        self.category_changes: list[tuple[str, int, int]] = []
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._cp_version = 0  # checkpoints written (restored: the newest version read), tags buffered actions
        self._pieces: dict[int, list[str]] = {}  # checkpoint keys of each chunk's buffered actions, as written
        self._stale_pieces: list[str] = []  # keys to delete at the next checkpoint

    # --- the batch step ------------------------------------------------------------------------
    def step_events(self, events: Sequence[EngagementEvent], offsets: Sequence[int] | np.ndarray,
                    index_in_msg: Sequence[int] | np.ndarray | None = None) -> StepResult:
        """Apply events in order; ``offsets[i]`` is the source offset of event i's message."""
        n = len(events)
        if n == 0:
            return StepResult(np.zeros(0, dtype=np.int64), [], 0, 0, np.zeros(len(EVENT_KINDS), np.int64), -np.inf,
                              [], ActionBatch.empty())
        off = np.asarray(offsets, dtype=np.int64)
        # positions inside a message tell two copies of one event_id in the same message apart
        sub = np.asarray(index_in_msg if index_in_msg is not None else np.arange(n), dtype=np.int64)
        kind = np.fromiter((_KIND_CODE[e.kind] for e in events), dtype=np.int8, count=n)
        ts = np.fromiter((e.ts for e in events), dtype=np.float64, count=n)
        targets = [e.target_id for e in events]
        target = self.table.intern(targets)
        hashes = hash_ids([e.event_id for e in events])
        actors = [e.actor_id for e in events]
        # each id hashed once per batch: the audience samples, the pod pairs and the actions share them
        actor_h, target_h = hash_ids(actors), hash_ids(targets)
        pos = (off << POS_SHIFT) | sub
        keep = self.dedup.keep(hashes, pos)
        post_ids = [e.post_id for e in events]
        post_h = hash_ids([p or "" for p in post_ids])
        post_h[[i for i, p in enumerate(post_ids) if p is None]] = 0
        texted = [i for i in np.flatnonzero(keep).tolist() if events[i].text]
        sim = np.zeros(n, dtype=np.uint64)
        tflags = np.zeros(n, dtype=np.uint8)
        if texted:
            sim[texted], tflags[texted] = fingerprint_texts([events[i].text or "" for i in texted])
        engaging = keep & np.isin(kind, _ENGAGEMENT_KINDS)
        # the audience category of each actor as known now (its own partition publishes it: detectors.audience)
        suspicious = (self.quality or self).categories(actor_h) == SUSPICIOUS
        cols = EventColumns(kind=kind, ts=ts, target=target, offset=off, pos=pos, keep=keep, actor_h=actor_h,
                            post_h=post_h, suspicious=suspicious, new=self.seen.update(actor_h, pos, ts, engaging),
                            generic=(tflags & kb.TEXT_GENERIC) != 0,
                            post_score=self.post_sketch.score(post_h, ts, pos, keep & np.isin(kind, _POST_KINDS)))
        applied = keep & (off > self.table.chunk_off[TOPIC_EVENTS][target >> CHUNK_SHIFT])
        new_flags: list[tuple[int, str]] = []
        for det in self.detectors:
            mask = det.update(cols, self.table)
            for a in np.flatnonzero(mask):
                for bit, fk in enumerate(det.flag_kinds):
                    if mask[a] & (1 << bit):
                        new_flags.append((int(a), fk))
        # pairs are idempotent by source position, so replays need no chunk-offset test here
        pod_pairs = self.pod_edges.update(kind, ts, actors, targets, actor_h, target_h, post_ids, pos, keep)
        self._name_posts(target[keep], post_h, post_ids)
        self.max_event_ts = max(self.max_event_ts, float(ts.max()))
        actions = self._actions(kind, ts, actors, actor_h, target_h, hashes, keep, sim, tflags)
        self.applied[TOPIC_EVENTS] = max(int(self.applied[TOPIC_EVENTS]), int(off.max()))
        self.processed[TOPIC_EVENTS] = max(int(self.processed[TOPIC_EVENTS]), int(off.max()))
        return StepResult(np.unique(target[applied]), new_flags, int(applied.sum()), int((~keep).sum()),
                          np.bincount(kind, minlength=len(EVENT_KINDS)), float(ts.max()), pod_pairs, actions)

    def _name_posts(self, targets: np.ndarray, post_h: np.ndarray, post_ids: list[str | None]) -> None:
        """Remember the ids of the posts the purchase flags of ``targets`` name (the kernel keeps hashes)."""
        named = np.unique(self.purchases.evidence_posts(self.table, np.unique(targets)))
        want = [int(h) for h in named.tolist() if h and int(h) not in self.purchases.post_ids]
        for h in want:
            hit = np.flatnonzero(post_h == np.uint64(h))
            if len(hit):
                self.purchases.post_ids[h] = post_ids[int(hit[0])] or ""

    def _actions(self, kind: np.ndarray, ts: np.ndarray, actors: list[str], actor_h: np.ndarray,
                 target_h: np.ndarray, event_h: np.ndarray, keep: np.ndarray, sim: np.ndarray, tflags: np.ndarray
                 ) -> ActionBatch:
        """The kept likes, comments, follows and unfollows, as columns for the actors' partitions.

        Every kept event is forwarded, replays included: the actor side drops what it has seen by event id.
        """
        idx = np.flatnonzero(keep & np.isin(kind, _ACTION_KINDS))
        # the copies are counted on every kept event, replays included: a pair already counted changes nothing
        shared = self.comments.update(kind, actor_h, target_h, sim, tflags, ts, keep)
        return ActionBatch([actors[i] for i in idx.tolist()], ts[idx], kind[idx], target_h[idx], sim[idx],
                           tflags[idx], event_h[idx], shared[idx], self.partition, self.max_event_ts)

    def step_actions(self, batch: ActionBatch, offsets: Sequence[int] | np.ndarray,
                     index_in_msg: Sequence[int] | np.ndarray) -> np.ndarray:
        """Take actions of actors on this partition (from the actions topic); returns the touched accounts.

        An actor's actions come from every partition, interleaved in whatever order the workers forwarded them,
        while the pace of its actions must be read in event time. Each batch carries its source partition's
        watermark (the newest event time that partition has processed; sources send one, maybe empty, batch to
        every partition after each of their batches, and a heartbeat on every checkpoint). Actions wait in a
        buffer until every source (``bots.sources``) has been heard from and the oldest of their watermarks has
        passed them by ``bots.lateness_s``, and are applied in (time, event id) order; stragglers still count,
        without a gap. A source with no events for a while says so in its heartbeats (``idle``, with its
        ``position``); it stops holding the others back only through :meth:`release_idle`, once the broker has
        confirmed that it holds nothing the source has not processed. The buffer is part of the checkpoint, and
        buffering an action dirties its actor's chunk, so the chunk's covered offset includes it and a replay after
        a restore does not take it twice.
        """
        self.raised = []
        if len(batch):
            off = np.asarray(offsets, dtype=np.int64)
            actor = self.table.intern(batch.actors)
            keep = self.action_dedup.keep(batch.event_h,
                                          (off << POS_SHIFT) | np.asarray(index_in_msg, dtype=np.int64))
            take = np.flatnonzero(keep & (off > self.table.chunk_off[TOPIC_ACTIONS][actor >> CHUNK_SHIFT]))
            self.table.dirty[np.unique(actor[take] >> CHUNK_SHIFT)] = True
            self.abuf.append(actor[take], batch.take(take))
        if batch.watermark < np.inf:  # +inf: the idle mark of writers before `idle`, no news of progress
            self.src_wm[batch.source] = max(self.src_wm.get(batch.source, -np.inf), batch.watermark)
            self.src_idle[batch.source] = (batch.position, batch.idle)
            self._update_watermark()
        if len(batch):
            self.applied[TOPIC_ACTIONS] = max(int(self.applied[TOPIC_ACTIONS]), int(off.max()))
            self.processed[TOPIC_ACTIONS] = max(int(self.processed[TOPIC_ACTIONS]), int(off.max()))
        return self._release(self.awatermark - self.params.bots.lateness_s)

    def _update_watermark(self) -> None:
        # until every source has been heard from, one that has not could still send older actions
        heard = len(self.src_wm) >= self.params.bots.sources
        self.awatermark = min(self.src_wm.values()) if heard else -np.inf

    def sources_snapshot(self) -> SourcesSnapshot:
        """What the sources have said so far, for :meth:`release_idle`; taken *before* asking the broker."""
        return SourcesSnapshot(dict(self.src_wm), dict(self.src_idle))

    def release_idle(self, snap: SourcesSnapshot, end_offsets: Mapping[int, int]) -> np.ndarray:
        """Apply what the idle sources no longer hold back; returns the touched accounts.

        ``end_offsets`` are the events partitions' end offsets, read from the broker after ``snap`` was taken. A
        source is idle when its latest message said so and its partition ends at its position: it has processed
        everything written before the snapshot's watermarks were (events are written roughly in time order across
        partitions, up to ``bots.lateness_s``), so the others' watermarks in ``snap`` are safe to release up to.
        With every source idle, everything up to the newest watermark is applied. A source that sends events
        again holds the others back again: the next call sees it busy.
        """
        self.raised = []
        idle = snap.idle(end_offsets)
        if len(snap.watermarks) < self.params.bots.sources or not idle:
            return np.zeros(0, dtype=np.int64)
        busy = [wm for s, wm in snap.watermarks.items() if s not in idle]
        upto = min(busy) - self.params.bots.lateness_s if busy else max(snap.watermarks.values())
        return self._release(max(upto, self.awatermark - self.params.bots.lateness_s))

    def flush_actions(self) -> np.ndarray:
        """Apply every buffered action now (the end of a replay)."""
        self.raised = []
        return self._release(np.inf)

    def _release(self, upto: float) -> np.ndarray:
        actor, rows = self.abuf.pop_until(upto)
        if not len(actor):
            return np.zeros(0, dtype=np.int64)
        cols = ActionColumns(actor=actor, ts=rows["ts"], kind=rows["kind"], target_h=rows["target_h"],
                             sim=rows["sim"], tflags=rows["tflags"], shared=rows["shared"],
                             offset=np.zeros(len(actor), dtype=np.int64),
                             apply=np.ones(len(actor), dtype=np.bool_))
        mask = self.bots.update_actions(cols, self.table)
        self.raised += [(int(a), "bot") for a in np.flatnonzero(mask)]
        touched = np.unique(actor)
        self._categorize(touched)
        return touched

    def step_profiles(self, profiles: Sequence[ProfileSnapshot], offsets: Sequence[int] | np.ndarray
                      ) -> np.ndarray:
        n = len(profiles)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        self.raised = []
        off = np.asarray(offsets, dtype=np.int64)
        cols = ProfileColumns(
            ts=np.fromiter((p.ts for p in profiles), dtype=np.float64, count=n),
            account=self.table.intern([p.account_id for p in profiles]),
            followers=np.fromiter((p.followers for p in profiles), dtype=np.int64, count=n),
            offset=off, fake=self.profile_model.score(columns_from_snapshots(profiles)),
            following=np.fromiter((p.following for p in profiles), dtype=np.int64, count=n))
        for det in self.detectors:
            mask = det.update_profiles(cols, self.table)
            if mask is not None:
                self.raised += [(int(a), fk) for a in np.flatnonzero(mask) for fk in det.flag_kinds]
        self.applied[TOPIC_PROFILES] = max(int(self.applied[TOPIC_PROFILES]), int(off.max()))
        self.processed[TOPIC_PROFILES] = max(int(self.processed[TOPIC_PROFILES]), int(off.max()))
        touched = np.unique(cols.account)
        self._categorize(touched)
        return touched

    # --- audience categories -------------------------------------------------------------------
    def categories_of(self, accounts: np.ndarray) -> np.ndarray:
        """Audience category code of this partition's accounts (detectors.audience.CATEGORIES)."""
        fb, ib = self.table.F[self.bots.name], self.table.I[self.bots.name]
        followers = self.table.I[self.rate.name][self.rate.followers_col, accounts]
        return category_codes(ib[kb.FLAGGED, accounts] != 0, fb[kb.PROFILE_FAKE, accounts],
                              fb[kb.PROFILE_FOLLOWING, accounts], followers)

    def _categorize(self, accounts: np.ndarray) -> None:
        """Record category changes of ``accounts`` (for the actor-quality topic)."""
        self.category_changes = []
        if not len(accounts):
            return
        now = self.categories_of(accounts)
        stored = self.table.I[self.bots.name][kb.CATEGORY]
        changed = accounts[now != stored[accounts]]
        if len(changed):
            codes = now[now != stored[accounts]]
            stored[changed] = codes
            self.table.dirty[np.unique(changed >> CHUNK_SHIFT)] = True
            ids = [self.table.ids[a] for a in changed.tolist()]
            self.category_changes = [(i, int(h), int(c)) for i, h, c in zip(ids, hash_ids(ids).tolist(),
                                                                              codes.tolist(), strict=True)]

    def categories(self, hashes: np.ndarray) -> np.ndarray:
        """:class:`detectors.audience.QualityLookup` over this core's own accounts."""
        n = len(self.table)
        if self._hashes.shape[0] < n:
            self._hashes = np.concatenate([self._hashes, hash_ids(self.table.ids[self._hashes.shape[0] : n])])
            self._order = np.argsort(self._hashes)
        out = np.zeros(hashes.shape[0], dtype=np.int8)
        if n == 0 or not len(hashes):
            return out
        sorted_h = self._hashes[self._order]
        pos = np.minimum(np.searchsorted(sorted_h, hashes), n - 1)
        hit = sorted_h[pos] == hashes
        out[hit] = self.categories_of(self._order[pos[hit]])
        return out

    # --- reading results -----------------------------------------------------------------------
    def score(self, a: int) -> ScoreRecord:
        flags = [f for det in self.detectors for f in det.flags(self.table, a)]
        if any(f.kind.startswith("purchased_") for f in flags):
            flags = _with_spikes(flags, self.rate.spikes(self.table, a))
        counts: dict[str, int] = {}
        for det in self.detectors:
            counts.update(det.counts(self.table, a))
        last = self.rate.last_ts(self.table, a)
        audience = self.audience.audience(self.table, a, self.quality or self)
        lost = deductions(flags, audience)
        return ScoreRecord(
            account_id=self.table.ids[a], authenticity=authenticity_of(lost), deductions=lost,
            flags=flags, counts=counts, followers=self.rate.followers(self.table, a),
            updated_at=last if np.isfinite(last) else 0.0, partition=self.partition,
            offset=int(self.processed[TOPIC_EVENTS]), audience=audience)

    def scores(self, accounts: Iterable[int]) -> list[ScoreRecord]:
        return [self.score(int(a)) for a in accounts]

    def all_accounts(self) -> range:
        return range(len(self.table))

    # --- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> list[tuple[str, bytes | None]]:
        """Serialize what changed since the last checkpoint as (key, value) pairs; a value None deletes the key.

        Account chunks come first in ascending order (each just after the pieces of its buffered actions), so a
        checkpoint cut short by a crash leaves only the newest chunks missing; every chunk carries the offsets it
        covers. Deletions of superseded pieces come before everything.
        """
        # `applied`, not `processed`: after a restore from a checkpoint cut short, some chunks are ahead of
        # the others, and replay must not stamp the others with the newer offset (dump_chunk takes the max)
        covered = tuple(int(x) for x in self.applied)
        dirty = self.table.dirty_chunks()
        # buffered actions of a chunk superseded by a chunk record already written (the producer is flushed
        # between checkpoints) are deleted now
        out: list[tuple[str, bytes | None]] = [(key, None) for key in self._stale_pieces]
        self._stale_pieces = []
        self._cp_version += 1
        for c, rows in self.abuf.chunk_rows(dirty).items():
            # a chunk's buffered actions go in pieces *before* the chunk, under keys of this checkpoint's version:
            # a chunk record (and the offsets it covers) is only ever read with exactly the actions it had taken
            # but not applied, so a checkpoint cut short anywhere loses none and applies none twice
            n = rows["actor"].shape[0]
            keys = [f"abuf:{c:08d}:{self._cp_version:012d}:{j:06d}" for j in range((n + ABUF_PIECE - 1) // ABUF_PIECE)]
            for j, key in enumerate(keys):
                out.append((key, npz_bytes(**{k: v[j * ABUF_PIECE : (j + 1) * ABUF_PIECE] for k, v in rows.items()})))
            extra = {"abuf_version": np.asarray([self._cp_version]), "abuf_pieces": np.asarray([len(keys)]),
                     "abuf_sources": np.asarray(list(self.src_wm), dtype=np.int64),
                     "abuf_watermarks": np.asarray(list(self.src_wm.values()), dtype=np.float64)}
            out.append((f"acct:{c:08d}", self.table.dump_chunk(c, covered, extra)))
            self._stale_pieces += self._pieces.get(c, [])
            self._pieces[c] = keys
        out += [(f"dedup:{s:06d}", self.dedup.dump_segment(s)) for s in self.dedup.dirty_segments()]
        out += [(f"adedup:{s:06d}", self.action_dedup.dump_segment(s)) for s in self.action_dedup.dirty_segments()]
        out += self.pod_edges.checkpoint()
        out += self.comments.checkpoint()
        out += self.seen.checkpoint()
        out += self.post_sketch.checkpoint()
        if len(self.purchases.post_ids) != self._post_ids_saved:
            self._post_ids_saved = len(self.purchases.post_ids)
            out.append(("pposts", orjson.dumps({str(h): p for h, p in self.purchases.post_ids.items()})))
        self.dedup.mark_saved()
        self.action_dedup.mark_saved()
        return out

    def _restore_buffer(self, extras: Mapping[int, Mapping[str, np.ndarray]], blobs: Mapping[str, bytes]) -> None:
        """The buffered actions of each restored chunk (the pieces of its version) and the sources' watermarks;
        pieces of other versions (superseded, or of a checkpoint cut short) are deleted at the next checkpoint."""
        rows: list[dict[str, np.ndarray]] = []
        for c in sorted(extras):
            x = extras[c]
            if "abuf_actor" in x:  # written before the actions went in pieces of their own
                rows.append({k[5:]: v for k, v in x.items() if k.startswith("abuf_") and k not in _ABUF_META})
            elif "abuf_version" in x:
                version = int(x["abuf_version"][0])
                self._cp_version = max(self._cp_version, version)
                keys = [f"abuf:{c:08d}:{version:012d}:{j:06d}" for j in range(int(x["abuf_pieces"][0]))]
                missing = [key for key in keys if key not in blobs]
                if missing:
                    raise RuntimeError(f"checkpoint records {missing} of chunk {c} are missing")
                rows += [npz_arrays(blobs[key]) for key in keys]
                self._pieces[c] = keys
            if "abuf_sources" in x:
                for src, wm in zip(x["abuf_sources"].tolist(), x["abuf_watermarks"].tolist(), strict=True):
                    if wm < np.inf:  # +inf: an idle mark of checkpoints before `idle` (heard of again soon)
                        self.src_wm[src] = max(self.src_wm.get(src, -np.inf), wm)
        live = {key for keys in self._pieces.values() for key in keys}
        self._stale_pieces = sorted(k for k in blobs if k.startswith("abuf:") and k not in live)
        self.abuf.load(rows)

    @classmethod
    def restore(cls, partition: int, blobs: Mapping[str, bytes | None], params: CoreParams | None = None
                ) -> PartitionCore:
        core = cls(partition, params)
        live = {k: v for k, v in blobs.items() if v is not None}  # None: a deleted key
        extras = core.table.load_chunks(v for k, v in live.items() if k.startswith("acct:"))
        core._restore_buffer(extras, live)
        core._update_watermark()
        core.dedup.load_segments(v for k, v in live.items() if k.startswith("dedup:"))
        core.action_dedup.load_segments(v for k, v in live.items() if k.startswith("adedup:"))
        core.pod_edges.restore(live)
        core.comments.restore(live)
        core.seen.restore(live)
        core.post_sketch.restore(live)
        if "pposts" in live:
            core.purchases.post_ids = {int(h): p for h, p in orjson.loads(live["pposts"]).items()}
            core._post_ids_saved = len(core.purchases.post_ids)
        if len(core.table):
            core.processed[:] = core.table.chunk_off[:, : core.table.n_chunks_used()].max(axis=1)
        return core
