"""The API's view of scores: a consumer of the scores topic from the beginning, newest record wins.

Scores of an account always come from the partition of its events, in order, so the last record read
is the current one. ``caught_up`` turns true once every partition has been read to the high
watermark of a Fetch response (exact on every broker, Tansu included).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from pydantic import ValidationError
from sortedcontainers import SortedDict, SortedSet

from schemas.wire import ScoreRecord
from services import metrics
from services.settings import Settings

log = logging.getLogger("trustream.api")


class ScoresView:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accounts: SortedDict = SortedDict()  # account_id -> ScoreRecord
        self.flagged: SortedSet = SortedSet()
        self.caught_up = False
        self.last_fetch_ok = 0.0
        self.lag = -1
        self.bad_records = 0
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def apply(self, rec: ScoreRecord) -> None:
        self.accounts[rec.account_id] = rec
        if rec.flags:
            self.flagged.add(rec.account_id)
        else:
            self.flagged.discard(rec.account_id)

    def apply_value(self, value: bytes | None) -> None:
        try:
            doc = orjson.loads(value or b"null")
            items = doc if isinstance(doc, list) else [doc]
            for item in items:
                self.apply(ScoreRecord.model_validate(item))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            self.bad_records += 1
            log.warning("unreadable record on the scores topic: %s", exc)

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
        while True:
            consumer = AIOKafkaConsumer(**self.settings.kafka_client_kwargs(), group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest",
                                        max_partition_fetch_bytes=8 << 20)
            try:
                await consumer.start()
                parts = consumer.partitions_for_topic(topic)
                while not parts:
                    await asyncio.sleep(0.5)
                    await consumer._client.force_metadata_update()
                    parts = consumer.partitions_for_topic(topic)
                tps = [TopicPartition(topic, p) for p in sorted(parts)]
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

    async def _consume(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for records in batch.values():
                for rec in records:
                    self.apply_value(rec.value)
            self.last_fetch_ok = time.time()
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
                "flagged": len(self.flagged), "broker_reachable": await self.broker_reachable(),
                "unreadable_records": self.bad_records,
                "seconds_since_last_read": round(time.time() - self.last_fetch_ok, 3) if self.last_fetch_ok else None}
