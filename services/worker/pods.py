"""The pod graph stage of the worker: one consumer of the ``pod-edges`` topic for the whole cluster.

Every partition's core publishes :class:`schemas.wire.PairSummary` records (key ``actor\\x00target``) to the
single-partition ``pod-edges`` topic; whichever worker Faust assigns that partition runs
:class:`detectors.pods.PodGraph` over them and publishes pods (``pods`` topic, key ``pod_id``) and an alert per
new member. Summaries are absolute and the graph keeps the strongest per pair, so the graph's state is the
topic itself: on assignment the stage reads it to the end (the newest record per key, as compaction keeps),
and it reads the ``pods`` topic to know what it published before, so a restart republishes nothing new and
retires exactly the pods that no longer hold. Events processed twice change nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from pydantic import ValidationError

from detectors.pods import PodGraph, PodParams, pod_flag
from detectors.scoring import authenticity
from schemas.wire import Alert, PairSummary, PodRecord
from services import metrics
from services.settings import Settings
from services.worker.checkpoint import read_partition

log = logging.getLogger("trustream.pods")

#: Wall seconds between two searches for pods while summaries keep arriving.
REFRESH_INTERVAL_S = 1.0


def pair_key(s: PairSummary) -> bytes:
    return f"{s.actor_id}\x00{s.target_id}".encode()


class PodStage:
    """Pod graph, its recovery from the topics, and what it publishes."""

    def __init__(self, settings: Settings, params: PodParams, pods_topic: Any, alerts_topic: Any) -> None:
        self.settings = settings
        self.params = params
        self.graph = PodGraph(params)
        self.pods_topic = pods_topic
        self.alerts_topic = alerts_topic
        self.client_kwargs = settings.kafka_client_kwargs()
        self.restored = False
        self.last_refresh = 0.0
        self.bad = 0
        self._lock = asyncio.Lock()

    async def ensure_restored(self) -> None:
        """Rebuild the graph once after each assignment, then publish what changed while nobody owned it."""
        async with self._lock:
            if not self.restored:
                await self.restore()
                self.refresh()

    async def restore(self) -> None:
        t0 = time.perf_counter()
        graph = PodGraph(self.params)
        edges = await read_partition(self.client_kwargs, self.settings.topic("pod-edges"), 0)
        graph.apply(self._decode(v) for v in edges.values())
        published = await read_partition(self.client_kwargs, self.settings.topic("pods"), 0)
        for value in published.values():
            try:
                pod = PodRecord.model_validate_json(value)
            except ValidationError:
                continue
            if pod.active:
                graph.pods[pod.pod_id] = pod
        graph.dirty = True
        self.graph = graph
        self.restored = True
        log.info("pod graph restored: %d pairs, %d published pods, %.2fs", len(graph.pairs), len(graph.pods),
                 time.perf_counter() - t0)

    def _decode(self, value: bytes | None) -> PairSummary:
        return PairSummary.model_validate_json(value or b"null")

    async def handle(self, values: list[bytes | None]) -> None:
        await self.ensure_restored()
        summaries = []
        for v in values:
            try:
                summaries.append(self._decode(v))
            except ValidationError as exc:  # not ours: count and skip (the topic is internal)
                self.bad += 1
                log.warning("unreadable pair summary skipped: %s", exc)
        self.graph.apply(summaries)
        metrics.POD_GRAPH_PAIRS.set(len(self.graph.pairs))
        if time.monotonic() - self.last_refresh >= REFRESH_INTERVAL_S:
            self.refresh()

    def refresh(self) -> None:
        """Find the pods if the graph changed, and publish the differences."""
        if not self.restored or not self.graph.dirty:
            return
        t0 = time.perf_counter()
        before = {pid: set(p.members) for pid, p in self.graph.pods.items()}
        changed, retired = self.graph.refresh()
        self.last_refresh = time.monotonic()
        metrics.POD_REFRESH_SECONDS.observe(time.perf_counter() - t0)
        metrics.PODS_ACTIVE.set(len(self.graph.pods))
        old_members = set().union(*before.values()) if before else set()
        for pod in (*retired, *changed):
            self.pods_topic.send_soon(key=pod.pod_id.encode(), value=pod.model_dump_json().encode(), partition=0)
        for pod in changed:
            for m in pod.members:
                if m in old_members:
                    continue
                flag = pod_flag(pod, m, [p for p in self.graph.pods.values() if m in p.members])
                # the alert's authenticity counts the pod flag alone; the API serves the account's full score
                alert = Alert(alert_id=f"{m}:pod:{flag.first_ts:.3f}", account_id=m, flag=flag,
                              authenticity=authenticity([flag]), raised_at=flag.first_ts)
                self.alerts_topic.send_soon(key=m.encode(), value=alert.model_dump_json().encode(), partition=0)
                metrics.FLAGS_RAISED.labels("pod").inc()
        if changed or retired:
            log.info("pods: %d new or changed, %d retired, %d active", len(changed), len(retired),
                     len(self.graph.pods))


def encode_pairs(pairs: list[PairSummary]) -> list[tuple[bytes, bytes]]:
    return [(pair_key(s), orjson.dumps(s.model_dump(mode="json"))) for s in pairs]
