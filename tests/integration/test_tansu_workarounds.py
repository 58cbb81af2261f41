"""Each workaround in services.brokers.tansu, shown necessary (the quirk is there) and sufficient."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from services.brokers import tansu
from services.brokers.base import BrokerProcess


async def _topic_with_one_batch(bootstrap: str, name: str, n: int) -> TopicPartition:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(name, 1, 1)])
    await admin.close()
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
    await p.start()
    futs = [await p.send(name, b"v%d" % i, partition=0) for i in range(n)]
    await p.flush()
    await asyncio.gather(*futs)
    await p.stop()
    return TopicPartition(name, 0)


class _FaustThreadStandIn:
    """What Faust's ``AIOKafkaConsumerThread._highwaters`` touches: a started consumer, no transaction."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.consumer = type("C", (), {"in_transaction": False})()

    def _ensure_consumer(self) -> AIOKafkaConsumer:
        return self._consumer


def test_end_offsets_are_corrected_from_the_fetch_high_watermark(tansu_broker: BrokerProcess) -> None:
    async def go() -> None:
        tp = await _topic_with_one_batch(tansu_broker.bootstrap, "quirk-end-offsets", 10)
        kw: dict[str, Any] = {"bootstrap_servers": tansu_broker.bootstrap}
        consumer = AIOKafkaConsumer(**kw)
        await consumer.start()
        try:
            tansu.remove_workarounds()
            # the quirk: ListOffsets LATEST is the last batch's base offset + 1, not 10
            plain = await AIOKafkaConsumerThread._highwaters(_FaustThreadStandIn(consumer), [tp])
            assert plain[tp] == 1
            assert (await tansu.corrected_end_offsets(kw, [tp]))[tp] == 10
            tansu.apply_workarounds(kw)
            try:
                patched = await AIOKafkaConsumerThread._highwaters(_FaustThreadStandIn(consumer), [tp])
                assert patched[tp] == 10
            finally:
                tansu.remove_workarounds()
        finally:
            await consumer.stop()
    asyncio.run(go())


async def _join_seconds(bootstrap: str, group: str, session: float, heartbeat: float, rebalance: float
                       ) -> float:
    """Seconds from start until a consumer of a new group has its partitions."""
    c = AIOKafkaConsumer("quirk-join", bootstrap_servers=bootstrap, group_id=group,
                         session_timeout_ms=int(session * 1000), heartbeat_interval_ms=int(heartbeat * 1000),
                         rebalance_timeout_ms=int(rebalance * 1000))
    t0 = time.monotonic()
    await c.start()
    try:
        while not c.assignment():
            await asyncio.sleep(0.05)
        return time.monotonic() - t0
    finally:
        await c.stop()


def test_short_sessions_make_group_joins_fast(tansu_broker: BrokerProcess) -> None:
    """Tansu answers JoinGroup only after session_timeout / 2: every worker start (and restart) pays it."""
    async def go() -> tuple[float, float]:
        await _topic_with_one_batch(tansu_broker.bootstrap, "quirk-join", 1)
        o = tansu.faust_overrides(None)
        fast = await _join_seconds(tansu_broker.bootstrap, "g-fast", o["broker_session_timeout"],
                                   o["broker_heartbeat_interval"], o["broker_rebalance_timeout"])
        # without the override: Faust's defaults (60 s session, 3 s heartbeat, 60 s rebalance)
        d = faust.App("defaults").conf
        slow = await _join_seconds(tansu_broker.bootstrap, "g-slow", d.broker_session_timeout,
                                   d.broker_heartbeat_interval, d.broker_rebalance_timeout)
        return fast, slow
    fast, slow = asyncio.run(go())
    assert fast < 5.0, (fast, slow)
    assert slow > 20.0, (fast, slow)


@pytest.mark.parametrize("setting", ["processing_guarantee"])
def test_faust_is_pinned_to_at_least_once(setting: str) -> None:
    assert tansu.faust_overrides(None)[setting] == "at_least_once"
