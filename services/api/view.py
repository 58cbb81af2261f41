"""The API's view of scores and pods: one consumer of the scores and pods topics from the beginning.

Scores of an account always come from the partition of its events, in order, so the last record read
is the current one. Pods come from the one-partition ``pods`` topic (key: pod_id), latest record per id;
a pod that changes is published once more with ``active`` false, which ends its members' membership.
An account's record as served is its score record merged with its active pods
(:func:`detectors.pods.with_pods`: the ``pod`` flag and the authenticity it implies).

``caught_up`` turns true once every assigned partition has been read to the high watermark of a Fetch
response (exact on every broker, Tansu included). A deployment without the pods topic serves scores
alone; if the topic appears later it is added to the assignment and read from the beginning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from pydantic import ValidationError
from sortedcontainers import SortedDict, SortedSet

from detectors.pods import with_pods
from schemas.wire import PodRecord, ScoreRecord
from services import metrics
from services.settings import Settings
from services.topics import topic_partitions

log = logging.getLogger("trustream.api")

#: How often a consumer without the pods topic looks for it again (seconds).
PODS_TOPIC_RECHECK_S = 10.0


class BadPodRecord(ValueError):
    """A pods-topic record that parses but cannot be served (e.g. a member without its stats)."""


class ScoresView:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accounts: SortedDict = SortedDict()  # account_id -> ScoreRecord, as read from the scores topic
        # accounts with a score record whose merged record has a flag (its own, or an active pod's)
        self.flagged: SortedSet = SortedSet()
        # accounts whose merged record lost points (flags or audience): the only ones that can alert
        self.scored_below: SortedSet = SortedSet()
        self.pods: SortedDict = SortedDict()  # pod_id -> PodRecord, latest record per id, active or not
        self.active_pods: SortedSet = SortedSet()  # pod_ids whose latest record is active
        self.retired_pods: SortedSet = SortedSet()  # pod_ids whose latest record is inactive
        self.pods_of: dict[str, set[str]] = {}  # account_id -> ids of the ACTIVE pods it is a member of
        self.caught_up = False
        self.last_fetch_ok = 0.0
        self.lag = -1
        self.bad_records = 0
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    # --- state --------------------------------------------------------------------------------

    def _reflag(self, account_id: str) -> None:
        rec: ScoreRecord | None = self.accounts.get(account_id)
        if rec is not None and (self.pods_of.get(account_id) or any(f.kind != "pod" for f in rec.flags)):
            # same as bool(self.account(account_id).flags): with_pods replaces any pod flag of the record
            self.flagged.add(account_id)
        else:
            self.flagged.discard(account_id)
        if account_id in self.flagged or (rec is not None and rec.authenticity < 100):
            self.scored_below.add(account_id)
        else:
            self.scored_below.discard(account_id)

    def apply(self, rec: ScoreRecord) -> None:
        self.accounts[rec.account_id] = rec
        self._reflag(rec.account_id)

    def apply_value(self, value: bytes | None) -> None:
        try:
            doc = orjson.loads(value or b"null")
            items = doc if isinstance(doc, list) else [doc]
            for item in items:
                self.apply(ScoreRecord.model_validate(item))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            self.bad_records += 1
            log.warning("unreadable record on the scores topic: %s", exc)

    def _set_membership(self, pod_id: str, members: Iterable[str], active: bool) -> None:
        for account_id in members:
            if active:
                self.pods_of.setdefault(account_id, set()).add(pod_id)
            else:
                ids = self.pods_of.get(account_id)
                if ids is not None:
                    ids.discard(pod_id)
                    if not ids:
                        del self.pods_of[account_id]

    def _remove_pod(self, pod_id: str) -> set[str]:
        """Forget ``pod_id``; returns the accounts whose membership changed."""
        old: PodRecord | None = self.pods.pop(pod_id, None)
        self.active_pods.discard(pod_id)
        self.retired_pods.discard(pod_id)
        if old is None or not old.active:
            return set()
        self._set_membership(pod_id, old.members, active=False)
        return set(old.members)

    def apply_pod(self, pod: PodRecord) -> None:
        """The latest record of ``pod.pod_id`` (active or retired) replaces the previous one."""
        if pod.active:
            missing = set(pod.members) - {m.account_id for m in pod.member_stats}
            if missing:  # with_pods could not explain their flag
                raise BadPodRecord(f"pod {pod.pod_id}: members without member_stats: {sorted(missing)[:5]}")
        touched = self._remove_pod(pod.pod_id)
        self.pods[pod.pod_id] = pod
        (self.active_pods if pod.active else self.retired_pods).add(pod.pod_id)
        if pod.active:
            self._set_membership(pod.pod_id, pod.members, active=True)
            touched.update(pod.members)
        for account_id in touched:
            self._reflag(account_id)

    def apply_pod_value(self, value: bytes | None, key: bytes | None = None) -> None:
        """One message of the pods topic; a tombstone (null value) with a key deletes that pod."""
        try:
            if value is None and key:
                for account_id in self._remove_pod(key.decode()):
                    self._reflag(account_id)
                return
            self.apply_pod(PodRecord.model_validate(orjson.loads(value or b"null")))
        except (orjson.JSONDecodeError, ValidationError, BadPodRecord, UnicodeDecodeError) as exc:
            self.bad_records += 1
            log.warning("unreadable record on the pods topic: %s", exc)

    # --- reads --------------------------------------------------------------------------------

    def pods_for(self, account_id: str) -> list[PodRecord]:
        """Active pods of ``account_id``, sorted by pod_id."""
        return [self.pods[p] for p in sorted(self.pods_of.get(account_id, ()))]

    def account(self, account_id: str) -> ScoreRecord | None:
        """The account's score record merged with its active pods (pod flag and authenticity)."""
        rec: ScoreRecord | None = self.accounts.get(account_id)
        if rec is None:
            return None
        return with_pods(rec, self.pods_for(account_id))

    # --- Kafka --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scores-view")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        topic = self.settings.topic("scores")
        pods_topic = self.settings.topic("pods")
        while True:
            consumer = AIOKafkaConsumer(**self.settings.kafka_client_kwargs(), group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest",
                                        max_partition_fetch_bytes=8 << 20)
            try:
                await consumer.start()
                tps = await topic_partitions(consumer, topic)
                pod_parts = consumer.partitions_for_topic(pods_topic)  # metadata of every topic until assign()
                if pod_parts:
                    tps += [TopicPartition(pods_topic, p) for p in sorted(pod_parts)]
                else:
                    log.info("no %s topic yet: serving scores without pods, looking again every %.0f s",
                             pods_topic, PODS_TOPIC_RECHECK_S)
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                self._consumer = consumer
                await self._consume(consumer, tps)
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning("scores consumer error, reconnecting: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                self._consumer = None
                await consumer.stop()

    async def _add_pods_topic(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
        """If the pods topic exists now, add its partitions (from the beginning), keeping the others' positions."""
        pods_topic = self.settings.topic("pods")
        try:
            # after assign() the client's metadata covers the assigned topics only: ask for all of them
            cluster = await consumer._client.fetch_all_metadata()
        except KafkaError as exc:
            log.debug("metadata for the %s topic: %s", pods_topic, exc)
            return False
        parts = cluster.partitions_for_topic(pods_topic)
        if not parts:
            return False
        positions = {tp: await consumer.position(tp) for tp in tps}
        new = [TopicPartition(pods_topic, p) for p in sorted(parts)]
        tps.extend(new)
        consumer.assign(tps)
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        await consumer.seek_to_beginning(*new)
        log.info("the %s topic appeared: reading its %d partition(s) from the beginning", pods_topic, len(new))
        return True

    async def _consume(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        pods_topic = self.settings.topic("pods")
        has_pods = any(tp.topic == pods_topic for tp in tps)
        next_pods_check = time.monotonic() + PODS_TOPIC_RECHECK_S
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for tp, records in batch.items():
                if tp.topic == pods_topic:
                    for rec in records:
                        self.apply_pod_value(rec.value, rec.key)
                else:
                    for rec in records:
                        self.apply_value(rec.value)
            self.last_fetch_ok = time.time()
            if not has_pods and time.monotonic() >= next_pods_check:
                has_pods = await self._add_pods_topic(consumer, tps)
                next_pods_check = time.monotonic() + PODS_TOPIC_RECHECK_S
            lag = 0
            known = True
            for tp in tps:
                hw = consumer.highwater(tp)
                if hw is None:
                    known = False
                    continue
                lag += max(0, hw - await consumer.position(tp))
            self.lag = lag
            metrics.API_SCORES_LAG.set(lag)
            metrics.API_ACCOUNTS.set(len(self.accounts))
            if known and lag == 0:
                self.caught_up = True

    async def broker_reachable(self, timeout_s: float = 2.0) -> bool:
        """Ask the cluster for its metadata now (a fetch loop keeps polling a dead broker silently)."""
        consumer = self._consumer
        if consumer is None:
            return False
        try:
            await asyncio.wait_for(consumer.topics(), timeout_s)
            return True
        except (TimeoutError, KafkaError):
            return False

    async def status(self) -> dict[str, Any]:
        return {"caught_up": self.caught_up, "lag_messages": self.lag, "accounts": len(self.accounts),
                "flagged": len(self.flagged), "pods": len(self.active_pods),
                "broker_reachable": await self.broker_reachable(),
                "unreadable_records": self.bad_records,
                "seconds_since_last_read": round(time.time() - self.last_fetch_ok, 3) if self.last_fetch_ok else None}
