"""Creating trustream's topics up front, with the partition counts the design relies on."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from services.settings import Settings


def checkpoint_topic(settings: Settings) -> str:
    """Worker state checkpoints; co-partitioned with ``events`` (see services.worker.checkpoint)."""
    return f"{settings.topic_prefix}{settings.app_id}-checkpoints"


def topic_specs(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    n = settings.partitions
    compact = {"cleanup.policy": "compact"}
    return {
        settings.topic("events"): (n, {}),
        settings.topic("profiles"): (n, {}),
        settings.topic("scores"): (n, {}),
        settings.topic("alerts"): (n, {}),
        settings.topic("dlq"): (1, {}),
        # actions repartitioned by actor (schemas.actions), co-partitioned with events and profiles
        settings.topic("actions"): (n, {}),
        # audience category changes of each partition's accounts, read whole by every worker (keyed: compactable)
        settings.topic("actor-quality"): (n, {} if settings.embedded else compact),
        # the pod graph spans partitions: pair summaries from every partition meet in one place (their volume
        # is a small fraction of the events': only pairs engaging early more than once); keyed, so compactable
        settings.topic("pod-edges"): (1, {} if settings.embedded else compact),
        settings.topic("pods"): (1, {} if settings.embedded else compact),
        checkpoint_topic(settings): (n, {} if settings.embedded else compact),
    }


async def connect_admin(settings: Settings, timeout: float = 30.0) -> AIOKafkaAdminClient:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(**settings.kafka_client_kwargs())
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def ensure_topics(settings: Settings) -> None:
    """Create missing topics; refuse to run on an existing topic with the wrong partition count."""
    admin = await connect_admin(settings)
    try:
        specs = topic_specs(settings)
        existing = set(await admin.list_topics())
        new = [NewTopic(name, n, settings.replication_factor, topic_configs=cfg)
               for name, (n, cfg) in specs.items() if name not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another process created them first
        present = [t for t in specs if t in existing]
        # an empty list would describe every topic of the cluster
        described: Any = await admin.describe_topics(present) if present else []
        for desc in described:
            name = desc["topic"]
            if name not in specs:
                continue
            have, want = len(desc["partitions"]), specs[name][0]
            if have and have != want:
                raise RuntimeError(f"topic {name} has {have} partitions, trustream is configured for {want} "
                                   "(TRUSTREAM_PARTITIONS); state is partitioned like the events topic")
    finally:
        await admin.close()


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """Partition numbers of a topic as the cluster describes it (empty when it does not exist)."""
    admin = await connect_admin(settings)
    try:
        described: Any = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for desc in described:
        if desc["topic"] == topic and not desc.get("error_code"):
            return sorted(p["partition"] for p in desc["partitions"])
    return []


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, poll_s: float = 0.5) -> list[TopicPartition]:
    """Every partition of ``topic`` as a started consumer's metadata gives them, waiting until it exists."""
    parts = consumer.partitions_for_topic(topic)
    while not parts:
        await asyncio.sleep(poll_s)
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(parts)]
