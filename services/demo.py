"""A small simulated world for `make run`: organic creators and two that buy engagement.

History (``history_hours`` of event time, default three days) is sent at once so every creator has
a baseline, then the world streams live with event time running ``speed`` times faster than the
wall clock. Shortly after going live, ``creator_buys_likes`` receives a delivery of bought likes and
``creator_buys_followers`` one of bought follows, both from throw-away accounts.
The full labelled simulator is ``trustream simulate`` (eval harness); this is only a demo.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer

from services.settings import Settings

log = logging.getLogger("trustream.demo")

SLOT_S = 600.0  # events are generated per 10-minute slot of event time
FRAUD_LIKES = ("creator_buys_likes", 3000, 2400.0)  # account, lot size, delivery seconds
FRAUD_FOLLOWS = ("creator_buys_followers", 2500, 3000.0)


@dataclass
class Creator:
    account_id: str
    followers: int
    likes_per_hour: float


def make_creators(rng: np.random.Generator, n: int) -> list[Creator]:
    out = []
    for i in range(n):
        followers = int(np.clip(rng.lognormal(np.log(20_000), 1.2), 1_000, 2_000_000))
        # like rate falls with size (Markerly: ~8% of followers at 1k, ~1.6% at 10M), one post a day
        rate = 0.08 * (followers / 1_000) ** -0.175
        out.append(Creator(f"creator_{i:03d}", followers, followers * rate / 24.0))
    for name, *_ in (FRAUD_LIKES, FRAUD_FOLLOWS):
        out.append(Creator(name, 12_000, 12_000 * 0.05 / 24.0))
    return out


def diurnal(ts: float) -> float:
    hour = (ts % 86_400) / 3_600
    return float(1.0 + 0.6 * np.sin((hour - 9.0) / 24.0 * 2 * np.pi))


def slot_events(rng: np.random.Generator, creators: list[Creator], t0: float, live_start: float
                ) -> list[tuple[str, list[dict[str, object]]]]:
    """Events of one slot, grouped per target account (one Kafka message each)."""
    out = []
    slot = int(t0 // SLOT_S)
    for c in creators:
        lam = c.likes_per_hour * SLOT_S / 3_600 * diurnal(t0)
        n_like = rng.poisson(lam)
        n_comment = rng.poisson(lam * 0.04)
        n_follow = rng.poisson(c.followers * 0.002 / 144)
        evs: list[dict[str, object]] = []
        for kind, n in (("like", n_like), ("comment", n_comment), ("follow", n_follow)):
            ts = np.sort(t0 + rng.random(n) * SLOT_S)
            actors = rng.integers(0, 50_000, n)
            for j in range(n):
                evs.append({"event_id": f"{c.account_id}:{slot}:{kind}:{j}", "kind": kind, "ts": float(ts[j]),
                            "actor_id": f"user_{actors[j]}", "target_id": c.account_id,
                            "post_id": f"{c.account_id}:post:{int(t0 // 86_400)}" if kind != "follow" else None,
                            "text": "love this!" if kind == "comment" else None})
        for name, lot, duration in (FRAUD_LIKES, FRAUD_FOLLOWS):
            start = live_start + 300.0
            if c.account_id == name and t0 + SLOT_S > start and t0 < start + duration:
                kind = "like" if name == FRAUD_LIKES[0] else "follow"
                lo, hi = max(t0, start), min(t0 + SLOT_S, start + duration)
                n = int(lot * (hi - lo) / duration)
                ts = np.sort(lo + rng.random(n) * (hi - lo))
                for j in range(n):
                    evs.append({"event_id": f"bought:{name}:{slot}:{j}", "kind": kind, "ts": float(ts[j]),
                                "actor_id": f"bot_{slot}_{j}", "target_id": name,
                                "post_id": f"{name}:post:{int(t0 // 86_400)}" if kind == "like" else None,
                                "text": None})
        if evs:
            evs.sort(key=lambda e: e["ts"])  # type: ignore[arg-type, return-value]
            out.append((c.account_id, evs))
    return out


async def run_demo(settings: Settings, speed: float = 60.0, history_hours: float = 72.0, seed: int = 7,
                   creators: int = 40, duration_s: float | None = None) -> None:
    rng = np.random.default_rng(seed)
    world = make_creators(rng, creators)
    producer = AIOKafkaProducer(**settings.kafka_client_kwargs(), linger_ms=20,
                                max_request_size=settings.max_message_bytes)
    await producer.start()
    events_topic, profiles_topic = settings.topic("events"), settings.topic("profiles")
    try:
        now = time.time()
        live_start = now
        t = (now - history_hours * 3_600) // SLOT_S * SLOT_S
        for c in world:
            snap = {"account_id": c.account_id, "ts": t, "followers": c.followers, "following": 300,
                    "posts": 500, "created_at": t - 3 * 365 * 86_400.0, "has_avatar": True, "bio_len": 80,
                    "is_private": False, "username": c.account_id}
            await producer.send(profiles_topic, orjson.dumps(snap), key=c.account_id.encode())
        sent = 0
        wall0 = time.monotonic()
        while duration_s is None or time.monotonic() - wall0 < duration_s:
            sim_now = live_start + (time.monotonic() - wall0) * speed
            if t + SLOT_S > sim_now:  # live: wait until the slot's event time has come
                await asyncio.sleep(min(1.0, (t + SLOT_S - sim_now) / speed))
                continue
            for key, evs in slot_events(rng, world, t, live_start):
                await producer.send(events_topic, orjson.dumps(evs), key=key.encode())
                sent += len(evs)
            t += SLOT_S
            if int(t // SLOT_S) % 36 == 0:
                log.info("demo: %d events sent, event time %s", sent, time.strftime("%Y-%m-%d %H:%M",
                                                                                  time.gmtime(t)))
        await producer.flush()
    finally:
        await producer.stop()
