"""Checkpoints of per-partition detector state in a Kafka topic, and their recovery.

Why not one changelog write per event: a Faust table write per event halves a worker's throughput
(``../shared/notes/faust-throughput.md``). Instead the worker checkpoints what changed every
``checkpoint_interval_s`` seconds to the ``checkpoints`` topic (co-partitioned with ``events``;
compacted on Kafka), and only then acks the events the checkpoint covers, so Faust never commits
an offset beyond the last checkpoint.

Recovery (on partition assignment): read the partition's checkpoint records up to the Fetch high
watermark, keep the newest value per key, restore the core. Faust then resumes from the committed
offset, which is at or below every restored chunk's covered offset; the core skips the updates a
chunk already reflects (``offset <= chunk_off``), and the duplicate filter recognises the replayed
messages by their offset. The result equals an uninterrupted run: no update lost, none counted twice.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition


async def read_partition(client_kwargs: dict[str, Any], topic: str, partition: int,
                         timeout: float = 120.0) -> dict[str, bytes]:
    """Newest value per key of one checkpoint partition, read to the high watermark of a Fetch.

    Uses the Fetch high watermark rather than ListOffsets, so it is exact on every broker.
    """
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**client_kwargs, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 << 20,
                                fetch_max_bytes=64 << 20)
    await consumer.start()
    latest: dict[str, bytes] = {}
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout
        while True:
            batch = await consumer.getmany(tp, timeout_ms=300)
            for rec in batch.get(tp, []):
                key = rec.key.decode()
                if rec.value is None:
                    latest.pop(key, None)
                else:
                    latest[key] = rec.value
            hw = consumer.highwater(tp)
            if hw is not None and await consumer.position(tp) >= hw:
                return latest
            if time.monotonic() > deadline:
                raise TimeoutError(f"checkpoint partition {tp} not read to its end in {timeout}s")
    finally:
        await consumer.stop()

