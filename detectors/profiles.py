"""Profile-level fake score: P(fake) of an account from its profile snapshot alone.

Inputs are ONLY the fields of the wire contract's :class:`schemas.wire.ProfileSnapshot` (``followers``,
``following``, ``posts``, ``ts``, and the optional ``created_at``, ``has_avatar``, ``bio_len``,
``is_private``, ``username``), as :class:`SnapshotColumns` (numpy float arrays, NaN for null; booleans as
1/0/NaN; the username enters as its length and digit share). :func:`columns_from_snapshots` builds them.

Features (:data:`FEATURES`, vectorised in :func:`features`): followers, following, posts,
``follow_ratio`` = (following+1)/(followers+1), bio_len, has_avatar, is_private, username_len,
username_digits, username_digit_share, ``age_days`` = (ts - created_at)/86400, ``posts_per_day`` and
``followers_per_day`` (per day of age, age floored at 1 day). Counts are used raw: the model is a tree
ensemble, so monotone transforms (log1p) would not change it, and raw thresholds are easier to read.

Model: gradient-boosted depth-2 trees on the logistic loss (Newton leaves, L2-shrunk), each split
*ternary*: ``x <= le`` -> ``lo``, ``x > le`` -> ``hi``, null -> ``na``. The parameter file
(``detectors/models/profile_model.json``, one tree per line) is the whole model: a base log-odds and the
trees, with the training configuration and cross-validated AUCs in ``meta``. Scoring walks every tree
for every row at once (numpy, no numba); a batch of one costs well under a millisecond.

Missing fields: every optional field has its own ``na`` branch at every split on it, learned from data
where it is null. The training datasets lack different fields (instafake and kaggle have no
``created_at``; kaggle has no username length; cresci-2017 has everything), and the training set is
augmented with a copy of every account whose optional fields are independently nulled with probability
1/2, so each ``na`` branch learns the average over accounts that *do* have the field rather than one
dataset's quirks. A snapshot with every optional field null is scored from its counts only: finite, and
less confident (out-of-fold mean |P - 1/2| on instafake 0.46 -> 0.40). NaN in a required count takes the
same ``na`` branches (a leaf never trained on nulls adds 0).

Training (``make train`` = ``python -m services.evaluation.train_profiles --seed 0``, ~15 s): the real
labelled accounts of ``../shared/data``: instafake (1,194: 200 fake), insta-kaggle-fake-spammer (696: 348
fake) and cresci-2017 users (8,386: 4,912 spambots; Twitter, a different platform), pooled with every
dataset given equal total weight and both classes equal weight within each dataset: the score is P(fake)
for a 50/50 prior. 200 trees, learning rate 0.1, L2 1, row subsample 0.8, thresholds from up to 32
quantiles per feature. Same seed -> byte-identical parameter file.

AUCs measured (seed 0; full tables in ``eval/PROFILE_MODEL.md``):

- 5-fold stratified CV within each dataset: instafake 0.991, kaggle 0.984, cresci-2017 0.991;
- the shipped recipe (three pooled), 5-fold CV scored per dataset: instafake 0.992, kaggle 0.985,
  cresci-2017 0.988; with every optional field nulled at test time: 0.990, 0.955, 0.958;
- across datasets it is weaker, sometimes far weaker: instafake -> kaggle 0.970, -> cresci 0.903;
  kaggle -> instafake 0.979, -> cresci 0.846; cresci -> instafake 0.575, -> kaggle 0.370 (reversed); any two
  -> the third: instafake 0.986, kaggle 0.923, cresci 0.858. Expect the cross-dataset figures, not the CV
  ones, on accounts unlike all three datasets. ``age_days`` is learned from cresci-2017 only, whose genuine
  accounts were crawled a year after its bots, so part of that signal is an artefact of collection.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from schemas.wire import ProfileSnapshot

DEFAULT_PATH = Path(__file__).resolve().parent / "models" / "profile_model.json"
FORMAT = "trustream-profile-model/1"

#: Model inputs, in column order of :func:`features`.
FEATURES: tuple[str, ...] = (
    "followers", "following", "posts", "follow_ratio", "bio_len", "has_avatar", "is_private",
    "username_len", "username_digits", "username_digit_share", "age_days", "posts_per_day",
    "followers_per_day",
)

#: Optional wire fields -> the :class:`SnapshotColumns` fields carrying them (all NaN when null).
OPTIONAL: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at",),
    "has_avatar": ("has_avatar",),
    "bio_len": ("bio_len",),
    "is_private": ("is_private",),
    "username": ("username_len", "username_digit_share"),
}

_DIGITS = frozenset("0123456789")
_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class SnapshotColumns:
    """Profile snapshots as float64 columns, NaN where the wire field is null (booleans: 1.0/0.0/NaN).

    ``username`` is carried as its length and its share of ASCII digits (0 for an empty name), so that
    datasets publishing only those numbers can be used too.
    """

    followers: np.ndarray
    following: np.ndarray
    posts: np.ndarray
    ts: np.ndarray
    created_at: np.ndarray
    has_avatar: np.ndarray
    bio_len: np.ndarray
    is_private: np.ndarray
    username_len: np.ndarray
    username_digit_share: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.followers)
        for f in fields(self):
            a = np.asarray(getattr(self, f.name), dtype=np.float64).reshape(-1)
            if len(a) != n:
                raise ValueError(f"column {f.name} has {len(a)} rows, followers has {n}")
            object.__setattr__(self, f.name, a)

    @classmethod
    def build(cls, followers: Any, following: Any, posts: Any, **optional: Any) -> SnapshotColumns:
        """Columns from array-likes; any column not given (``ts`` included) is all null."""
        n = len(np.asarray(followers).reshape(-1))
        names = {f.name for f in fields(cls)} - {"followers", "following", "posts"}
        unknown = set(optional) - names
        if unknown:
            raise TypeError(f"unknown columns: {sorted(unknown)}")
        cols = {k: optional.get(k, np.full(n, np.nan)) for k in sorted(names)}
        return cls(followers=followers, following=following, posts=posts, **cols)

    def __len__(self) -> int:
        return len(self.followers)

    def take(self, idx: np.ndarray) -> SnapshotColumns:
        """The rows ``idx`` (indices or a boolean mask)."""
        return SnapshotColumns(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def without(self, mask: Mapping[str, np.ndarray | bool]) -> SnapshotColumns:
        """A copy with optional wire fields nulled: ``{"bio_len": rows_or_True, ...}`` (keys of OPTIONAL)."""
        out: dict[str, np.ndarray] = {}
        for wire, rows in mask.items():
            for name in OPTIONAL[wire]:
                a = out.get(name, getattr(self, name)).copy()
                a[rows] = np.nan
                out[name] = a
        return replace(self, **out)

    @staticmethod
    def concat(parts: Sequence[SnapshotColumns]) -> SnapshotColumns:
        return SnapshotColumns(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                                  for f in fields(SnapshotColumns)})


def _opt(v: float | bool | None) -> float:
    return np.nan if v is None else float(v)


def username_stats(username: str | None) -> tuple[float, float]:
    """(length, share of ASCII digits) of a username; NaN, NaN when null."""
    if username is None:
        return np.nan, np.nan
    n = len(username)
    return float(n), (sum(ch in _DIGITS for ch in username) / n if n else 0.0)


def columns_from_snapshots(snaps: Iterable[ProfileSnapshot]) -> SnapshotColumns:
    rows = [(p.followers, p.following, p.posts, p.ts, _opt(p.created_at), _opt(p.has_avatar), _opt(p.bio_len),
             _opt(p.is_private), *username_stats(p.username)) for p in snaps]
    a = np.array(rows, dtype=np.float64).reshape(len(rows), len(fields(SnapshotColumns)))
    return SnapshotColumns(*a.T)


def features(c: SnapshotColumns) -> np.ndarray:
    """(n, len(FEATURES)) float64 matrix, NaN where a feature's inputs are null."""
    with np.errstate(invalid="ignore", divide="ignore"):
        age = np.maximum(c.ts - c.created_at, 0.0) / _DAY  # NaN stays NaN
        per_day = np.maximum(age, 1.0)
        x = np.column_stack([
            c.followers, c.following, c.posts, (c.following + 1.0) / (c.followers + 1.0),
            c.bio_len, c.has_avatar, c.is_private,
            c.username_len, np.round(c.username_digit_share * c.username_len), c.username_digit_share,
            age, c.posts / per_day, c.followers / per_day,
        ])
    return x.reshape(len(c), len(FEATURES))


Node = float | dict[str, Any]  # a leaf value, or {"f": feature, "le": threshold, "lo": .., "hi": .., "na": ..}


class ProfileModel:
    """A boosted ternary-tree ensemble over :data:`FEATURES`; immutable once built."""

    def __init__(self, base: float, trees: Sequence[Node], meta: Mapping[str, Any] | None = None,
                 feature_names: Sequence[str] = FEATURES) -> None:
        if tuple(feature_names) != FEATURES:
            raise ValueError(f"model features {list(feature_names)} are not this code's {list(FEATURES)}")
        self.base = float(base)
        self.trees: tuple[Node, ...] = tuple(trees)
        self.meta: dict[str, Any] = dict(meta or {})
        feat: list[int] = []
        thr: list[float] = []
        child: list[tuple[int, int, int]] = []
        value: list[float] = []
        index = {name: i for i, name in enumerate(FEATURES)}

        def add(node: Node, depth: int) -> tuple[int, int]:
            k = len(feat)
            feat.append(-1)
            thr.append(0.0)
            child.append((k, k, k))
            if isinstance(node, dict):
                value.append(0.0)
                feat[k], thr[k] = index[node["f"]], float(node["le"])
                kids = [add(node[b], depth + 1) for b in ("lo", "hi", "na")]
                child[k] = (kids[0][0], kids[1][0], kids[2][0])
                return k, max(d for _, d in kids)
            value.append(float(node))
            return k, depth

        roots, depth = [], 0
        for t in self.trees:
            r, d = add(t, 0)
            roots.append(r)
            depth = max(depth, d)
        self._depth = depth
        self._roots = np.array(roots, dtype=np.int64)
        self._feat = np.array(feat, dtype=np.int64)
        self._thr = np.array(thr, dtype=np.float64)
        self._child = np.array(child, dtype=np.int64).reshape(len(feat), 3)
        self._value = np.array(value, dtype=np.float64)
        for a in (self._roots, self._feat, self._thr, self._child, self._value):
            a.flags.writeable = False

    # -- scoring --------------------------------------------------------------------------------------
    def margin_features(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of fake for a feature matrix of :func:`features`."""
        n = x.shape[0]
        node = np.broadcast_to(self._roots, (n, len(self._roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self._depth):
            f = self._feat[node]
            leaf = f < 0
            v = x[rows, np.where(leaf, 0, f)]
            branch = np.where(np.isnan(v), 2, np.where(v <= self._thr[node], 0, 1))
            node = np.where(leaf, node, self._child[node, branch])
        out: np.ndarray = self.base + self._value[node].sum(axis=1)
        return out

    def margin(self, cols: SnapshotColumns) -> np.ndarray:
        return self.margin_features(features(cols))

    def score(self, cols: SnapshotColumns) -> np.ndarray:
        """P(fake) in [0, 1] per row (for a 50/50 prior; see the module docstring)."""
        out: np.ndarray = 1.0 / (1.0 + np.exp(-self.margin(cols)))
        return out

    def score_snapshots(self, snaps: Iterable[ProfileSnapshot]) -> np.ndarray:
        return self.score(columns_from_snapshots(snaps))

    # -- persistence ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The parameter file: deterministic text (sorted keys, one tree per line)."""
        def dump(v: Any) -> str:
            return json.dumps(v, sort_keys=True, separators=(",", ":"), allow_nan=False)

        head = {"format": FORMAT, "features": list(FEATURES), "base": self.base, "meta": self.meta}
        lines = ["{"] + [f"{dump(k)}:{dump(head[k])}," for k in ("format", "features", "base", "meta")]
        lines.append('"trees":[')
        lines += [dump(t) + ("," if i < len(self.trees) - 1 else "") for i, t in enumerate(self.trees)]
        lines += ["]", "}"]
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_json())

    @classmethod
    def from_json(cls, text: str) -> ProfileModel:
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} parameter file (format: {d.get('format')!r})")
        return cls(d["base"], d["trees"], d.get("meta"), d["features"])

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProfileModel:
        """The model at ``path``; the shipped one by default, read once and cached."""
        if path is None or Path(path).resolve() == DEFAULT_PATH:
            return _default()
        return cls.from_json(Path(path).read_text())


@functools.cache
def _default() -> ProfileModel:
    return ProfileModel.from_json(DEFAULT_PATH.read_text())
