"""Marketer-rule baselines: each rule fires on a stream built to trip it and stays silent just under it."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from schemas.wire import EngagementEvent, ProfileSnapshot
from services.evaluation.baselines import (
    MARKERLY_LIKE_RATE,
    MarketerRules,
    MarketerThresholds,
    excess_score,
    expected_like_rate,
    run_baselines,
    run_baselines_files,
)
from services.evaluation.metrics import Label, Verdict, evaluate

_ids = itertools.count()


def ev(kind: str, ts: float, actor: str, target: str, post: str | None = None) -> EngagementEvent:
    return EngagementEvent(event_id=f"e{next(_ids)}", kind=kind, ts=ts, actor_id=actor,  # type: ignore[arg-type]
                           target_id=target, post_id=post)


def profile(account: str, ts: float, followers: int, following: int = 100) -> ProfileSnapshot:
    return ProfileSnapshot(account_id=account, ts=ts, followers=followers, following=following, posts=10)


def likes(target: str, n: int, t0: float, post: str = "p1") -> list[EngagementEvent]:
    return [ev("like", t0 + i, f"fan{i}", target, post) for i in range(n)]


def comments(target: str, n: int, t0: float, post: str = "p1") -> list[EngagementEvent]:
    return [ev("comment", t0 + i, f"commenter{i}", target, post) for i in range(n)]


def follows(target: str, n: int, t0: float, step: float = 1.0) -> list[EngagementEvent]:
    return [ev("follow", t0 + i * step, f"follower{t0}_{i}", target) for i in range(n)]


def flags_of(verdicts: list[Verdict]) -> dict[tuple[str, str], tuple[float, float, list[str]]]:
    """(account, kind) -> (first_ts, score, rules that fired)."""
    return {(v.account_id, f.kind): (f.first_ts, f.score, sorted(f.evidence["rules"]))
            for v in verdicts for f in v.flags}


# --- (a) like rate out of line -------------------------------------------------------------------------

def test_expected_like_rate_follows_markerly_anchors() -> None:
    for followers, rate in MARKERLY_LIKE_RATE:
        assert expected_like_rate(followers) == pytest.approx(rate)
    assert expected_like_rate(10) == 0.08 and expected_like_rate(1e9) == 0.016
    # halfway between 1k and 10k in log scale: halfway between 8% and 4%
    assert expected_like_rate(10 ** 3.5) == pytest.approx(0.06)
    rates = [expected_like_rate(10 ** (3 + i / 10)) for i in range(41)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def like_rate_world(n_likes: int) -> list[Verdict]:
    # 10k followers: usual rate 4%, 3x is 12% = 1200 likes per post. 10 comments come first, so that
    # comments / likes stays above 0.5% (10 / 1210 = 0.83%) and rule (b) keeps quiet.
    events = [ev("post", 1.0, "c", "c", "p1"), *comments("c", 10, 2.0), *likes("c", n_likes, 100.0)]
    return run_baselines(events, [profile("c", 0.0, 10_000)])


def test_like_rate_fires_above_three_times_the_usual_rate() -> None:
    f = flags_of(like_rate_world(1210))
    first_ts, score, rules = f[("c", "purchased_engagement")]
    assert rules == ["like_rate"]
    assert first_ts == 100.0 + 1200  # the 1201st like (index 1200) is the first above 1200 per post
    assert score == pytest.approx(excess_score(1210 / 1200))


def test_like_rate_silent_at_the_threshold() -> None:
    assert like_rate_world(1200) == []


def test_like_rate_needs_a_follower_count() -> None:
    events = [ev("post", 1.0, "c", "c", "p1"), *comments("c", 10, 2.0), *likes("c", 1210, 100.0)]
    assert run_baselines(events) == []


def test_like_rate_averages_over_posts() -> None:
    # 1300 likes over two posts is 650 per post: under 1200
    events = [*comments("c", 10, 2.0), *likes("c", 650, 100.0, "p1"), *likes("c", 650, 1000.0, "p2")]
    assert run_baselines(events, [profile("c", 0.0, 10_000)]) == []


# --- (b) many likes, few comments ------------------------------------------------------------------------

def comment_world(n_comments: int, n_likes: int) -> dict[tuple[str, str], tuple[float, float, list[str]]]:
    return flags_of(run_baselines([*comments("c", n_comments, 1.0), *likes("c", n_likes, 100.0)]))


def test_comment_ratio_fires_below_half_a_percent() -> None:
    # 5 comments: the ratio drops below 0.5% at the 1001st like (5 / 1001)
    first_ts, score, rules = comment_world(5, 1001)[("c", "purchased_engagement")]
    assert rules == ["comment_ratio"]
    assert first_ts == 100.0 + 1000
    assert score == pytest.approx(excess_score(0.005 / (5 / 1001)))


def test_comment_ratio_silent_at_half_a_percent() -> None:
    assert comment_world(5, 1000) == {}  # 5 / 1000 = 0.5% exactly


def test_comment_ratio_needs_500_likes() -> None:
    assert comment_world(0, 499) == {}
    first_ts, score, _ = comment_world(0, 500)[("c", "purchased_engagement")]
    assert (first_ts, score) == (100.0 + 499, 1.0)  # no comment at all: the highest score


# --- (c) follower jumps ------------------------------------------------------------------------------------

def test_follower_jump_fires_above_ten_percent_of_followers() -> None:
    f = flags_of(run_baselines(follows("c", 101, 10.0), [profile("c", 0.0, 1000)]))
    first_ts, score, rules = f[("c", "purchased_followers")]
    assert rules == ["follower_jump"]
    assert first_ts == 10.0 + 100
    assert score == pytest.approx(excess_score(101 / 100))


def test_follower_jump_silent_at_ten_percent() -> None:
    assert run_baselines(follows("c", 100, 10.0), [profile("c", 0.0, 1000)]) == []


def test_follower_jump_counts_a_24h_window_only() -> None:
    # 60 follows in the first hour, 60 more 25 h later: never more than 60 in any 24 h
    events = follows("c", 60, 0.0, step=60.0) + follows("c", 60, 25 * 3600.0, step=60.0)
    assert run_baselines(events, [profile("c", 0.0, 1000)]) == []
    # the same 120 follows inside one day trip it
    assert flags_of(run_baselines(follows("c", 120, 0.0, step=60.0), [profile("c", 0.0, 1000)]))


def test_follower_jump_with_unknown_followers_uses_500() -> None:
    assert run_baselines(follows("c", 500, 0.0)) == []
    first_ts, _, _ = flags_of(run_baselines(follows("c", 501, 0.0)))[("c", "purchased_followers")]
    assert first_ts == 500.0


def test_follower_jump_ignores_a_handful_of_follows_on_a_tiny_account() -> None:
    # 50 followers: 10% is 5, but fewer than 20 follows never count
    assert run_baselines(follows("c", 19, 0.0), [profile("c", 0.0, 50)]) == []
    assert flags_of(run_baselines(follows("c", 20, 0.0), [profile("c", 0.0, 50)]))


def test_profiles_apply_from_their_own_time() -> None:
    # 150 follows before the snapshot: followers unknown, limit 500, silent. From ts 200 the account has
    # 1000 followers, so the next follow (151 in the window > 100) trips the rule.
    events = [*follows("c", 150, 1.0), ev("follow", 201.0, "late", "c")]
    first_ts, _, _ = flags_of(run_baselines(events, [profile("c", 200.0, 1000)]))[("c", "purchased_followers")]
    assert first_ts == 201.0
    assert run_baselines(events[:150], [profile("c", 200.0, 1000)]) == []


# --- (d) following far more than followers -----------------------------------------------------------------

@pytest.mark.parametrize(("followers", "following", "fires"), [
    (1000, 10_001, True),   # ratio 10.001 > 10, following > 1000
    (1000, 10_000, False),  # ratio exactly 10
    (10, 1000, False),      # ratio 100 but following not above 1000
    (10, 1001, True),
    (0, 1001, True),        # no followers: ratio against 1
])
def test_following_ratio_from_profiles(followers: int, following: int, fires: bool) -> None:
    verdicts = run_baselines([], [profile("b", 42.0, followers, following)])
    if fires:
        first_ts, _, rules = flags_of(verdicts)[("b", "bot")]
        assert (first_ts, rules) == (42.0, ["following_ratio"])
    else:
        assert verdicts == []


def test_follow_burst_fires_above_500_distinct_accounts_a_day() -> None:
    events = [ev("follow", 10.0 + i, "bot1", f"t{i}") for i in range(501)]
    first_ts, score, rules = flags_of(run_baselines(events))[("bot1", "bot")]
    assert (first_ts, rules) == (510.0, ["follow_burst"])
    assert score == pytest.approx(excess_score(501 / 500))


def test_follow_burst_counts_distinct_accounts() -> None:
    # 500 distinct accounts, then 100 repeat follows of one of them
    events = [ev("follow", 10.0 + i, "bot1", f"t{i}") for i in range(500)]
    events += [ev("follow", 600.0 + i, "bot1", "t0") for i in range(100)]
    assert run_baselines(events) == []


def test_follow_burst_forgets_follows_older_than_a_day() -> None:
    events = [ev("follow", float(i), "bot1", f"t{i}") for i in range(300)]
    events += [ev("follow", 86_400.0 + 300 + i, "bot1", f"u{i}") for i in range(300)]
    assert run_baselines(events) == []


# --- verdict format, order, thresholds, files --------------------------------------------------------------

def test_two_rules_of_one_kind_make_one_flag() -> None:
    # 2000 likes on one post, no comment, 10k followers: like rate (from like 1201) and comment ratio
    # (from like 500) both fire
    verdicts = run_baselines(likes("c", 2000, 100.0), [profile("c", 0.0, 10_000)])
    [v] = verdicts
    [flag] = v.flags
    assert flag.kind == "purchased_engagement"
    assert sorted(flag.evidence["rules"]) == ["comment_ratio", "like_rate"]
    assert flag.first_ts == 100.0 + 499  # the earlier of the two rules
    assert len(flag.reasons) == 2 and "comments" in flag.reasons[0] and "likes per post" in flag.reasons[1]
    assert flag.score == 1.0 and v.authenticity == 0.0


def test_thresholds_are_parameters() -> None:
    loose = MarketerThresholds(follow_jump_unknown_followers=50)
    assert run_baselines(follows("c", 51, 0.0)) == []
    assert flags_of(run_baselines(follows("c", 51, 0.0), thresholds=loose))


def test_out_of_order_events_are_refused() -> None:
    rules = MarketerRules()
    rules.feed_event(ev("like", 10.0, "f", "c", "p"))
    with pytest.raises(ValueError, match="event-time order"):
        rules.feed_event(ev("like", 9.0, "f", "c", "p"))


@pytest.mark.parametrize("x", [1.0, 1.01, 2.0, 10.0, 1e9, float("inf")])
def test_scores_stay_in_range_and_grow(x: float) -> None:
    assert 0.5 <= excess_score(x) <= 1.0
    assert excess_score(x * 2) >= excess_score(x)


def test_files_end_to_end_scored_by_evaluate(tmp_path: Path) -> None:
    events = [*follows("buyer", 600, 0.0), *follows("organic", 30, 0.0),
              *(ev("follow", 1000.0 + i, "bot1", f"t{i}") for i in range(501))]
    events.sort(key=lambda e: e.ts)
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e.model_dump()) + b"\n" for e in events))
    (tmp_path / "profiles.jsonl").write_bytes(orjson.dumps(profile("organic", 0.0, 1000).model_dump()) + b"\n")
    verdicts = run_baselines_files(tmp_path / "events.jsonl", tmp_path / "profiles.jsonl")
    labels = [Label.model_validate(d) for d in (
        {"account_id": "buyer", "kind": "purchased_followers", "class": "burst", "role": "buyer", "start_ts": 0.0},
        {"account_id": "bot1", "kind": "bot", "class": "naive", "role": "bot", "start_ts": 1000.0},
        {"account_id": "organic", "kind": "organic", "class": "organic", "role": "creator"},
    )]
    result = evaluate(labels, verdicts)
    pf, bot = result["purchased_followers"], result["bot"]
    assert (pf["tp"], pf["fp"], pf["fpr"], pf["latency_p50_s"]) == (1, 0, 0.0, 500.0)  # the 501st follow
    assert (bot["tp"], bot["fp"], bot["latency_p50_s"]) == (1, 0, 500.0)
