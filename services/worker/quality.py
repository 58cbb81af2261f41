"""The worker's copy of every account's audience category, read from the ``actor-quality`` topic.

Each partition publishes the category changes of its own accounts (:class:`schemas.wire.ActorQuality`, keyed by
account); every worker reads all partitions of the topic from the beginning, like a global table, so that the
audience of a creator on one partition can be judged from accounts that live on the others
(:mod:`detectors.audience`). It is eventually consistent: a creator's audience is refreshed each time the
creator is scored.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from detectors.audience import GlobalQuality
from schemas.wire import ActorQuality
from services.settings import Settings
from services.topics import topic_partitions

log = logging.getLogger("trustream.quality")


class QualityFeed:
    def __init__(self, settings: Settings, quality: GlobalQuality) -> None:
        self.settings = settings
        self.quality = quality
        self.bad = 0

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
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
                    for records in batch.values():
                        for rec in records:
                            self.apply(rec.value)
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning("actor-quality consumer error, reconnecting: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    def apply(self, value: bytes | None) -> None:
        try:
            rec = ActorQuality.model_validate_json(value or b"null")
        except ValidationError as exc:
            self.bad += 1
            log.warning("unreadable actor-quality record skipped: %s", exc)
            return
        self.quality.update(rec.account_hash, rec.category)
