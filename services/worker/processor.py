"""Turns raw Kafka messages into core batch steps and output records; no broker code here.

The Faust agent (:mod:`services.worker.app`) and the tests drive it with :class:`InMessage` lists.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.audience import CATEGORIES, GlobalQuality
from detectors.bots import BotParams, partitions_of
from detectors.core import CoreParams, PartitionCore, SourcesSnapshot
from detectors.engagement import RateParams
from detectors.pods import PodParams
from detectors.purchases import PurchaseParams
from detectors.state import TOPIC_EVENTS
from schemas.actions import ActionBatch, decode_actions
from schemas.codec import DecodeError, decode_events, decode_profiles
from schemas.wire import (
    EVENT_KINDS,
    ActorQuality,
    Alert,
    DeadLetter,
    EngagementEvent,
    PairSummary,
    ProfileSnapshot,
    ScoreRecord,
)
from services import metrics
from services.settings import Settings

#: Actions per message on the actions topic (~50 bytes each), so a message stays far below Kafka's 1 MB limit.
ACTIONS_PER_MESSAGE = 10_000


@dataclass(frozen=True, slots=True)
class InMessage:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(slots=True)
class Outputs:
    scores: dict[int, list[ScoreRecord]] = field(default_factory=dict)  # by partition
    alerts: dict[int, list[Alert]] = field(default_factory=dict)  # by partition
    dead: list[DeadLetter] = field(default_factory=list)
    pod_pairs: list[PairSummary] = field(default_factory=list)  # for the pod-edges topic
    actions: dict[int, list[ActionBatch]] = field(default_factory=dict)  # for the actions topic, by partition
    quality: dict[int, list[ActorQuality]] = field(default_factory=dict)  # category changes, by partition
    n_events: int = 0  # valid events and profile snapshots in the batch


def core_params(settings: Settings) -> CoreParams:
    return CoreParams(
        rate=RateParams(window_s=settings.window_s,
                        baseline_halflife_windows=settings.baseline_halflife_windows,
                        warmup_windows=settings.warmup_windows, min_count=settings.spike_min_count,
                        ratio=settings.spike_ratio, z=settings.spike_z),
        bots=BotParams(sources=settings.partitions),
        pods=PodParams(early_s=settings.pod_early_s, pair_capacity=settings.pod_pair_capacity,
                       post_capacity=settings.pod_post_capacity, min_size=settings.pod_min_size,
                       link_share=settings.pod_link_share),
        purchases=PurchaseParams(burst_chi2=settings.purchase_burst_chi2, burst_g=settings.purchase_burst_g,
                                 slow_g=settings.purchase_slow_g, slow_halflife_s=settings.purchase_slow_halflife_s,
                                 seen_capacity=settings.purchase_seen_capacity),
        dedup_capacity=settings.dedup_capacity)


def _pieces(actions: ActionBatch, idx: np.ndarray, before: float) -> list[ActionBatch]:
    """The actions ``idx`` of a batch in messages of at most ACTIONS_PER_MESSAGE (one, maybe empty, at least):
    only the last carries the batch's watermark, the others the watermark from before the batch, so the actor
    side never releases an action ahead of one still in a later piece."""
    out = [actions.take(idx[lo : lo + ACTIONS_PER_MESSAGE]) for lo in range(0, max(1, len(idx)), ACTIONS_PER_MESSAGE)]
    return [dataclasses.replace(b, watermark=before) for b in out[:-1]] + out[-1:]


def dead_letter(err: DecodeError, msg: InMessage, keep_bytes: int) -> DeadLetter:
    kept = err.original[:keep_bytes]
    return DeadLetter(reason=err.reason, detail=err.detail, source_topic=msg.topic,
                      source_partition=msg.partition, source_offset=msg.offset, index=err.index,
                      original_b64=base64.b64encode(kept).decode(), original_size=len(err.original),
                      original_sha256=hashlib.sha256(err.original).hexdigest(),
                      truncated=len(kept) < len(err.original), received_at=time.time())


class BatchProcessor:
    """Per-partition cores, the batch step over raw messages, and checkpoint cuts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.params = core_params(settings)
        self.events_topic = settings.topic("events")
        self.profiles_topic = settings.topic("profiles")
        self.actions_topic = settings.topic("actions")
        self.cores: dict[int, PartitionCore] = {}
        self.last_events: dict[int, float] = {}  # wall time of the last events batch per owned partition
        self.first_owned: dict[int, float] = {}  # wall time a partition was first seen owned here
        self.positions: dict[int, int] = {}  # next events offset to process, per owned partition
        #: audience categories of every partition's accounts (the actor-quality topic), for scoring creators
        self.quality = GlobalQuality()

    def install(self, partition: int, blobs: dict[str, bytes]) -> PartitionCore:
        core = PartitionCore.restore(partition, blobs, self.params)
        core.quality = self.quality
        self.cores[partition] = core
        self.positions[partition] = int(core.processed[TOPIC_EVENTS]) + 1
        metrics.ACCOUNTS_TRACKED.labels(str(partition)).set(len(core.table))
        return core

    def revoke(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self.cores.pop(p, None)
            self.last_events.pop(p, None)
            self.first_owned.pop(p, None)
            self.positions.pop(p, None)

    def process(self, msgs: Sequence[InMessage]) -> Outputs:
        """Decode, validate and apply messages (every partition must be installed)."""
        out = Outputs()
        limit = self.settings.max_message_bytes
        max_ts = time.time() + self.settings.max_future_skew_s
        ev: dict[int, tuple[list[EngagementEvent], list[int], list[int]]] = defaultdict(lambda: ([], [], []))
        pr: dict[int, tuple[list[ProfileSnapshot], list[int]]] = defaultdict(lambda: ([], []))
        ac: dict[int, list[tuple[ActionBatch, int]]] = defaultdict(list)
        for m in msgs:
            if m.topic == self.actions_topic:
                try:
                    ac[m.partition].append((decode_actions(m.value), m.offset))
                except ValueError as exc:  # internal topic: only a foreign writer can put this here
                    err = DecodeError("not_actions", str(exc), None, m.value or b"")
                    out.dead.append(dead_letter(err, m, self.settings.dlq_max_original_bytes))
                    metrics.DLQ_MESSAGES.labels(err.reason).inc()
                continue
            if m.topic == self.profiles_topic:
                res_p = decode_profiles(m.value, limit)
                items_p, offs_p = pr[m.partition]
                items_p.extend(res_p.items)
                offs_p.extend([m.offset] * len(res_p.items))
                out.n_events += len(res_p.items)
                errors = res_p.errors
            else:
                # every events message counts for the position, an unreadable one too (it went to the DLQ)
                self.positions[m.partition] = max(self.positions.get(m.partition, 0), m.offset + 1)
                res_e = decode_events(m.value, limit, max_ts)
                items, offs, subs = ev[m.partition]
                items.extend(res_e.items)
                offs.extend([m.offset] * len(res_e.items))
                subs.extend(range(len(res_e.items)))
                out.n_events += len(res_e.items)
                errors = res_e.errors
            for err in errors:
                out.dead.append(dead_letter(err, m, self.settings.dlq_max_original_bytes))
                metrics.DLQ_MESSAGES.labels(err.reason).inc()
        now = time.time()
        # the profiles of every partition first: the engagers of this batch's events are judged by their categories
        # (detectors.purchases), whichever partition they live on
        touched_by: dict[int, list[np.ndarray]] = defaultdict(list)
        for p in sorted(pr):
            touched_by[p].append(self.cores[p].step_profiles(*pr[p]))
            self._raised(self.cores[p], p, out)
        for p in sorted(set(ev) | set(pr) | set(ac)):
            core = self.cores[p]
            touched = touched_by[p]
            if p in ev:
                items, offs, subs = ev[p]
                before = core.max_event_ts
                res = core.step_events(items, offs, subs)
                self.last_events[p] = time.monotonic()
                touched.append(res.touched)
                out.pod_pairs.extend(res.pod_pairs)
                # every partition hears from this one (its actions, or just its watermark), so actors' actions
                # can be put back in event-time order there
                dest = partitions_of(res.actions.actors, self.settings.partitions)
                for q in range(self.settings.partitions if self.settings.stream_actions else 0):
                    out.actions.setdefault(q, []).extend(_pieces(res.actions, np.flatnonzero(dest == q), before))
                if self.settings.stream_actions:
                    metrics.ACTIONS_FORWARDED.inc(len(res.actions))
                if res.duplicates:
                    metrics.DUPLICATES.inc(res.duplicates)
                for kname, n in zip(EVENT_KINDS, res.kind_counts, strict=True):
                    if n:
                        metrics.EVENTS_CONSUMED.labels(kname).inc(int(n))
                metrics.EVENT_TIME_LAG.labels(str(p)).set(now - res.max_ts)
                for a, kind in res.new_flags:
                    out.alerts.setdefault(p, []).extend(self._alert(core, a, kind))
                    metrics.FLAGS_RAISED.labels(kind).inc()
            for batch, offset in ac.get(p, []):
                touched.append(core.step_actions(batch, np.full(len(batch), offset, dtype=np.int64),
                                                 np.arange(len(batch))))
                self._raised(core, p, out)
            if p in pr:
                metrics.PROFILES_CONSUMED.inc(len(pr[p][0]))
            accounts = np.unique(np.concatenate(touched)) if touched else np.zeros(0, dtype=np.int64)
            out.scores[p] = core.scores(accounts)
            metrics.ACCOUNTS_TRACKED.labels(str(p)).set(len(core.table))
            metrics.ACTIONS_BUFFERED.labels(str(p)).set(len(core.abuf))
        return out

    def _raised(self, core: PartitionCore, p: int, out: Outputs) -> None:
        """Alerts for flags the core raised outside the events step (profiles, actions), and the category
        changes of its accounts."""
        for account, h, code in core.category_changes:
            rec = ActorQuality(account_id=account, account_hash=h - (1 << 64) if h >= 1 << 63 else h,
                               category=CATEGORIES[code])
            out.quality.setdefault(p, []).append(rec)
            self.quality.update(rec.account_hash, rec.category)  # this worker's own accounts, at once
        for a, kind in core.raised:
            out.alerts.setdefault(p, []).extend(self._alert(core, a, kind))
            metrics.FLAGS_RAISED.labels(kind).inc()

    @staticmethod
    def _alert(core: PartitionCore, a: int, kind: str) -> list[Alert]:
        score = core.score(a)
        return [Alert(alert_id=f"{score.account_id}:{f.kind}:{f.first_ts:.3f}", account_id=score.account_id,
                      flag=f, authenticity=score.authenticity, raised_at=f.first_ts)
                for f in score.flags if f.kind == kind]

    def refresh_audience(self) -> Outputs:
        """Scores of the creators whose audience samples hold accounts whose category changed since the last
        call (on any partition: the actor-quality feed and this worker's own changes)."""
        out = Outputs()
        changed = self.quality.take_changed()
        if len(changed):
            for p, core in self.cores.items():
                accounts = core.audience.sampling(core.table, changed)
                if len(accounts):
                    out.scores[p] = core.scores(accounts)
        return out

    def heartbeats(self, owned: Sequence[int], idle_after_s: float) -> dict[int, list[ActionBatch]]:
        """Watermarks of the owned partitions for every partition (empty action batches), so that actors'
        partitions can apply actions in event-time order. Each carries the partition's position; one without
        events for ``idle_after_s`` wall seconds (since its last events, or since it was first owned here) says it
        is idle, and stops holding the others back once the broker confirms it has nothing more
        (:meth:`release_idle`)."""
        now = time.monotonic()
        out: dict[int, list[ActionBatch]] = {}
        for p in owned if self.settings.stream_actions else ():
            since = self.last_events.get(p, self.first_owned.setdefault(p, now))
            core = self.cores.get(p)
            if core is None:
                continue  # just assigned, nothing restored yet: not heard from (it holds the others back)
            beat = dataclasses.replace(ActionBatch.empty(), source=p, watermark=core.max_event_ts,
                                       position=self.positions.get(p, -1), idle=now - since >= idle_after_s)
            for q in range(self.settings.partitions):
                out.setdefault(q, []).append(beat)
        return out

    def idle_snapshots(self) -> dict[int, tuple[PartitionCore, SourcesSnapshot]]:
        """Per owned partition holding buffered actions, what its sources said, where some said they are idle."""
        out = {}
        for p, core in self.cores.items():
            if len(core.abuf):
                snap = core.sources_snapshot()
                if snap.candidates():
                    out[p] = (core, snap)
        return out

    def release_idle(self, snaps: Mapping[int, tuple[PartitionCore, SourcesSnapshot]],
                     end_offsets: Mapping[int, int]) -> Outputs:
        """Apply the actions that confirmed idle sources no longer hold back (``end_offsets`` read from the
        broker after the snapshots were taken); a partition revoked meanwhile is skipped."""
        out = Outputs()
        for p, (core, snap) in snaps.items():
            if self.cores.get(p) is not core:
                continue
            touched = core.release_idle(snap, end_offsets)
            self._raised(core, p, out)
            if len(touched):
                out.scores[p] = core.scores(touched)
            metrics.ACTIONS_BUFFERED.labels(str(p)).set(len(core.abuf))
        return out

    def checkpoint(self) -> dict[int, list[tuple[str, bytes | None]]]:
        """What changed since the last checkpoint, per partition, in write order (None: delete the key)."""
        return {p: core.checkpoint() for p, core in self.cores.items()}
