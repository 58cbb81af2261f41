"""A labelled world of creators, their audiences and fraud, deterministic given (scenario, seed).

Organic parameters and their sources (every one a named constant below):

- followers: log-normal, median 5k (sigma 1.1), clipped to [1k, 10M] (micro creators dominate influencer marketing);
- likes per post: ``followers * LIKE_RATE_1K * (followers / 1k) ** LIKE_RATE_EXP``, i.e. ~8% of followers at
  1k falling to ~1.6% at 10M (Markerly, 2 million Instagram accounts), times a per-creator (sigma 0.4) and a
  per-post (sigma 0.5) log-normal factor;
- comments: 1-5% of likes (per creator);
- likes arrive after a post with a log-normal delay (median 2 h, sigma 1.2, at most 72 h): engagement decays
  over hours; posts at local daytime, creators spread over time zones;
- likers: a shared population with Pareto(1.2) activity, so a few humans like a lot (heavy-tailed);
- follows/unfollows: 0.2% / 0.12% of followers a day, Poisson;
- profiles of every account that acts (the platform snapshots them): people get the real genuine accounts of
  ``instafake``, ``insta-kaggle-fake-spammer`` and
  ``cresci2017-users``; bot profiles: their fake accounts.

Hard negatives (labelled kind ``organic`` with their class, never to be flagged): ``viral`` (one post gets
10-50x usual likes from diverse humans), ``giveaway`` (a comment flood tagging friends), ``featured`` (a
follower jump of 5-20% from real accounts within hours), ``friend_circle`` (5-12 creators who really
engage with each other's posts, often and at human delays), ``fast_grower`` (a new creator gaining 4-8% a
day), ``heavy_liker`` and ``night_owl`` (humans who like a lot, or at night), and ``liker`` (every person of
the organic audience who acts: their activity is Pareto but capped at ``HUMAN_MAX_ACTIONS_PER_DAY``).

Fraud (labelled with kind, class = variant, role, group, start/end): ``purchased_engagement`` and
``purchased_followers`` from real bot-market offers (lot, start delay, speed; orders of at least
:data:`MIN_ORDER`; ``burst`` within :data:`BURST_HOURS` or ``drip`` over :data:`DRIP_DAYS`; bought follows partly
unfollowed later; the bought accounts are fresh, with the real labelled fake profiles);
``pod`` (5-50 micro creators engaging each other's
posts within minutes: ``tight``, ``loose`` (not all members, delays up to an hour), ``camouflaged`` (loose
plus organic audiences), ``round`` (posts dropped into rounds); neighbouring pods may share members; each
member's label also carries ``round_s``, the pod's posting round in seconds, see :meth:`_Sim.round_length`);
``bot`` (automated likers/commenters:
``naive`` fixed 60 s +- 2 s around the clock with "Nice pic!"; ``sophisticated`` jittered, sleeping, templated,
in networks of ``BOT_NETWORK_SIZE`` that share a few campaign texts, the network in the label's ``group``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer

from services.evaluation.sources import Offer, Sources, load_sources
from services.settings import Settings

START_TS = 1_767_571_200.0  # 2026-01-05 00:00 UTC, a Monday
FOLLOWERS_MEDIAN, FOLLOWERS_SIGMA, FOLLOWERS_MIN, FOLLOWERS_MAX = 5_000.0, 1.1, 1_000, 10_000_000
LIKE_RATE_1K, LIKE_RATE_EXP = 0.08, -0.175  # Markerly: 8% at 1k, 1.6% at 10M followers
COMMENT_SHARE = (0.01, 0.05)
POSTS_PER_DAY = (0.4, 1.5)
LIKE_DELAY_MEDIAN_S, LIKE_DELAY_SIGMA, LIKE_DELAY_MAX_S = 7_200.0, 1.2, 72 * 3_600.0
FOLLOW_PER_DAY, UNFOLLOW_PER_DAY = 0.002, 0.0012
ACTIVITY_PARETO = 1.2
#: Most likes and comments a person gives in a day: Instagram blocks accounts at a few hundred actions a day,
#: so the Pareto tail of human activity is cut there (beyond it the "person" would be a bot).
HUMAN_MAX_ACTIONS_PER_DAY = 400.0
#: People of the organic audience sleep from midnight to this local hour.
WAKE_HOUR = 7.0
SCENARIOS = ("organic", "pods", "bots", "purchased_engagement", "purchased_followers", "mixed")
COMMENT_WORDS = ("love", "this", "so", "good", "amazing", "wow", "beautiful", "need", "want", "great", "shot",
                 "where", "is", "that", "omg", "yes", "perfect", "vibes", "look", "cute", "nice", "hair", "dress",
                 "recipe", "trip", "view", "haha", "same", "goals", "congrats", "happy", "for", "you")
BOT_TEMPLATES = ("Nice pic!", "Great post!", "Awesome!", "Love it!", "🔥🔥🔥", "😍😍", "👏👏👏", "Amazing content!")
#: Campaign texts of bot networks (spam and fake-ambassador offers, as in the cresci-2017 social spambots, which
#: pushed the same texts and links from many accounts); each network fills in its own handle and product.
CAMPAIGN_TEXTS = ("Check my page for a {item} collab 💰", "Send this to @{handle} to be featured!",
                  "We love your feed, DM @{handle} for a collab", "Want more followers? Visit @{handle} now",
                  "Your style fits our {item} ambassador program, DM us", "Free {item} giveaway on @{handle} go now")
GIVEAWAY_PHRASES = ("count me in please", "I want to win this", "done and shared with my friends")
CAMPAIGN_ITEMS = ("watch", "sneaker", "skincare", "crypto", "fitness", "jewelry", "coffee", "travel")
#: Sophisticated bots come in networks of this many accounts run by one operator with a few campaign texts.
BOT_NETWORK_SIZE = 8
#: Share of a sophisticated bot's comments that are its network's campaign texts (the rest: generic templates,
#: or a template with random words).
CAMPAIGN_SHARE = 0.3


#: Smallest order a simulated buyer places: the offers' lots start at 1, but fewer than 100 likes or followers move
#: no figure a brand reads (a post of a 5k-follower creator gets ~300 likes), so nobody buys them to deceive one.
MIN_ORDER = 100
#: A drip-feed order is spread over this many days (vendors' "gradual" delivery option).
DRIP_DAYS = (1.0, 3.0)
#: A burst order is delivered within this many hours, or faster at the offer's speed.
BURST_HOURS = (0.5, 3.0)


def deliver(rng: np.random.Generator, offer: Offer, lot: int, order_ts: float, drip: bool
            ) -> tuple[np.ndarray, float]:
    """Delivery times of a bought lot: the offer's start delay and speed; a burst is cut to at most
    :data:`BURST_HOURS`, a drip-feed spread over :data:`DRIP_DAYS`. Returns the sorted times and the end of the
    delivery window."""
    start = order_ts + rng.uniform(*offer.start_delay_h) * 3_600
    duration = lot / rng.uniform(*offer.speed_per_day) * 86_400
    if drip:
        duration = float(np.clip(duration, DRIP_DAYS[0] * 86_400, rng.uniform(*DRIP_DAYS) * 86_400))
    else:
        duration = min(duration, rng.uniform(*BURST_HOURS) * 3_600)
    return np.sort(start + rng.random(lot) * duration), start + duration


@dataclass
class World:
    events: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    real_sources: bool = True

    def sorted_events(self) -> list[dict[str, Any]]:
        return sorted(self.events, key=lambda e: (e["ts"], e["event_id"]))


@dataclass(eq=False)  # identity semantics: creators are keys of role maps
class Creator:
    account_id: str
    followers: int
    tz_h: float
    like_factor: float
    comment_share: float
    posts_per_day: float
    posts: list[tuple[str, float]] = field(default_factory=list)
    rounds: np.ndarray | None = None  # round-based pod: posts are dropped at these times


class _Sim:
    def __init__(self, seed: int, days: float, n_creators: int, sources: Sources) -> None:
        self.rng = np.random.default_rng(seed)
        self.days = days
        self.end = START_TS + days * 86_400
        self.src = sources
        self.world = World(real_sources=sources.real)
        self.n_users = max(2_000, n_creators * 60)
        act = self.rng.pareto(ACTIVITY_PARETO, self.n_users) + 1.0
        self.user_tz = self.rng.uniform(-8, 9, self.n_users)
        self.seq = 0
        self.creators = [self._creator(f"c{i:05d}") for i in range(n_creators)]
        # organic likes and comments a day, all users together; no user may take more than a person can give
        per_day = sum(self.expected_likes(c) * c.posts_per_day * (1 + c.comment_share) for c in self.creators)
        for _ in range(3):  # capping raises everyone else's share a little: settle it
            act = np.minimum(act, HUMAN_MAX_ACTIONS_PER_DAY / per_day * act.sum())
        self.user_p = act / act.sum()

    # --- helpers --------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq}"

    def ev(self, kind: str, ts: float, actor: str, target: str, post: str | None = None,
           text: str | None = None) -> None:
        if START_TS <= ts < self.end:
            self.world.events.append({"event_id": self._id("e"), "kind": kind, "ts": round(float(ts), 3),
                                      "actor_id": actor, "target_id": target, "post_id": post, "text": text})

    def label(self, account: str, kind: str, cls: str, role: str, group: str | None = None,
              start: float | None = None, end: float | None = None, extra: dict[str, Any] | None = None) -> None:
        self.world.labels.append({"account_id": account, "kind": kind, "class": cls, "role": role,
                                  "group": group, "start_ts": None if start is None else round(float(start), 3),
                                  "end_ts": None if end is None else round(float(end), 3), **(extra or {})})

    def awake(self, users: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """People sleep: an action that would fall between 00:00 and 07:00 in the person's time zone happens
        after they wake up (07:00 plus up to an hour) instead."""
        hour = (ts / 3_600 + self.user_tz[users]) % 24
        asleep = hour < WAKE_HOUR
        return np.where(asleep, ts + (WAKE_HOUR - hour) * 3_600 + self.rng.uniform(0, 3_600, ts.shape[0]), ts)

    def users(self, n: int) -> np.ndarray:
        return self.rng.choice(self.n_users, size=n, p=self.user_p)

    def comment_text(self) -> str:
        k = int(self.rng.integers(1, 7))
        return " ".join(self.rng.choice(COMMENT_WORDS, size=k))

    def _creator(self, cid: str, followers: int | None = None) -> Creator:
        f = followers or int(np.clip(self.rng.lognormal(math.log(FOLLOWERS_MEDIAN), FOLLOWERS_SIGMA),
                                     FOLLOWERS_MIN, FOLLOWERS_MAX))
        return Creator(cid, f, float(self.rng.uniform(-8, 9)), float(self.rng.lognormal(0, 0.4)),
                       float(self.rng.uniform(*COMMENT_SHARE)), float(self.rng.uniform(*POSTS_PER_DAY)))

    def expected_likes(self, c: Creator) -> float:
        return float(c.followers * LIKE_RATE_1K * (c.followers / 1_000) ** LIKE_RATE_EXP * c.like_factor)

    def profile(self, account: str, row: np.ndarray, followers: int | None = None) -> None:
        self.world.profiles.append({
            "account_id": account, "ts": START_TS, "followers": int(followers if followers is not None else row[0]),
            "following": int(row[1]), "posts": int(row[2]), "created_at": None, "bio_len": int(row[3]),
            "has_avatar": bool(row[4]), "is_private": None, "username": None})

    # --- organic --------------------------------------------------------------------------------
    def organic_creator(self, c: Creator, like_mult: Callable[[int], float] = lambda _: 1.0) -> None:
        self.profile(c.account_id, self.src.genuine[self.rng.integers(len(self.src.genuine))], c.followers)
        n_posts = self.rng.poisson(c.posts_per_day * self.days)
        days = self.rng.uniform(0, self.days, n_posts).astype(int)
        local_h = self.rng.uniform(8, 23, n_posts)
        times = np.sort(START_TS + days * 86_400 + (local_h - c.tz_h) * 3_600)
        if c.rounds is not None:  # a round-based pod member posts when the next round opens
            times = np.sort(c.rounds[np.minimum(np.searchsorted(c.rounds, times), len(c.rounds) - 1)]
                            + self.rng.uniform(0, 600, len(times)))
        for j, t in enumerate(times):
            pid = f"{c.account_id}:p{j}"
            c.posts.append((pid, float(t)))
            self.ev("post", t, c.account_id, c.account_id, pid)
            n_likes = self.rng.poisson(self.expected_likes(c) * self.rng.lognormal(-0.125, 0.5) * like_mult(j))
            self.engage(c, pid, t, n_likes, c.comment_share)
        for kind, rate in (("follow", FOLLOW_PER_DAY), ("unfollow", UNFOLLOW_PER_DAY)):
            n = self.rng.poisson(c.followers * rate * self.days)
            us = self.users(n)
            for u, t in zip(us, self.awake(us, self.rng.uniform(START_TS, self.end, n)), strict=True):
                self.ev(kind, t, f"u{u}", c.account_id)

    def engage(self, c: Creator, pid: str, t: float, n_likes: int, comment_share: float,
               delay_median: float = LIKE_DELAY_MEDIAN_S) -> None:
        delays = np.minimum(self.rng.lognormal(math.log(delay_median), LIKE_DELAY_SIGMA, n_likes), LIKE_DELAY_MAX_S)
        us = self.users(n_likes)
        for u, ts in zip(us, self.awake(us, t + delays), strict=True):
            self.ev("like", ts, f"u{u}", c.account_id, pid)
        n_com = self.rng.binomial(n_likes, comment_share)
        delays = np.minimum(self.rng.lognormal(math.log(delay_median), LIKE_DELAY_SIGMA, n_com), LIKE_DELAY_MAX_S)
        us = self.users(n_com)
        for u, ts in zip(us, self.awake(us, t + delays), strict=True):
            self.ev("comment", ts, f"u{u}", c.account_id, pid, self.comment_text())

    # --- purchases (real bot-market offers) -----------------------------------------------------
    def offer(self, action: str) -> Offer:
        offers = [o for o in self.src.offers if o.action == action and o.lot * 5 >= MIN_ORDER]
        return offers[int(self.rng.integers(len(offers)))]

    def purchase(self, c: Creator, kind: str, drip: bool) -> None:
        action = "follow"
        if kind == "purchased_engagement":  # most buy likes; some buy comments (generic, from bots)
            action = "comment" if self.rng.random() < 0.25 else "like"
        o = self.offer(action)
        lot = max(MIN_ORDER, int(o.lot * self.rng.choice([1, 2, 5]) if o.lot < 1_000 else o.lot))
        order_ts = START_TS + self.rng.uniform(0.45, 0.7) * self.days * 86_400
        post = None
        if action != "follow":
            eligible = [p for p in c.posts if p[1] < order_ts]
            if not eligible:
                return
            post, posted = eligible[-1]
            order_ts = max(order_ts, posted)
        times, delivered = deliver(self.rng, o, lot, order_ts, drip)
        bots = [self._id("b") for _ in range(lot)]
        for b, t in zip(bots, times, strict=True):
            text = BOT_TEMPLATES[int(self.rng.integers(len(BOT_TEMPLATES)))] if action == "comment" else None
            self.ev(action, t, b, c.account_id, post, text)
        for b in bots:  # the platform snapshots every account that engages
            self.profile(b, self.src.fake[self.rng.integers(len(self.src.fake))])
        if action == "follow" and o.drop_pct > 0:  # bought followers leave again over the following days
            n_drop = int(lot * self.rng.uniform(0.2, 1.0) * o.drop_pct)
            for b, t in zip(bots[:n_drop], delivered + self.rng.uniform(0, 4 * 86_400, n_drop), strict=True):
                self.ev("unfollow", t, b, c.account_id)
        self.label(c.account_id, kind, "drip" if drip else "burst", "buyer", None, float(times[0]),
                   float(times[-1]))

    # --- hard negatives -------------------------------------------------------------------------
    def hard_negative(self, c: Creator, cls: str) -> None:
        start = None
        if cls == "viral":
            k = max(1, len(c.posts) // 2)
            mult = float(self.rng.uniform(10, 50))
            if len(c.posts) > k:
                pid, t = c.posts[k]
                self.engage(c, pid, t, self.rng.poisson(self.expected_likes(c) * (mult - 1)), c.comment_share, 3_600)
                start = t
        elif cls == "giveaway" and c.posts:
            pid, t = c.posts[len(c.posts) // 2]
            # half the giveaways ask for one phrase ("comment 'count me in please'"): the same words from many
            # people, once each (a hard negative for the copied-comments rule of the bot detector)
            phrase = str(self.rng.choice(GIVEAWAY_PHRASES)) if self.rng.random() < 0.5 else None
            for u in self.users(int(self.expected_likes(c) * self.rng.uniform(1, 4))):
                friends = " ".join(f"@u{f}" for f in self.users(int(self.rng.integers(1, 4))))
                text = phrase if phrase and self.rng.random() < 0.7 else f"{friends} {self.comment_text()}"
                self.ev("comment", t + self.rng.lognormal(math.log(3_600), 1.0), f"u{u}", c.account_id, pid, text)
            start = t
        elif cls == "featured":
            start = START_TS + self.rng.uniform(0.4, 0.8) * self.days * 86_400
            n = int(c.followers * self.rng.uniform(0.05, 0.2))
            us = self.users(n)
            for u, ts in zip(us, self.awake(us, start + self.rng.exponential(3 * 3_600, n)), strict=True):
                self.ev("follow", ts, f"u{u}", c.account_id)
        self.label(c.account_id, "organic", cls, "creator", None, start, None)

    def heavy_humans(self, n: int, cls: str) -> None:
        """Humans who like a lot (or at night): bursts of sessions, human gaps, sleep."""
        for _ in range(n):
            uid = self._id("h")
            self.profile(uid, self.src.genuine[self.rng.integers(len(self.src.genuine))])
            tz = self.rng.uniform(-8, 9)
            for day in range(int(self.days)):
                awake = (self.rng.uniform(20, 24) if cls == "night_owl" else self.rng.uniform(8, 12))
                for _s in range(int(self.rng.integers(2, 6))):
                    t = START_TS + day * 86_400 + (awake + self.rng.uniform(0, 10) - tz) * 3_600
                    for _k in range(int(self.rng.integers(10, 60))):
                        c = self.creators[int(self.rng.integers(len(self.creators)))]
                        t += self.rng.lognormal(math.log(20), 1.0)
                        pid = c.posts[int(self.rng.integers(len(c.posts)))][0] if c.posts else None
                        self.ev("like", t, uid, c.account_id, pid)
            self.label(uid, "organic", cls, "actor")

    # --- groups: pods and friend circles --------------------------------------------------------
    def group_engagement(self, members: list[Creator], p_engage: float, delay_s: tuple[float, float],
                         comment_p: float) -> None:
        for c in members:
            for pid, t in c.posts:
                for m in members:
                    if m is not c and self.rng.random() < p_engage:
                        d = self.rng.uniform(*delay_s)
                        self.ev("like", t + d, m.account_id, c.account_id, pid)
                        if self.rng.random() < comment_p:
                            self.ev("comment", t + d + self.rng.uniform(5, 120), m.account_id, c.account_id, pid,
                                    self.comment_text())

    def pod(self, members: list[Creator], variant: str, gid: str) -> None:
        if variant == "round":  # posts were dropped into rounds (organic_creator): everyone engages all
            self.group_engagement(members, 0.95, (60, 1_800), 0.6)
        elif variant == "tight":
            self.group_engagement(members, 0.95, (30, 600), 0.7)
        else:  # loose and camouflaged: not every member, delays up to an hour
            self.group_engagement(members, float(self.rng.uniform(0.5, 0.8)), (60, 3_600), 0.5)
        first = min(t for c in members for _, t in c.posts) if any(c.posts for c in members) else None
        round_s = self.round_length(members)
        for c in members:
            self.label(c.account_id, "pod", variant, "member", gid, first, None, {"round_s": round_s})

    def round_length(self, members: list[Creator]) -> float | None:
        """A pod's posting round in seconds, the unit of its detection latency (no random numbers drawn).

        The median, over the members with at least two posts in the world (post events inside its span of
        event time), of that span divided by the member's posts: the typical interval between one member's
        posts. The same for a ``round`` pod: its members post at most once per round, and the rounds they do
        post in, not the rounds offered, make the pace. ``None`` when no member qualifies.
        """
        span = self.end - START_TS
        counts = [sum(START_TS <= t < self.end for _, t in c.posts) for c in members]
        lengths = [span / k for k in counts if k >= 2]
        return round(float(np.median(lengths)), 3) if lengths else None

    # --- bots -----------------------------------------------------------------------------------
    def campaign(self) -> tuple[str, ...]:
        """The campaign texts of one bot network: three of :data:`CAMPAIGN_TEXTS` with its handle and product."""
        handle = f"{self.rng.choice(['promo', 'brand', 'shop', 'deals'])}_{int(self.rng.integers(100, 999))}"
        item = str(self.rng.choice(CAMPAIGN_ITEMS))
        picks = self.rng.choice(len(CAMPAIGN_TEXTS), size=3, replace=False)
        return tuple(CAMPAIGN_TEXTS[int(i)].format(handle=handle, item=item) for i in picks)

    def bot(self, variant: str, network: str | None = None, campaign: tuple[str, ...] = ()) -> None:
        bid = self._id("bot")
        self.profile(bid, self.src.fake[self.rng.integers(len(self.src.fake))])
        t = START_TS + self.rng.uniform(0, 0.3) * self.days * 86_400
        first = t
        tz = self.rng.uniform(-8, 9)
        posts = [(c, p) for c in self.creators for p in c.posts]
        while t < self.end and posts:
            c, (pid, _) = posts[int(self.rng.integers(len(posts)))]
            if variant == "naive":
                t += 60 + self.rng.uniform(-2, 2)
                text = BOT_TEMPLATES[int(self.rng.integers(len(BOT_TEMPLATES)))]
            else:
                t += self.rng.lognormal(math.log(240), 0.6)
                hour = ((t / 3_600 + tz) % 24)
                if hour < 7:  # sleeps
                    t += (7 - hour) * 3_600 + self.rng.uniform(0, 3_600)
                base = BOT_TEMPLATES[int(self.rng.integers(len(BOT_TEMPLATES)))]
                text = base + " " + self.comment_text() if self.rng.random() < 0.5 else base
                if campaign and self.rng.random() < CAMPAIGN_SHARE:
                    text = campaign[int(self.rng.integers(len(campaign)))]
            kind = "comment" if self.rng.random() < 0.15 else "like"
            self.ev(kind, t, bid, c.account_id, pid, text if kind == "comment" else None)
            if variant == "naive" and self.rng.random() < 0.05:
                self.ev("follow", t + 1, bid, c.account_id)
        self.label(bid, "bot", variant, "actor", network, first, None)


def simulate(scenario: str, seed: int, scale: float = 1.0, days: float = 5.0, sources: Sources | None = None
             ) -> World:
    """Build the labelled world of ``scenario`` (one of :data:`SCENARIOS`); same inputs, same world."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    n = max(40, int((1_500 if scenario == "mixed" else 300) * scale))
    sim = _Sim(seed * 1_000 + SCENARIOS.index(scenario), days, n, sources or load_sources())
    rng = sim.rng
    cs = sim.creators
    order = list(rng.permutation(len(cs)))

    def take(k: int) -> list[Creator]:
        return [cs[int(order.pop())] for _ in range(min(k, len(order)))]

    mixed = scenario == "mixed"
    hard: dict[Creator, str] = {}
    if mixed:
        for cls, share in (("viral", 0.02), ("giveaway", 0.01), ("featured", 0.01), ("fast_grower", 0.01)):
            for c in take(max(2, int(share * n))):
                hard[c] = cls
        for c in [c for c, cls in hard.items() if cls == "fast_grower"]:
            c.followers = int(rng.uniform(1_000, 3_000))
    pods: list[tuple[list[Creator], str, str]] = []
    if scenario in ("pods", "mixed"):
        for i, variant in enumerate(("tight", "loose", "camouflaged", "round") * (2 if mixed else 1)):
            # 5 to 50 members, fewer in small worlds so every variant still gets a pod
            members = take(int(rng.integers(5, max(6, min(51 if mixed else 30, n // 12)))))
            for c in members:  # pods are micro creators
                c.followers = int(rng.uniform(1_000, 30_000))
                if variant == "round":
                    c.rounds = np.sort(rng.uniform(START_TS, START_TS + days * 86_400, int(days * 2)))
            pods.append((members, variant, f"pod{i}"))
        for k, ((a, _, _), (b, _, _)) in enumerate(zip(pods, pods[1:], strict=False)):
            if k % 2 == 0 and len(a) > 3:  # overlapping pods: two members of one are in the next too
                b.extend(a[:2])
    circles = [take(int(rng.integers(5, 13))) for _ in range(4 if mixed else 0)]
    buyers: list[tuple[Creator, str, bool]] = []
    for kind in ("purchased_engagement", "purchased_followers"):
        if scenario in (kind, "mixed"):
            k = max(4, int(0.02 * n)) if mixed else max(8, int(0.08 * n))
            buyers += [(c, kind, i % 2 == 1) for i, c in enumerate(take(k))]
    for c in cs:
        grow = hard.get(c) == "fast_grower"
        sim.organic_creator(c, (lambda j: 1.0 + 0.08 * j) if grow else (lambda _: 1.0))
        if grow:  # a new creator gaining 4-8% followers a day, from real humans, all week long
            rate = float(rng.uniform(0.04, 0.08))
            n_new = int(c.followers * ((1 + rate) ** days - 1))
            for u, t in zip(sim.users(n_new), rng.uniform(START_TS, START_TS + days * 86_400, n_new), strict=True):
                sim.ev("follow", float(t), f"u{u}", c.account_id)
        if c not in hard and not any(c in p[0] for p in pods):
            sim.label(c.account_id, "organic", "organic", "creator")
    for c, cls in hard.items():
        sim.hard_negative(c, cls)
    for members, variant, gid in pods:
        sim.pod(members, variant, gid)
    for i, members in enumerate(circles):
        sim.group_engagement(members, 0.35, (1_800, 6 * 3_600), 0.3)
        for c in members:
            sim.world.labels = [lb for lb in sim.world.labels if lb["account_id"] != c.account_id]
            sim.label(c.account_id, "organic", "friend_circle", "creator", f"circle{i}")
    for c, kind, drip in buyers:
        sim.purchase(c, kind, drip)
    if mixed:
        sim.heavy_humans(max(3, n // 150), "heavy_liker")
        sim.heavy_humans(max(3, n // 150), "night_owl")
    if scenario in ("bots", "mixed"):
        campaigns: dict[str, tuple[str, ...]] = {}
        for i in range(max(6, n // (10 if scenario == "bots" else 30))):
            if i % 2 == 0:
                sim.bot("naive")
                continue
            net = f"botnet{(i // 2) // BOT_NETWORK_SIZE}"
            sim.bot("sophisticated", net, campaigns.setdefault(net, sim.campaign()))
    labelled = {lb["account_id"] for lb in sim.world.labels}
    for u in sorted({e["actor_id"] for e in sim.world.events if e["actor_id"][0] == "u"} - labelled):
        sim.label(u, "organic", "liker", "actor")  # the organic audience: people who like, comment and follow
        sim.profile(u, sim.src.genuine[sim.rng.integers(len(sim.src.genuine))])  # snapshotted like everyone
    sim.world.events = sim.world.sorted_events()
    return sim.world


def write_world(world: World, out: Path) -> None:
    """``events.jsonl`` (event-time order), ``profiles.jsonl`` and ``labels.jsonl`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("events", world.events), ("profiles", world.profiles), ("labels", world.labels)):
        with (out / f"{name}.jsonl").open("wb") as f:
            for row in rows:
                f.write(orjson.dumps(row) + b"\n")


async def stream_world(world: World, settings: Settings, speed: float, batch_wall_s: float = 0.5) -> int:
    """Play the world into the events/profiles topics, event time ``speed`` times faster than the clock.

    Each Kafka message is a JSON array of the events of one target account in one slice of
    ``batch_wall_s`` wall seconds, keyed by that account (so the batch stays on one partition).
    """
    producer = AIOKafkaProducer(**settings.kafka_client_kwargs(), linger_ms=20,
                                max_request_size=settings.max_message_bytes)
    await producer.start()
    try:
        for p in world.profiles:
            await producer.send(settings.topic("profiles"), orjson.dumps(p), key=p["account_id"].encode())
        if not world.events:
            return 0
        t0_event, t0_wall = world.events[0]["ts"], time.monotonic()
        slice_s = batch_wall_s * speed
        i, n = 0, len(world.events)
        while i < n:
            end = world.events[i]["ts"] + slice_s
            by_target: dict[str, list[dict[str, Any]]] = {}
            while i < n and world.events[i]["ts"] < end:
                e = world.events[i]
                by_target.setdefault(e["target_id"], []).append(e)
                i += 1
            due = t0_wall + (end - slice_s - t0_event) / speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            for target, evs in by_target.items():
                for k in range(0, len(evs), 2_000):  # stay far below the message size limit
                    await producer.send(settings.topic("events"), orjson.dumps(evs[k : k + 2_000]),
                                        key=target.encode())
        await producer.flush()
        return n
    finally:
        await producer.stop()
