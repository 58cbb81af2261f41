"""Real-data cases: real timestamped streams as organic background, with labelled purchases injected,
and a profile-level case on the labelled fake and genuine accounts. Read from ``../shared/data`` by path.

- ``collegemsg``: SNAP CollegeMsg, 59,835 real messages between 1,899 users, read as comments to the
  receiver;
- ``wikipedia``: JODIE Wikipedia, 157,474 real user->page edits over 31 days, read as likes of the page;
- ``instafake-posts``: the real per-post like and comment counts and upload times of genuine Instagram
  accounts (instafake); only the spread of each post's likes over the hours after upload is simulated;
- ``fake-profiles``: instafake, insta-kaggle-fake-spammer and cresci-2017 accounts as profile snapshots,
  labelled fake (kind ``bot``) or genuine.

Into the three streams, purchases from the real bot-market offers are injected on accounts with enough
history (half bursts, half drip-fed), labelled like the simulator's (orders of at least
:data:`services.evaluation.simulate.MIN_ORDER`). The streams carry no profiles of the accounts that act; as in the
simulator (the platform snapshots every account that engages), each real account that acts gets the profile of a
random labelled genuine account, and each injected buyer's account that of a random labelled fake one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.evaluation.simulate import MIN_ORDER, World, deliver
from services.evaluation.sources import Sources, data_dir, labelled_profiles, load_sources

BASE_TS = 1_700_000_000.0  # epoch for streams that count seconds from their start
INJECT_PER_KIND = 10


def _inject(world: World, rng: np.random.Generator, src: Sources, targets: list[str], start_of: dict[str, float],
            end_ts: float) -> None:
    """Buy likes for half of ``targets`` and followers for the other half, from real offers."""
    for i, target in enumerate(targets):
        kind, action = (("purchased_engagement", "like") if i % 2 == 0 else ("purchased_followers", "follow"))
        drip = (i // 2) % 2 == 1
        offers = [o for o in src.offers if o.action == action and o.lot * 5 >= MIN_ORDER]
        o = offers[int(rng.integers(len(offers)))]
        times, _ = deliver(rng, o, max(MIN_ORDER, o.lot), start_of[target], drip)
        times = times[times < end_ts]
        if len(times) == 0:
            continue
        for j, t in enumerate(times):
            world.events.append({"event_id": f"inj-{target}-{j}", "kind": action, "ts": round(float(t), 3),
                                 "actor_id": f"bought-{target}-{j}", "target_id": target,
                                 "post_id": None, "text": None})
            world.profiles.append(_snapshot(f"bought-{target}-{j}", src.fake[rng.integers(len(src.fake))],
                                            float(times[0])))
        world.labels.append({"account_id": target, "kind": kind, "class": "drip" if drip else "burst",
                             "role": "buyer", "group": None, "start_ts": round(float(times[0]), 3),
                             "end_ts": round(float(times[-1]), 3)})


def _snapshot(account: str, row: np.ndarray, ts: float) -> dict[str, object]:
    return {"account_id": account, "ts": ts, "followers": int(row[0]), "following": int(row[1]),
            "posts": int(row[2]), "created_at": None, "bio_len": int(row[3]), "has_avatar": bool(row[4]),
            "is_private": None, "username": None}


def _actor_profiles(world: World, rng: np.random.Generator, src: Sources) -> None:
    """A genuine labelled profile for every real account that acts (not the creators, which have their own)."""
    have = {p["account_id"] for p in world.profiles}
    first: dict[str, float] = {}
    for e in world.events:
        if e["actor_id"] not in have:
            first.setdefault(e["actor_id"], e["ts"])
    for actor, ts in first.items():
        world.profiles.append(_snapshot(actor, src.genuine[rng.integers(len(src.genuine))], ts))


def _stream_case(rows: list[tuple[str, str, float]], kind: str, seed: int, src: Sources) -> World:
    world = World(real_sources=src.real)
    for n, (actor, target, ts) in enumerate(rows):
        world.events.append({"event_id": f"r{n}", "kind": kind, "ts": ts, "actor_id": actor, "target_id": target,
                             "post_id": None, "text": None})
    incoming = Counter(t for _, t, _ in rows)
    t_first, t_last = rows[0][2], rows[-1][2]
    rng = np.random.default_rng(seed)
    _actor_profiles(world, rng, src)
    busy = sorted(t for t, c in incoming.items() if c >= 50)
    chosen = [busy[int(i)] for i in rng.choice(len(busy), size=min(2 * INJECT_PER_KIND, len(busy)), replace=False)]
    start_of = {t: t_first + rng.uniform(0.4, 0.7) * (t_last - t_first) for t in chosen}
    _inject(world, rng, src, chosen, start_of, t_last)
    for target in incoming:
        if target not in start_of:
            world.labels.append({"account_id": target, "kind": "organic", "class": "organic", "role": "creator",
                                 "group": None, "start_ts": None, "end_ts": None})
    world.events.sort(key=lambda e: (e["ts"], e["event_id"]))
    return world


def collegemsg(base: Path, seed: int, src: Sources) -> World:
    rows = []
    for line in (base / "snap-collegemsg" / "CollegeMsg.txt").read_text().split("\n"):
        if line.strip():
            a, b, t = line.split()
            rows.append((f"cm{a}", f"cm{b}", float(t)))
    return _stream_case(sorted(rows, key=lambda r: r[2]), "comment", seed, src)


def wikipedia(base: Path, seed: int, src: Sources) -> World:
    rows = []
    for line in (base / "jodie-wikipedia-edges" / "ml_wikipedia_edges.txt").read_text().split("\n"):
        if line.strip():
            u, page, t = line.split()[:3]
            rows.append((f"wu{u}", f"wp{page}", BASE_TS + float(t)))
    return _stream_case(sorted(rows, key=lambda r: r[2]), "like", seed, src)


def instafake_posts(base: Path, seed: int, src: Sources, accounts: int = 150, posts: int = 12) -> World:
    """Real per-post counts and upload times; each post's likes spread log-normally (median 2 h) after it."""
    rng = np.random.default_rng(seed)
    data = json.loads((base / "instafake" / "nonautomatedAccountData.json").read_text())
    usable = [a for a in data if len(a["mediaUploadTimes"]) >= posts and 0 < np.mean(a["mediaLikeNumbers"]) < 3_000]
    picked = [usable[int(i)] for i in rng.choice(len(usable), size=min(accounts, len(usable)), replace=False)]
    world = World(real_sources=src.real)
    start_of: dict[str, float] = {}
    for k, acc in enumerate(picked):
        cid = f"if{k}"
        order = np.argsort(acc["mediaUploadTimes"])[-posts:]
        world.profiles.append({"account_id": cid, "ts": float(acc["mediaUploadTimes"][order[0]]),
                               "followers": int(acc["userFollowerCount"]), "following": int(acc["userFollowingCount"]),
                               "posts": int(acc["userMediaCount"]), "created_at": None,
                               "bio_len": int(acc["userBiographyLength"]), "has_avatar": None, "is_private": None,
                               "username": None})
        for j in order:
            t0 = float(acc["mediaUploadTimes"][j])
            pid = f"{cid}:p{j}"
            world.events.append({"event_id": f"{pid}:post", "kind": "post", "ts": t0, "actor_id": cid,
                                 "target_id": cid, "post_id": pid, "text": None})
            for kind, n in (("like", acc["mediaLikeNumbers"][j]), ("comment", acc["mediaCommentNumbers"][j])):
                delays = np.minimum(rng.lognormal(math.log(7_200), 1.2, int(n)), 72 * 3_600)
                for m, d in enumerate(delays):
                    world.events.append({"event_id": f"{pid}:{kind}{m}", "kind": kind, "ts": round(t0 + float(d), 3),
                                         "actor_id": f"ifu{int(rng.integers(200_000))}", "target_id": cid,
                                         "post_id": pid, "text": "nice" if kind == "comment" else None})
        times = sorted(float(acc["mediaUploadTimes"][j]) for j in order)
        start_of[cid] = times[len(times) // 2]
    _actor_profiles(world, rng, src)
    chosen = [f"if{int(i)}" for i in rng.choice(len(picked), size=min(2 * INJECT_PER_KIND, len(picked)), replace=False)]
    end_ts = max(e["ts"] for e in world.events)
    _inject(world, rng, src, chosen, {c: start_of[c] for c in chosen}, end_ts)
    for k in range(len(picked)):
        if f"if{k}" not in chosen:
            world.labels.append({"account_id": f"if{k}", "kind": "organic", "class": "organic", "role": "creator",
                                 "group": None, "start_ts": None, "end_ts": None})
    world.events.sort(key=lambda e: (e["ts"], e["event_id"]))
    return world


def fake_profiles(base: Path, seed: int, src: Sources) -> World:
    """Labelled fake and genuine accounts of three datasets as profile snapshots (no events)."""
    world = World(real_sources=src.real)
    for i, r in enumerate(labelled_profiles(base)):
        aid = f"{r.dataset}-{i}"
        world.profiles.append({"account_id": aid, "ts": BASE_TS, "followers": int(r.followers),
                               "following": int(r.following), "posts": int(r.posts), "created_at": None,
                               "bio_len": None if r.bio_len is None else int(r.bio_len), "has_avatar": r.has_avatar,
                               "is_private": r.is_private, "username": None})
        world.labels.append({"account_id": aid, "kind": "bot" if r.fake else "organic",
                             "class": f"fake-{r.dataset}" if r.fake else "organic", "role": "account",
                             "group": None, "start_ts": BASE_TS if r.fake else None, "end_ts": None})
    return world


CASES: dict[str, Callable[[Path, int, Sources], World]] = {
    "real: collegemsg + injected purchases": collegemsg,
    "real: wikipedia + injected purchases": wikipedia,
    "real: instafake posts + injected purchases": instafake_posts,
    "real: fake and genuine profiles": fake_profiles,
}


def available(base: Path | None = None) -> tuple[bool, str]:
    base = base or data_dir()
    needed = ["snap-collegemsg", "jodie-wikipedia-edges", "instafake", "insta-kaggle-fake-spammer", "cresci2017-users"]
    missing = [n for n in needed if not (base / n).is_dir()]
    return (not missing, f"{base} lacks {', '.join(missing)}" if missing else str(base))


def build(name: str, seed: int = 1, base: Path | None = None) -> World:
    base = base or data_dir()
    return CASES[name](base, seed, load_sources(base))


