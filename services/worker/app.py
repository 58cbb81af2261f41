"""The Faust app: one agent over the events and profiles topics, feeding batches to the core.

Faust keeps the consumer group, partition assignment, offsets and delivery; per-account state
lives in numpy arrays inside :class:`services.worker.processor.BatchProcessor`, checkpointed to a
Kafka topic (:mod:`services.worker.checkpoint`). Events are acked only once a checkpoint covers
them, so the committed offset never passes the restored state.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import logging
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import faust
import orjson
from faust.exceptions import ConsumerNotStarted
from faust.types import TP

from schemas.actions import encode_actions
from services import metrics
from services.settings import Settings
from services.topics import checkpoint_topic
from services.worker.checkpoint import read_partition
from services.worker.pods import REFRESH_INTERVAL_S, PodStage, encode_pairs
from services.worker.processor import BatchProcessor, InMessage, Outputs
from services.worker.quality import QualityFeed

log = logging.getLogger("trustream.worker")

#: Score records per message on the scores topic.
SCORES_PER_MESSAGE = 500


def _credentials(settings: Settings) -> Any:
    if settings.sasl_mechanism:
        kw: dict[str, Any] = settings.kafka_client_kwargs()
        return faust.SASLCredentials(username=settings.sasl_username,
                                     password=kw["sasl_plain_password"], mechanism=settings.sasl_mechanism,
                                     ssl_context=kw.get("ssl_context"))
    if settings.security_protocol == "SSL":
        ctx: Any = settings.kafka_client_kwargs()["ssl_context"]
        return faust.SSLCredentials(ctx)
    return None


class WorkerRuntime:
    """State and output side of the agent: cores, held acks, checkpoints, producers."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.proc = BatchProcessor(settings)
        self.held: dict[int, list[Any]] = defaultdict(list)
        self.stream: Any = None
        self.client_kwargs = settings.kafka_client_kwargs()
        def raw_topic(name: str) -> Any:
            return app.topic(name, key_serializer="raw", value_serializer="raw")

        self.scores_topic = raw_topic(settings.topic("scores"))
        self.alerts_topic = raw_topic(settings.topic("alerts"))
        self.dlq_topic = raw_topic(settings.topic("dlq"))
        self.cp_topic = raw_topic(checkpoint_topic(settings))
        self.pod_edges_topic = raw_topic(settings.topic("pod-edges"))
        self.pods = PodStage(settings, self.proc.params.pods, raw_topic(settings.topic("pods")), self.alerts_topic)
        self.pods_task: asyncio.Future[None] | None = None
        self.last_offset: dict[tuple[str, int], int] = {}
        self.source_topics = {settings.topic("events"), settings.topic("profiles"), settings.topic("actions")}
        self.actions_topic = raw_topic(settings.topic("actions"))
        self.quality_topic = raw_topic(settings.topic("actor-quality"))
        self.quality_feed = QualityFeed(settings, self.proc.quality)
        # a batch's outputs and the checkpoint covering it must not interleave (see checkpoint)
        self._lock = asyncio.Lock()

    def owned(self) -> set[int] | None:
        """Partitions this worker is assigned now; None when no consumer runs (Faust's test context)."""
        try:
            tps = self.app.consumer.assignment()
        except ConsumerNotStarted:
            return None
        return {tp.partition for tp in tps if tp.topic in self.source_topics}

    def _keep_owned(self, events: list[Any]) -> list[Any]:
        """Events still buffered for a partition revoked meanwhile belong to its new owner: drop them
        (unacked, so never committed here) and that partition's state, so no checkpoint is written for it."""
        owned = self.owned()
        if owned is None:
            return events
        self.revoke(set(self.proc.cores) - owned)
        return [e for e in events if e.message.partition in owned]

    async def handle(self, events: list[Any]) -> None:
        # engagers are judged by the categories of the actor-quality topic: read it to its end first
        await self.quality_feed.ready.wait()
        async with self._lock:
            await self._handle(events)

    async def _handle(self, events: list[Any]) -> None:
        while True:  # a rebalance may revoke (and give back) partitions while we restore others
            events = self._keep_owned(events)
            missing = sorted({e.message.partition for e in events} - self.proc.cores.keys())
            if not missing:
                break
            for p in missing:
                t0 = time.perf_counter()
                blobs = await read_partition(self.client_kwargs, self.cp_topic.get_topic_name(), p)
                core = self.proc.install(p, blobs)
                metrics.RESTORES.inc()
                log.info("partition %d restored: %d accounts, %d checkpoint records, offsets %s, %.2fs",
                         p, len(core.table), len(blobs), core.processed.tolist(), time.perf_counter() - t0)
        msgs = [InMessage(e.message.topic, e.message.partition, e.message.offset, e.message.value)
                for e in events]
        t0 = time.perf_counter()
        out = self.proc.process(msgs)
        for e in events:
            self.held[e.message.partition].append(e)
        self._send(out)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - t0)
        metrics.BATCH_EVENTS.observe(out.n_events)
        metrics.BATCH_MESSAGES.observe(len(msgs))
        for m in msgs:
            self.last_offset[(m.topic, m.partition)] = m.offset
        self._update_lag()

    def _send(self, out: Outputs) -> None:
        for p, records in out.scores.items():
            for i in range(0, len(records), SCORES_PER_MESSAGE):
                chunk = records[i : i + SCORES_PER_MESSAGE]
                value = orjson.dumps([r.model_dump(mode="json") for r in chunk])
                self.scores_topic.send_soon(key=None, value=value, partition=p)
        # explicit partitions everywhere: alerts follow their source partition, the DLQ has one
        for p, alerts in out.alerts.items():
            for a in alerts:
                self.alerts_topic.send_soon(key=a.account_id.encode(), value=a.model_dump_json().encode(),
                                            partition=p)
        # one partition: the pod graph spans every partition (services.worker.pods)
        for key, value in encode_pairs(out.pod_pairs):
            self.pod_edges_topic.send_soon(key=key, value=value, partition=0)
        metrics.POD_PAIRS.inc(len(out.pod_pairs))
        for p, recs in out.quality.items():
            for q in recs:
                self.quality_topic.send_soon(key=q.account_id.encode(), value=q.model_dump_json().encode(),
                                             partition=p)
        # each actor's actions to the partition of the actor (explicit: the same murmur2 Kafka would use)
        for p, batches in out.actions.items():
            for batch in batches:
                self.actions_topic.send_soon(key=None, value=encode_actions(batch), partition=p)
        for d in out.dead:
            key = f"{d.source_topic}/{d.source_partition}/{d.source_offset}".encode()
            self.dlq_topic.send_soon(key=key, value=d.model_dump_json().encode(), partition=0)

    async def refresh_audience(self) -> None:
        """Re-score the creators whose audience changed with other accounts' categories (a timer)."""
        async with self._lock:
            t0 = time.perf_counter()
            out = self.proc.refresh_audience()
            self._send(out)
            n = sum(len(v) for v in out.scores.values())
            if n:
                metrics.AUDIENCE_REFRESHED.inc(n)
                log.debug("audience of %d creators re-scored in %.3fs", n, time.perf_counter() - t0)

    def _update_lag(self) -> None:
        consumer = self.app.consumer
        for (topic, p), off in self.last_offset.items():
            try:
                hw = consumer.highwater(TP(topic, p))
            except Exception:  # noqa: BLE001, S112 - lag is best effort during rebalances
                continue
            if hw is not None:
                metrics.CONSUMER_LAG.labels(topic, str(p)).set(max(0, hw - off - 1))

    async def checkpoint(self) -> None:
        """Write what changed, flush it, then ack the events it covers (Faust commits what is acked).

        Everything the covered events produced (scores, alerts, pair summaries) is flushed to the broker
        first: state restored from this checkpoint skips those events, so their outputs must already be out.
        """
        await self._release_idle()
        async with self._lock:
            if self.stream is not None:
                await self.app.producer.flush()
            await self._checkpoint()

    async def _release_idle(self) -> None:
        """Ask the broker whether the sources that say they are idle have really processed everything, and
        apply the buffered actions they no longer hold back. The sources' state is read *before* the question,
        so nothing they send meanwhile is let through on the strength of the answer."""
        snaps = self.proc.idle_snapshots()
        if not snaps or self.stream is None:
            return
        topic = self.settings.topic("events")
        tps = [TP(topic, s) for s in sorted({s for _, snap in snaps.values() for s in snap.candidates()})]
        try:
            ends = await asyncio.wait_for(self.app.consumer.highwaters(*tps), timeout=10.0)
        except Exception as exc:  # noqa: BLE001 - the sources stay held back; asked again next time
            log.warning("end offsets of %d events partitions not read (%s): idle sources keep holding back",
                        len(tps), exc)
            return
        async with self._lock:
            self._send(self.proc.release_idle(snaps, {tp.partition: int(off) for tp, off in ends.items()}))

    async def _checkpoint(self) -> None:
        owned = self.owned()
        idle_s = max(10.0, 5 * self.settings.checkpoint_interval_s)
        for p, beats in self.proc.heartbeats(sorted(owned if owned is not None else self.proc.cores), idle_s).items():
            for beat in beats:
                self.actions_topic.send_soon(key=None, value=encode_actions(beat), partition=p)
        if owned is not None:
            self.revoke(set(self.proc.cores) - owned)
        cuts = self.proc.checkpoint()
        sent = []
        for p, entries in cuts.items():
            for key, blob in entries:
                sent.append(self.cp_topic.send_soon(key=key.encode(), value=blob, partition=p))  # None: tombstone
                metrics.CHECKPOINT_BYTES.inc(len(blob or b""))
        if self.stream is None:
            return
        # the checkpoint is on the broker before any offset it covers can be committed: Faust's commit does not
        # flush the producer, so acking at once let a commit overtake the records (a crash then lost the events)
        if self.app.producer.started and not await self._delivered(sent):
            return  # the events stay held: acked after a later checkpoint that was delivered
        for p in cuts:
            for ev in self.held.pop(p, []):
                await self.stream.ack(ev)

    async def _delivered(self, sent: list[Any]) -> bool:
        """Wait until the broker has acknowledged the checkpoint records ``sent`` (and so, the buffer being one
        queue, everything sent before them). Faust's ``producer.flush()`` is no such guarantee: it returns as soon
        as no message left its buffer for 0.1 s, which happens whenever the client's own buffer is full; acks after
        it let a commit overtake the records, and a crash then lost the events they covered."""
        if not sent:
            await self.app.producer.flush()
            return True
        # asyncio.wait, not wait_for: a timeout must not cancel the records, which are still on their way
        done, pending = await asyncio.wait(sent, timeout=self.settings.checkpoint_delivery_timeout_s)
        failed = [f.exception() or "cancelled" for f in done if f.cancelled() or f.exception() is not None]
        if pending or failed:
            log.warning("checkpoint of %d records not confirmed by the broker (%d pending, %d failed%s): its events "
                        "stay unacked", len(sent), len(pending), len(failed), f": {failed[0]!r}" if failed else "")
            return False
        return True

    def revoke(self, partitions: set[int]) -> None:
        self.proc.revoke(sorted(partitions))
        for p in partitions:
            self.held.pop(p, None)
        for key in [k for k in self.last_offset if k[1] in partitions]:
            del self.last_offset[key]


def _log_tasks() -> None:
    buf = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=30, file=buf)
    log.warning("asyncio tasks on SIGUSR1:\n%s", buf.getvalue())


def _queue_empty(stream: Any) -> bool:
    queue = getattr(stream.channel, "queue", None)
    return queue is None or queue.empty()


def create_app(settings: Settings) -> tuple[faust.App, WorkerRuntime]:
    datadir = Path(settings.data_dir) / "faust" / settings.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    conf: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap}",
        "broker_credentials": _credentials(settings),
        "store": "memory://",
        "datadir": str(datadir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.session_timeout,
        "web_enabled": False,
        "producer_max_request_size": max(settings.max_message_bytes, 2 << 20),
        "consumer_max_fetch_size": 8 << 20,
        "stream_buffer_maxsize": 16_384,
        "broker_commit_interval": 1.0,
        # unacked events (not yet covered by a checkpoint) are replayed after a restart, by design
        "stream_wait_empty": False,
        # events, profiles and actions must be co-partitioned (a partition's state holds the creators, actors and
        # profiles of its keys). faust-streaming 0.15 assigns with aiokafka's round robin, which does not
        # co-partition, unless some table has standbys (faust-streaming PR #402); the worker has no tables, so
        # one standby replica only selects Faust's co-partitioning PartitionAssignor
        "table_standby_replicas": 1,
        "autodiscover": False,
    }
    if settings.embedded:
        from services.brokers import tansu

        tansu.apply_workarounds(settings.kafka_client_kwargs())
        conf.update(tansu.faust_overrides(settings.session_timeout_s))
    app = faust.App(settings.app_id, **conf)
    runtime = WorkerRuntime(app, settings)
    source = app.topic(settings.topic("events"), settings.topic("profiles"), settings.topic("actions"),
                       key_serializer="raw", value_serializer="raw")
    max_batch = settings.batch_max_messages

    @app.agent(source, name="trustream.engagement")
    async def engagement(stream: Any) -> None:
        s = stream.noack()
        runtime.stream = s
        buf: list[Any] = []
        async for event in s.events():
            buf.append(event)
            # flush when the batch is full or nothing more is waiting: batches grow under load and
            # shrink to one message when idle, so latency stays low either way
            if len(buf) >= max_batch or _queue_empty(s):
                await runtime.handle(buf)
                buf = []

    @app.task  # type: ignore[untyped-decorator]
    async def quality_feed() -> None:
        await runtime.quality_feed.run()

    @app.task  # type: ignore[untyped-decorator]
    async def diagnostics() -> None:
        # `kill -USR1 <worker>` logs the stack of every asyncio task, `kill -USR2` of every thread (for a hang)
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _log_tasks)
        faulthandler.register(signal.SIGUSR2, all_threads=True)

    @app.agent(runtime.pod_edges_topic, name="trustream.pods")
    async def pods(stream: Any) -> None:
        buf: list[bytes | None] = []
        async for event in stream.events():
            buf.append(event.message.value)
            if len(buf) >= max_batch or _queue_empty(stream):
                await runtime.pods.handle(buf)
                buf = []

    @app.timer(REFRESH_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def refresh_pods() -> None:
        runtime.pods.refresh()

    @app.timer(settings.audience_refresh_s)  # type: ignore[untyped-decorator]
    async def refresh_audience() -> None:
        await runtime.refresh_audience()

    @app.timer(settings.checkpoint_interval_s)  # type: ignore[untyped-decorator]  # faust's timer is untyped
    async def checkpoint() -> None:
        await runtime.checkpoint()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types receivers as sync-or-async unions
    async def on_revoked(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        runtime.revoke({tp.partition for tp in revoked if tp.topic in runtime.source_topics})
        if any(tp.topic == runtime.pod_edges_topic.get_topic_name() for tp in revoked):
            runtime.pods.restored = False  # whoever gets the partition next rebuilds the graph from the topic

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", ())
        by_topic: dict[str, set[int]] = defaultdict(set)
        for tp in runtime.app.consumer.assignment():
            if tp.topic in runtime.source_topics:
                by_topic[tp.topic].add(tp.partition)
        if len({frozenset(v) for v in by_topic.values()}) > 1:
            log.error("events, profiles and actions are not co-partitioned on this worker (%s): a partition's "
                      "accounts would be split between workers", dict(by_topic))
        if any(tp.topic == runtime.pod_edges_topic.get_topic_name() for tp in assigned):
            # rebuild now, not at the next summary: pods found just before a crash are published either way
            runtime.pods_task = asyncio.ensure_future(runtime.pods.ensure_restored())

    return app, runtime
