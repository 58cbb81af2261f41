"""The worker's copy of every account's audience category, read from the ``actor-quality`` topic.

Each partition publishes the category changes of its own accounts (:class:`schemas.wire.ActorQuality`, keyed by
account); every worker reads all partitions of the topic from the beginning, like a global table, so that the
audience of a creator on one partition can be judged from accounts that live on the others
(:mod:`detectors.audience`). It is eventually consistent: a creator's audience is refreshed each time the
creator is scored. The purchase detector reads the categories as events arrive, so the worker takes no batch before
the copy has read the topic to the end offsets it had at start (:attr:`QualityFeed.ready`), as Faust waits for a
global table's recovery: a restarted worker judges the engagers of replayed events with what was known before.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from detectors.audience import GlobalQuality
from schemas.wire import ActorQuality
from services import metrics
from services.settings import Settings
from services.topics import topic_partitions

log = logging.getLogger("trustream.quality")


class QualityFeed:
    def __init__(self, settings: Settings, quality: GlobalQuality) -> None:
        self.settings = settings
        self.quality = quality
        self.bad = 0
        #: set once the topic was read to the end offsets it had when the feed (re)connected first
        self.ready = asyncio.Event()

    async def run(self) -> None:
        topic = self.settings.topic("actor-quality")
        while True:
            consumer = AIOKafkaConsumer(**self.settings.kafka_client_kwargs(), group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest")
            try:
                await consumer.start()
                tps = await topic_partitions(consumer, topic)
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                ends = await consumer.end_offsets(tps)
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
                    for records in batch.values():
                        for rec in records:
                            self.apply(rec.value)
                    if not self.ready.is_set() and await _caught_up(consumer, ends):
                        self.ready.set()
                    metrics.QUALITY_ACCOUNTS.set(len(self.quality.by_hash))
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning("actor-quality consumer error, reconnecting: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    def apply(self, value: bytes | None) -> None:
        """Take one record (a bad one is counted and skipped)."""
        try:
            rec = ActorQuality.model_validate_json(value or b"null")
        except ValidationError as exc:
            self.bad += 1
            log.warning("unreadable actor-quality record skipped: %s", exc)
            return
        self.quality.update(rec.account_hash, rec.category)


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
