"""The profile-level fake score: AUC, reproducible training, the shipped model on null fields and real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from detectors.profiles import (
    DEFAULT_PATH,
    FEATURES,
    OPTIONAL,
    ProfileModel,
    SnapshotColumns,
    columns_from_snapshots,
    features,
)
from schemas.wire import ProfileSnapshot
from services.evaluation import train_profiles as tp
from services.evaluation.sources import data_dir, labelled_profiles

HAVE_DATA = all((data_dir() / d).is_dir() for d in tp.SOURCE_DIRS.values())
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"labelled datasets not found under {data_dir()} "
                                "(../shared/data; set TRUSTREAM_SHARED_DATA to run the real-data tests)")
NOW = 1_750_000_000.0
DAY = 86_400.0


def pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def test_auc_matches_the_pairwise_reference() -> None:
    rng = np.random.default_rng(7)
    for n, levels in [(2, 3), (10, 3), (57, 5), (200, 1000), (300, 4)]:
        for _ in range(5):
            y = rng.random(n) < 0.3
            y[0], y[1] = True, False
            s = rng.integers(0, levels, n).astype(float) + 0.1 * y  # many ties, some signal
            assert tp.auc(y, s) == pytest.approx(pairwise_auc(y, s), abs=1e-12)
    y = np.array([False, False, True, True])
    assert tp.auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert tp.auc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert tp.auc(y, np.ones(4)) == 0.5
    assert math.isnan(tp.auc(np.ones(3, dtype=bool), np.arange(3.0)))


def synthetic(n: int, seed: int) -> tuple[SnapshotColumns, np.ndarray, np.ndarray]:
    """Fakes follow many and post little; some optional fields null."""
    rng = np.random.default_rng(seed)
    fake = rng.random(n) < 0.4
    followers = np.round(rng.lognormal(np.where(fake, 3.0, 5.5), 1.2))
    following = np.round(rng.lognormal(np.where(fake, 7.0, 5.8), 0.8))
    posts = np.round(rng.lognormal(np.where(fake, 0.5, 3.5), 1.2))
    bio = np.where(rng.random(n) < 0.3, np.nan, np.round(rng.exponential(np.where(fake, 3, 40))))
    avatar = np.where(rng.random(n) < 0.5, np.nan, (rng.random(n) < np.where(fake, 0.6, 0.98)).astype(float))
    cols = SnapshotColumns.build(followers, following, posts, bio_len=bio, has_avatar=avatar,
                                 ts=np.full(n, NOW), created_at=NOW - rng.exponential(np.where(fake, 30, 900)) * DAY)
    group = (rng.random(n) < 0.5).astype(np.int64)
    return cols, fake, tp.balanced_weights(group, fake)


def test_training_is_reproducible_from_a_seed() -> None:
    cols, fake, w = synthetic(600, 1)
    cfg = tp.FitConfig(rounds=25)
    a = tp.fit(cols, fake, w, seed=3, cfg=cfg)
    b = tp.fit(cols, fake, w, seed=3, cfg=cfg)
    assert a.to_json() == b.to_json()
    np.testing.assert_array_equal(a.score(cols), b.score(cols))
    assert tp.fit(cols, fake, w, seed=4, cfg=cfg).to_json() != a.to_json()  # subsampling and masking differ
    assert tp.auc(fake, a.score(cols)) > 0.9
    assert json.loads(a.to_json())["meta"]["seed"] == 3


def test_cross_validation_folds_are_stratified_and_seeded() -> None:
    strata = np.repeat(np.arange(4), [50, 23, 7, 120])
    f1 = tp.stratified_folds(strata, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(f1, tp.stratified_folds(strata, 5, np.random.default_rng(0)))
    for s in range(4):
        counts = np.bincount(f1[strata == s], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    cols, fake, w = synthetic(300, 2)
    m = tp.fit(cols, fake, w, seed=0, cfg=tp.FitConfig(rounds=10))
    path = tmp_path / "m.json"
    m.save(path)
    back = ProfileModel.load(path)
    assert back.to_json() == m.to_json() == path.read_text()
    np.testing.assert_array_equal(back.score(cols), m.score(cols))


def snap(**kw: object) -> ProfileSnapshot:
    base: dict[str, object] = {"account_id": "a", "ts": NOW, "followers": 0, "following": 0, "posts": 0}
    base.update(kw)
    return ProfileSnapshot.model_validate(base)


def test_columns_from_snapshots_carries_only_wire_fields_and_nulls_as_nan() -> None:
    c = columns_from_snapshots([snap(followers=5, username="ab12", created_at=NOW - DAY, has_avatar=True),
                                snap(username="", bio_len=0, is_private=False), snap()])
    np.testing.assert_array_equal(c.followers, [5, 0, 0])
    np.testing.assert_array_equal(c.username_len[:2], [4, 0])
    np.testing.assert_array_equal(c.username_digit_share[:2], [0.5, 0.0])
    assert np.isnan(c.username_len[2]) and np.isnan(c.has_avatar[1:]).all() and np.isnan(c.created_at[1:]).all()
    x = features(c)
    assert x.shape == (3, len(FEATURES))
    assert x[0, FEATURES.index("age_days")] == 1.0 and x[0, FEATURES.index("username_digits")] == 2.0
    assert np.isnan(x[2, [FEATURES.index(f) for f in ("bio_len", "has_avatar", "is_private", "username_len",
                                                       "age_days", "posts_per_day")]]).all()
    assert len(columns_from_snapshots([])) == 0


def test_shipped_model_scores_snapshots_with_every_optional_field_null() -> None:
    m = ProfileModel.load()
    assert m is ProfileModel.load(DEFAULT_PATH)  # loaded once
    assert DEFAULT_PATH.stat().st_size < 200_000
    rng = np.random.default_rng(0)
    snaps = [snap(followers=int(a), following=int(b), posts=int(c))
             for a, b, c in rng.integers(0, 10**6, (200, 3)) // rng.integers(1, 10**5, (200, 3))]
    snaps += [snap(), snap(followers=10**9, following=10**9, posts=10**9)]
    s = m.score_snapshots(snaps)
    assert s.shape == (len(snaps),) and np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()
    assert m.score_snapshots([]).shape == (0,)
    # NaN even in a required count still scores
    cols = SnapshotColumns.build([np.nan], [np.nan], [np.nan])
    assert np.isfinite(m.score(cols)).all()


def test_obvious_fake_scores_above_obvious_genuine() -> None:
    m = ProfileModel.load()
    fake = dict(followers=3, following=4_000, posts=0)
    real = dict(followers=800, following=300, posts=250)
    full = m.score_snapshots([
        snap(**fake, created_at=NOW - 5 * DAY, has_avatar=False, bio_len=0, is_private=False,
             username="jessica84629173"),
        snap(**real, created_at=NOW - 5 * 365 * DAY, has_avatar=True, bio_len=80, is_private=False,
             username="anna.travels"),
    ])
    bare = m.score_snapshots([snap(**fake), snap(**real)])
    for s in (full, bare):
        assert s[0] > 0.8 and s[1] < 0.2
    # more evidence of fakeness never lowers the score of an otherwise genuine profile much
    worse = m.score_snapshots([snap(**real, has_avatar=False, bio_len=0), snap(**{**real, "following": 7_000})])
    assert (worse >= bare[1] - 0.02).all()


@needs_data
def test_loaders_read_the_same_accounts_as_sources() -> None:
    data = tp.load_datasets()
    rows = labelled_profiles(data_dir())
    names = {"instafake": "instafake", "kaggle": "kaggle", "cresci2017": "cresci2017"}
    for name, ds in data.items():
        ref = [r for r in rows if r.dataset == names[name]]
        assert len(ds.cols) == len(ref)
        np.testing.assert_array_equal(ds.cols.followers, [r.followers for r in ref])
        np.testing.assert_array_equal(ds.cols.posts, [r.posts for r in ref])
        np.testing.assert_array_equal(ds.fake, [r.fake for r in ref])
    assert np.isnan(data["instafake"].cols.created_at).all() and np.isnan(data["kaggle"].cols.username_len).all()
    assert np.isfinite(data["cresci2017"].cols.created_at).mean() > 0.99


@needs_data
def test_real_instafake_held_out_fold_is_separated() -> None:
    data = tp.load_datasets()
    insta = data["instafake"]
    fold = tp.stratified_folds(insta.fake.astype(np.int64), 5, np.random.default_rng(0))
    # the shipped recipe, with instafake's fold 0 held out of training
    train = [tp.Labelled("instafake", insta.cols.take(fold != 0), insta.fake[fold != 0], insta.lacks, ""),
             data["kaggle"], data["cresci2017"]]
    cols, fake, group = tp._pool(train)
    model = tp.fit(cols, fake, tp.balanced_weights(group, fake), seed=0)
    held = insta.cols.take(fold == 0)
    assert tp.auc(insta.fake[fold == 0], model.score(held)) > 0.9
    # the same with only the counts: less separation, still useful
    bare = held.without(dict.fromkeys(OPTIONAL, True))
    assert tp.auc(insta.fake[fold == 0], model.score(bare)) > 0.85
    # the shipped parameters themselves (instafake is in their training data)
    assert tp.auc(insta.fake, ProfileModel.load().score(insta.cols)) > 0.9


@needs_data
def test_shipped_parameter_file_is_what_make_train_writes() -> None:
    shipped = json.loads(DEFAULT_PATH.read_text())
    meta = shipped["meta"]
    extra = {k: meta[k] for k in ("command", "cv_auc_pooled", "cv_auc_within")}  # from the CV, not refitted here
    model = tp.fit_shipped(tp.load_datasets(), meta["seed"], tp.FitConfig(**meta["config"]), extra)
    assert model.to_json() == DEFAULT_PATH.read_text()
