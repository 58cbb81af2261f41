"""A small simulated world for `make run`: organic creators, two that buy engagement, and an engagement pod.

History (``history_hours`` of event time, default three days) is sent at once so every creator has
a baseline, then the world streams live with event time running ``speed`` times faster than the
wall clock. Shortly after going live, ``creator_buys_likes`` receives a delivery of bought likes and
``creator_buys_followers`` one of bought follows, both from throw-away accounts (new, with the empty profiles of
:func:`fraud_profiles`). The ``pod_member_*``
creators post every few hours, and the others like (and often comment on) each post within 15 minutes.
``bot_liker`` is an engagement bot: it likes a post every minute, around the clock, and now and then leaves a
"Nice pic!".
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
BOT, BOT_EVERY_S = "bot_liker", 60.0
POD_SIZE = 5
POD_POST_EVERY_S = 4 * 3_600.0  # pod members post every 4 hours


@dataclass
class Creator:
    account_id: str
    followers: int
    likes_per_hour: float
    post_every_s: float = 86_400.0
    post_offset_s: float = 0.0  # posts at multiples of post_every_s plus this
    pod: bool = False

    def post_at(self, t0: float) -> float | None:
        """Time of this creator's post inside the slot starting at ``t0``, if any."""
        k = (t0 + SLOT_S - self.post_offset_s) // self.post_every_s
        ts = k * self.post_every_s + self.post_offset_s
        return ts if t0 <= ts < t0 + SLOT_S else None

    def post_id(self, ts: float) -> str:
        return f"{self.account_id}:post:{int(ts // self.post_every_s)}"

    def latest_post_id(self, t: float) -> str:
        """The post id of the last post at or before ``t``."""
        return self.post_id((t - self.post_offset_s) // self.post_every_s * self.post_every_s + self.post_offset_s)


def make_creators(rng: np.random.Generator, n: int) -> list[Creator]:
    out = []
    for i in range(n):
        followers = int(np.clip(rng.lognormal(np.log(20_000), 1.2), 1_000, 2_000_000))
        # like rate falls with size (Markerly: ~8% of followers at 1k, ~1.6% at 10M), one post a day
        rate = 0.08 * (followers / 1_000) ** -0.175
        out.append(Creator(f"creator_{i:03d}", followers, followers * rate / 24.0,
                           post_offset_s=(7_919.0 * i) % 86_400 // SLOT_S * SLOT_S + 60.0))
    for name, *_ in (FRAUD_LIKES, FRAUD_FOLLOWS):
        out.append(Creator(name, 12_000, 12_000 * 0.05 / 24.0, post_offset_s=43_260.0))
    for k in range(POD_SIZE):
        out.append(Creator(f"pod_member_{k}", 4_000, 4_000 * 0.06 / 24.0, post_every_s=POD_POST_EVERY_S,
                           post_offset_s=k * 2_400.0 + 120.0, pod=True))
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
        posted = c.post_at(t0)
        if posted is not None:
            evs.append({"event_id": f"{c.account_id}:{slot}:post", "kind": "post", "ts": posted,
                        "actor_id": c.account_id, "target_id": c.account_id, "post_id": c.post_id(posted)})
            if c.pod:  # the other members engage right after publishing
                for m in creators:
                    if m.pod and m is not c:
                        d = float(rng.uniform(60.0, 900.0))
                        evs.append({"event_id": f"{c.account_id}:{slot}:pod:{m.account_id}", "kind": "like",
                                    "ts": posted + d, "actor_id": m.account_id, "target_id": c.account_id,
                                    "post_id": c.post_id(posted), "text": None})
                        if rng.random() < 0.5:
                            evs.append({"event_id": f"{c.account_id}:{slot}:podc:{m.account_id}", "kind": "comment",
                                        "ts": posted + d + 30.0, "actor_id": m.account_id,
                                        "target_id": c.account_id, "post_id": c.post_id(posted),
                                        "text": "so good!! 🔥"})
        # organic engagement goes to the creator's latest post
        latest = c.latest_post_id(t0 + SLOT_S)
        for kind, n in (("like", n_like), ("comment", n_comment), ("follow", n_follow)):
            ts = np.sort(t0 + rng.random(n) * SLOT_S)
            actors = rng.integers(0, 50_000, n)
            for j in range(n):
                evs.append({"event_id": f"{c.account_id}:{slot}:{kind}:{j}", "kind": kind, "ts": float(ts[j]),
                            "actor_id": f"user_{actors[j]}", "target_id": c.account_id,
                            "post_id": latest if kind != "follow" else None,
                            "text": "love this!" if kind == "comment" else None})
        for name, lot, duration in (FRAUD_LIKES, FRAUD_FOLLOWS):
            start = live_start + 300.0
            if c.account_id == name and t0 + SLOT_S > start and t0 < start + duration:
                kind = "like" if name == FRAUD_LIKES[0] else "follow"
                lo, hi = max(t0, start), min(t0 + SLOT_S, start + duration)
                first, last = int(lot * (lo - start) / duration), int(lot * (hi - start) / duration)
                ts = np.sort(lo + rng.random(last - first) * (hi - lo))
                for j in range(first, last):
                    evs.append({"event_id": f"bought:{name}:{j}", "kind": kind, "ts": float(ts[j - first]),
                                "actor_id": f"bought_{kind}_{j}", "target_id": name,
                                "post_id": latest if kind == "like" else None,
                                "text": None})
        # the bot likes the latest post of one (non-pod) creator each minute: its likes to this one in this slot
        plain = [m for m in creators if not m.pod]
        for j in range(int(SLOT_S // BOT_EVERY_S)):
            if not c.pod and plain[(slot * int(SLOT_S // BOT_EVERY_S) + j) % len(plain)] is c:
                at = t0 + j * BOT_EVERY_S + float(rng.uniform(-2.0, 2.0))
                comment = j % 7 == 0
                evs.append({"event_id": f"bot:{slot}:{j}", "kind": "comment" if comment else "like", "ts": at,
                            "actor_id": BOT, "target_id": c.account_id, "post_id": latest,
                            "text": "Nice pic! 🔥" if comment else None})
        if evs:
            evs.sort(key=lambda e: e["ts"])  # type: ignore[arg-type, return-value]
            out.append((c.account_id, evs))
    return out


def fraud_profiles(ts: float) -> list[dict[str, object]]:
    """Profile snapshots of the throw-away accounts that deliver the bought likes and follows: days old, no
    avatar, no bio, no posts, a handful of followers (the platform snapshots every account that engages)."""
    out: list[dict[str, object]] = []
    for (_, lot, _), kind in ((FRAUD_LIKES, "like"), (FRAUD_FOLLOWS, "follow")):
        out += [{"account_id": f"bought_{kind}_{j}", "ts": ts, "followers": j % 7, "following": 300 + j % 900,
                 "posts": 0, "created_at": ts - 3 * 86_400.0, "has_avatar": False, "bio_len": 0, "is_private": False,
                 "username": f"user{j}{kind[0]}x{j % 97}"} for j in range(lot)]
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
        for snap in fraud_profiles(t):
            await producer.send(profiles_topic, orjson.dumps(snap), key=str(snap["account_id"]).encode())
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
