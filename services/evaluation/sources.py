"""Real public data the simulator draws from (by path, never copied): ``../shared/data``.

- ``instafake``, ``insta-kaggle-fake-spammer``, ``cresci2017-users``: genuine and fake profiles
  (follower/following/post counts, bio length, avatar) for follower and bot profiles;
- ``botmarket-mk``: 2021 bot-market offers for Instagram likes, comments and follows, with lot size,
  start delay, delivery speed and announced drop-off, for purchased-engagement attacks.

When the folder is absent, :func:`load_sources` returns parametric stand-ins and says so
(``Sources.real`` is False); the eval report prints which one was used.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("TRUSTREAM_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Offer:
    """One bot-market offer: ``action`` in like/comment/follow; delays in hours, speed in units per day."""

    action: str
    lot: int
    start_delay_h: tuple[float, float]
    speed_per_day: tuple[float, float]
    drop_pct: float


@dataclass(frozen=True)
class Sources:
    genuine: np.ndarray  # (n, 5) followers, following, posts, bio_len, has_avatar
    fake: np.ndarray  # same columns
    offers: tuple[Offer, ...]
    real: bool


_ACTIONS = {"like": "like", "comment": "comment", "participate": "follow"}


def parse_offer(descr: str, available: str, action: str) -> Offer | None:
    """Parse the Russian offer text: "Запуск 0-2 час" (start), "Скорость до 2000 ед/сутки" (speed)."""
    if action not in _ACTIONS:
        return None
    start = re.search(r"Запуск\s*(\d+)(?:\s*-\s*(\d+))?\s*(час|мин)", descr)
    speed = re.search(r"Скорость\s*(?:до\s*)?(\d[\d\s]*)(?:\s*-\s*(\d[\d\s]*))?\s*ед", descr)
    drop = re.search(r"(?:списания|отписок)\s*до\s*(\d+)\s*%", descr)
    try:
        lot = int(float(available))
    except ValueError:
        return None
    if lot <= 0:
        return None
    lo_h = hi_h = 0.0
    if start:
        unit = 1.0 if start.group(3) == "час" else 1 / 60
        lo_h = float(start.group(1)) * unit
        hi_h = float(start.group(2) or start.group(1)) * unit
    if speed:
        lo_s = float(speed.group(1).replace(" ", ""))
        hi_s = float((speed.group(2) or speed.group(1)).replace(" ", ""))
        speeds = (min(lo_s, hi_s), max(lo_s, hi_s)) if speed.group(2) else (hi_s / 4, hi_s)
    else:
        speeds = (lot / 2.0, float(lot))  # unstated: about a day
    return Offer(_ACTIONS[action], lot, (lo_h, hi_h), speeds, float(drop.group(1)) / 100 if drop else 0.0)


@dataclass(frozen=True)
class LabelledProfile:
    """One real account of a labelled dataset; ``bio_len`` and ``has_avatar`` may be unknown."""

    dataset: str
    fake: bool
    followers: float
    following: float
    posts: float
    bio_len: float | None
    has_avatar: bool | None
    is_private: bool | None


def labelled_profiles(base: Path) -> list[LabelledProfile]:
    """Every labelled account of instafake, insta-kaggle-fake-spammer and cresci-2017, in file order."""
    out: list[LabelledProfile] = []
    for fname, fake in (("fakeAccountData.json", True), ("realAccountData.json", False)):
        for r in json.loads((base / "instafake" / fname).read_text()):
            out.append(LabelledProfile("instafake", fake, r["userFollowerCount"], r["userFollowingCount"],
                                       r["userMediaCount"], r["userBiographyLength"], bool(r["userHasProfilPic"]),
                                       bool(r["userIsPrivate"])))
    for split in ("train.csv", "test.csv"):
        with (base / "insta-kaggle-fake-spammer" / split).open(newline="") as f:
            for r in csv.DictReader(f):
                out.append(LabelledProfile("kaggle", r["fake"] == "1", float(r["#followers"]), float(r["#follows"]),
                                           float(r["#posts"]), float(r["description length"]),
                                           r["profile pic"] == "1", r["private"] == "1"))
    for fname, fake in (("geniune_accounts.csv", False), ("social_spambots_1.csv", True),
                        ("social_spambots_2.csv", True), ("social_spambots_3.csv", True)):
        with (base / "cresci2017-users" / fname).open(newline="", encoding="utf-8", errors="replace") as f:
            for r in csv.DictReader(f):
                try:
                    counts = (float(r["followers_count"] or 0), float(r["friends_count"] or 0),
                              float(r["statuses_count"] or 0))
                except ValueError:
                    continue  # a malformed row of the source file
                out.append(LabelledProfile("cresci2017", fake, *counts, None,
                                           r.get("default_profile_image") not in ("1", "True"), None))
    return out


def _matrix(rows: list[LabelledProfile]) -> np.ndarray:
    return np.array([[r.followers, r.following, r.posts, r.bio_len if r.bio_len is not None else 0.0,
                      1.0 if r.has_avatar is None else float(r.has_avatar)] for r in rows], dtype=np.float64)


def load_sources(base: Path | None = None) -> Sources:
    base = base or data_dir()
    try:
        rows = labelled_profiles(base)  # follower and bot profiles from all three labelled datasets
        genuine = _matrix([r for r in rows if not r.fake])
        fake = _matrix([r for r in rows if r.fake])
        offers = []
        with (base / "botmarket-mk" / "MKMARKET2021_rent.csv").open(newline="") as f:
            for row in csv.DictReader(f):
                if row["sn"] == "instagram":
                    o = parse_offer(row["descr"], row["available"], row["action"])
                    if o is not None:
                        offers.append(o)
        return Sources(genuine, fake, tuple(offers), True)
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        genuine = np.column_stack([rng.lognormal(5.5, 1.5, 1000), rng.lognormal(5.8, 1.0, 1000),
                                   rng.lognormal(3.5, 1.5, 1000), rng.integers(0, 150, 1000),
                                   rng.random(1000) < 0.95])
        fake = np.column_stack([rng.lognormal(2.5, 1.5, 200), rng.lognormal(7.0, 1.0, 200),
                                rng.lognormal(0.5, 1.0, 200), rng.integers(0, 5, 200), rng.random(200) < 0.5])
        offers = [Offer(a, lot, (0.0, 6.0), (lot / 2.0, float(lot)), 0.2)
                  for a in ("like", "follow", "comment") for lot in (100, 500, 1000, 5000)]
        return Sources(genuine, fake, tuple(offers), False)
