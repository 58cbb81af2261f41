"""Copied comments (:mod:`detectors.comments`): the per-partition count of distinct accounts behind each specific
comment text, against a pure-Python reference; replay, batching, checkpoints, eviction; and the path from events
to the bot detector's copied-comments rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.comments import CommentParams, CopiedComments
from detectors.core import CoreParams, PartitionCore
from detectors.kernels import bots as KB
from schemas.wire import EngagementEvent, ProfileSnapshot

LIKE, COMMENT = 0, 1
T0 = 1_750_032_000.0


class NaiveCopies:
    """The specification: the distinct accounts that posted each text and the creators (hash buckets of 64) it
    was posted on; a comment sees the other accounts so far, once its text was on ``min_creators`` creators."""

    def __init__(self, min_creators: int = 5) -> None:
        self.by_text: dict[int, set[int]] = {}
        self.where: dict[int, set[int]] = {}
        self.min_creators = min_creators

    def apply(self, kind: int, actor: int, creator: int, sim: int, tflags: int, keep: bool) -> int:
        if not keep or kind != COMMENT or not tflags & KB.TEXT_SPECIFIC:
            return 0
        who = self.by_text.setdefault(sim, set())
        who.add(actor)
        where = self.where.setdefault(sim, set())
        where.add(creator_h(creator) % 64)
        return len(who) - 1 if len(where) >= self.min_creators else 0


Row = tuple[int, int, int, int, int, bool]  # kind, actor, creator, text, tflags, keep

rows_st = st.lists(st.tuples(st.sampled_from([LIKE, COMMENT, COMMENT, COMMENT]), st.integers(1, 12),
                             st.integers(0, 9), st.integers(1, 5),
                             st.sampled_from([0, KB.TEXT_GENERIC, KB.TEXT_SPECIFIC, KB.TEXT_SPECIFIC]),
                             st.booleans() | st.just(True)),
                   max_size=80)


def creator_h(c: int) -> int:
    return (c * 0xD6E8FEB86659FD93 + 17) % 2**64


def columns(rows: list[Row], t0: float = T0) -> tuple[np.ndarray, ...]:
    n = len(rows)
    return (np.asarray([r[0] for r in rows], dtype=np.int8).reshape(n),
            np.asarray([r[1] * 0x9E3779B97F4A7C15 % 2**64 for r in rows], dtype=np.uint64).reshape(n),
            np.asarray([creator_h(r[2]) for r in rows], dtype=np.uint64).reshape(n),
            np.asarray([r[3] * 0xC2B2AE3D27D4EB4F % 2**64 for r in rows], dtype=np.uint64).reshape(n),
            np.asarray([r[4] for r in rows], dtype=np.uint8).reshape(n),
            t0 + np.arange(n, dtype=np.float64),
            np.asarray([r[5] for r in rows], dtype=np.bool_).reshape(n))


def run(table: CopiedComments, rows: list[Row], cuts: list[int]) -> list[int]:
    out: list[int] = []
    bounds = sorted({0, len(rows), *cuts})
    cols = columns(rows)
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        out += table.update(*(c[lo:hi] for c in cols)).tolist()
    return out


@given(rows_st, st.lists(st.integers(0, 80), max_size=5), st.sampled_from([1, 3, 5]))
@settings(max_examples=300, deadline=None)
def test_counts_match_the_reference_whatever_the_batches(rows: list[Row], cuts: list[int], creators: int) -> None:
    ref = NaiveCopies(creators)
    want = [ref.apply(*r) for r in rows]
    table = CopiedComments(CommentParams(capacity=1 << 13, min_creators=creators))
    assert run(table, rows, cuts) == want
    for text, who in ref.by_text.items():
        assert table.accounts(text * 0xC2B2AE3D27D4EB4F % 2**64) == (len(who), len(ref.where[text]))
    assert int(table.state[0]) == sum(len(w) for w in ref.by_text.values())


@given(rows_st)
@settings(max_examples=100, deadline=None)
def test_replaying_events_changes_no_count(rows: list[Row]) -> None:
    table = CopiedComments(CommentParams(capacity=1 << 13))
    run(table, rows, [])
    before = (table.pk.copy(), table.fc.copy())
    again = run(table, rows, [])
    np.testing.assert_array_equal(table.pk, before[0])
    np.testing.assert_array_equal(table.fc, before[1])
    ref = NaiveCopies()
    for r in rows:
        ref.apply(*r)
    # the second pass sees every account and creator the first pass remembered
    assert again == [len(ref.by_text[r[3]]) - 1 if r[5] and r[0] == COMMENT and r[4] & KB.TEXT_SPECIFIC
                     and len(ref.where[r[3]]) >= 5 else 0 for r in rows]


@given(rows_st, st.integers(0, 80), st.sampled_from([1 << 13, 1 << 14]))
@settings(max_examples=100, deadline=None)
def test_checkpoint_and_restore_continue_like_the_uninterrupted_table(rows: list[Row], cut: int, cap: int) -> None:
    whole = CopiedComments(CommentParams(capacity=1 << 13))
    want = run(whole, rows, [])
    first = CopiedComments(CommentParams(capacity=1 << 13))
    got = run(first, rows[:cut], [])
    restored = CopiedComments(CommentParams(capacity=cap))
    restored.restore(dict(first.checkpoint()))
    # pairs may land in other slots: after a restore every segment is written again
    assert restored.dirty.all() == bool(first.state[0])
    assert dict(first.checkpoint()) == {}  # nothing changed since its last checkpoint
    cols = columns(rows)
    got += restored.update(*(c[cut:] for c in cols)).tolist()
    assert got == want


def test_a_smaller_table_restores_the_most_recent_half_and_orphans_are_overwritten_empty() -> None:
    big = CopiedComments(CommentParams(capacity=1 << 15))
    n = 20_000
    kind = np.full(n, COMMENT, dtype=np.int8)
    actor = np.arange(1, n + 1, dtype=np.uint64)
    sim = np.full(n, 7, dtype=np.uint64)
    big.update(kind, actor, actor * np.uint64(3), sim, np.full(n, KB.TEXT_SPECIFIC, np.uint8),
               T0 + np.arange(n, dtype=np.float64), np.ones(n, np.bool_))
    assert big.accounts(7) == (n, 64)
    small = CopiedComments(CommentParams(capacity=1 << 13))
    small.restore(dict(big.checkpoint()))
    assert small.accounts(7) == ((1 << 13) // 2, 64)
    kept = small.pt[small.pk != 0]
    assert kept.min() == T0 + n - (1 << 13) // 2  # the newest
    log = dict(small.checkpoint())
    orphans = [k for k in log if int(k.split(":")[1]) >= small.dirty.shape[0]]
    assert orphans and all(np.load(__import__("io").BytesIO(log[k]))["k"].size == 0 for k in orphans)


def test_a_full_table_keeps_the_most_recently_seen_half() -> None:
    cap = 1 << 13
    table = CopiedComments(CommentParams(capacity=cap))
    n = cap  # more pairs than 3/4 of the capacity: one rebuild
    kind = np.full(n, COMMENT, dtype=np.int8)
    actor = np.arange(1, n + 1, dtype=np.uint64)
    sim = (np.arange(n) % 3 + 1).astype(np.uint64)
    ts = T0 + np.arange(n, dtype=np.float64)
    table.update(kind, actor, actor, sim, np.full(n, KB.TEXT_SPECIFIC, np.uint8), ts, np.ones(n, np.bool_))
    assert int(table.state[1]) == 1
    # the rebuild at the 6,145th pair kept the newest 4,096 of the 6,144, then 2,047 more came
    first_new = 3 * cap // 4
    kept_from = first_new - cap // 2
    alive = np.arange(kept_from, n)
    for s in (1, 2, 3):
        assert table.accounts(s)[0] == int(np.sum(alive % 3 + 1 == s))
    assert int(table.state[0]) == len(alive)


# --- through the core, into the bot detector -----------------------------------------------------------

SPAM = ["Check my page for a collab, DM us \U0001f4b0", "Send this to @promo_hub to be featured",
        "We love your feed, collab with our brand?", "Want more followers? Visit my profile now",
        "Your style fits our ambassador program, DM", "Get verified fast, link in our bio"]


def spam_world(n_bots: int, comments_each: int, fake: float | None) -> tuple[list[EngagementEvent],
                                                                           list[ProfileSnapshot]]:
    """``n_bots`` accounts that post the campaign texts SPAM in turn on many creators (a text comes back after
    six others, so no account repeats one of its last four), among people with their own words."""
    rng = np.random.default_rng(5)
    events: list[EngagementEvent] = []
    t = T0
    for j in range(comments_each):
        for b in range(n_bots):
            t += float(rng.uniform(30, 600))
            events.append(EngagementEvent(event_id=f"s{j}-{b}", kind="comment", ts=t, actor_id=f"bot{b}",
                                          target_id=f"c{int(rng.integers(0, 20))}", text=SPAM[j % len(SPAM)]))
            events.append(EngagementEvent(event_id=f"h{j}-{b}", kind="comment", ts=t + 1, actor_id=f"person{b}",
                                          target_id=f"c{int(rng.integers(0, 20))}",
                                          text=f"the light in shot {j} of yours is wonderful {b}"))
    profiles = [] if fake is None else [ProfileSnapshot(account_id=f"bot{b}", ts=T0, followers=3, following=4_000,
                                                        posts=0, has_profile_pic=False, bio_length=0)
                                        for b in range(n_bots)]
    return events, profiles


def run_core(events: list[EngagementEvent], profiles: list[ProfileSnapshot]) -> PartitionCore:
    core = PartitionCore(0, CoreParams(dedup_capacity=1 << 14))
    core.step_profiles(profiles, list(range(len(profiles))))
    for i in range(0, len(events), 50):
        res = core.step_events(events[i : i + 50], list(range(i, i + min(50, len(events) - i))))
        core.step_actions(res.actions, np.full(len(res.actions), i), np.arange(len(res.actions)))
    core.flush_actions()
    return core


def test_copied_comments_reach_the_bot_detector_with_a_reason() -> None:
    core = run_core(*spam_world(n_bots=12, comments_each=12, fake=0.9))
    bot = core.table.index["bot3"]
    person = core.table.index["person3"]
    ib = core.table.I["bots"]
    # its first round of each text came before most of the network's: the second round counts them all
    assert ib[KB.N_COPIED, bot] == 6 and ib[KB.MAX_SHARED, bot] == 11
    assert ib[KB.N_COPIED, person] == 0  # its own words
    assert ib[KB.EVIDENCE, bot] & KB.E_COPIED
    flags = core.score(bot).flags
    bot_flag = next(f for f in flags if f.kind == "bot")
    assert any("word for word what at least 5 other accounts posted" in r and "11 other accounts" in r
               for r in bot_flag.reasons), bot_flag.reasons
    assert bot_flag.evidence["copied_comments"] == int(ib[KB.N_COPIED, bot])
    assert not [f for f in core.score(person).flags if f.kind == "bot"]


def test_copied_comments_alone_do_not_flag() -> None:
    core = run_core(*spam_world(n_bots=12, comments_each=12, fake=None))
    bot = core.table.index["bot3"]
    assert core.table.I["bots"][KB.EVIDENCE, bot] == KB.E_COPIED  # no other rule holds
    assert not [f for f in core.score(bot).flags if f.kind == "bot"]


def test_copies_survive_a_checkpoint_of_the_core() -> None:
    events, profiles = spam_world(n_bots=8, comments_each=4, fake=0.9)
    core = PartitionCore(0, CoreParams(dedup_capacity=1 << 14))
    half = len(events) // 2
    core.step_events(events[:half], list(range(half)))
    restored = PartitionCore.restore(0, dict(core.checkpoint()), CoreParams(dedup_capacity=1 << 14))
    for c in (core, restored):
        res = c.step_events(events[half:], list(range(half, len(events))))
        assert res.actions.shared.max() == 7
    np.testing.assert_array_equal(core.comments.fc, restored.comments.fc)


def test_a_giveaway_phrase_on_one_post_is_not_a_copy() -> None:
    """Hundreds of entrants write the phrase a giveaway asks for, on one creator: no copies counted."""
    events = [EngagementEvent(event_id=f"g{j}", kind="comment", ts=T0 + j, actor_id=f"fan{j}", target_id="host",
                              post_id="host:p1", text="I want to win this prize please") for j in range(500)]
    core = PartitionCore(0, CoreParams(dedup_capacity=1 << 14))
    res = core.step_events(events, list(range(len(events))))
    assert not res.actions.shared.any()
    assert core.comments.accounts(int(res.actions.sim[0])) == (500, 1)
