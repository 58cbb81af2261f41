"""`trustream simulate --kafka`: the world arrives in the events topic, batched per target, paced by --speed."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import orjson

from services.evaluation.simulate import simulate, stream_world
from tests.integration.stack import Stack


def test_world_streams_into_kafka_batched_per_target(stack: Stack) -> None:
    world = simulate("purchased_engagement", 1, scale=0.05, days=0.25)
    span = world.events[-1]["ts"] - world.events[0]["ts"]
    speed = span / 3.0  # the quarter day plays in about three seconds
    t0 = time.monotonic()
    sent = asyncio.run(stream_world(world, stack.settings, speed, batch_wall_s=0.25))
    elapsed = time.monotonic() - t0
    assert sent == len(world.events)
    assert 2.0 < elapsed < 15.0, elapsed  # paced by event time, not dumped at once
    records = stack.read_topic(stack.settings.topic("events"))
    got = [e for r in records for e in orjson.loads(r.value)]
    assert Counter(e["event_id"] for e in got) == Counter(e["event_id"] for e in world.events)
    for r in records:  # every message is one target's batch, keyed by it
        targets = {e["target_id"] for e in orjson.loads(r.value)}
        assert targets == {r.key.decode()}
    profiles = stack.read_topic(stack.settings.topic("profiles"))
    assert len(profiles) == len(world.profiles)
