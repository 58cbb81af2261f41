"""The Faust agent's logic through Faust's own test_context (no broker: pure agent behaviour)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from detectors.ids import hash_ids
from services.settings import Settings
from services.worker.app import create_app
from services.worker.processor import Outputs


@pytest.mark.asyncio
async def test_agent_batches_events_into_the_core_and_dead_letters_bad_input() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", partitions=1, warmup_windows=2, spike_min_count=20)
    app, runtime = create_app(settings)
    runtime.proc.install(0, {})  # partitions are restored from the checkpoint topic in production
    runtime.quality_feed.ready.set()  # no broker: the actor-quality copy counts as read (it is filled below)
    for i in range(200):  # the accounts of the spike are known fakes (the actor-quality topic would say so)
        runtime.proc.quality.update(int(hash_ids([f"b{i}"])[0]), "suspicious")
    sent: list[Outputs] = []
    runtime._send = sent.append  # type: ignore[method-assign]
    agent: Any = app.agents["trustream.engagement"]
    t0 = 1_700_000_000.0
    async with agent.test_context() as ctx:
        for h in range(4):  # four quiet hours: 5 likes each, then a burst of 200 from new fake accounts
            evs = [{"event_id": f"{h}-{i}", "kind": "like", "ts": t0 + h * 3600 + i, "actor_id": f"u{i}",
                    "target_id": "c"} for i in range(5)]
            await ctx.put(orjson.dumps(evs), key=b"c", partition=0)
        await ctx.put(b'{"kind":', key=b"c", partition=0)
        spike = [{"event_id": f"s{i}", "kind": "like", "ts": t0 + 4 * 3600 + i, "actor_id": f"b{i}",
                  "target_id": "c"} for i in range(200)]
        await ctx.put(orjson.dumps(spike), key=b"c", partition=0)
        await ctx.put(orjson.dumps(spike[:10]), key=b"c", partition=0)  # re-sent duplicates
    core = runtime.proc.cores[0]
    a = core.table.lookup("c")
    assert a is not None
    assert core.score(a).counts["likes"] == 4 * 5 + 200
    dead = [d for out in sent for d in out.dead]
    assert [d.reason for d in dead] == ["not_json"] and dead[0].source_offset == 4
    alerts = [al for out in sent for lst in out.alerts.values() for al in lst]
    assert [al.flag.kind for al in alerts] == ["purchased_engagement"]
    # nothing is acked before a checkpoint covers it; the checkpoint then acks everything held
    assert sum(len(v) for v in runtime.held.values()) == 7
    await runtime.checkpoint()
    assert not runtime.held



@pytest.mark.asyncio
async def test_checkpoint_acks_wait_for_the_broker_to_acknowledge_every_record() -> None:
    """Events are acked only once every checkpoint record is acknowledged: one still on its way (Faust's flush
    returns anyway after 0.1 s without progress) or failed holds them back, and waiting cancels nothing."""
    _, runtime = create_app(Settings(kafka_bootstrap="127.0.0.1:1", partitions=1,
                                     checkpoint_delivery_timeout_s=0.05))
    loop = asyncio.get_running_loop()
    done, late, failed = loop.create_future(), loop.create_future(), loop.create_future()
    done.set_result(None)
    failed.set_exception(RuntimeError("broker said no"))
    assert await runtime._delivered([done])
    assert not await runtime._delivered([done, late])
    assert not late.cancelled()  # the record is still on its way, and may yet arrive
    late.set_result(None)
    assert await runtime._delivered([done, late])
    assert not await runtime._delivered([done, failed])
