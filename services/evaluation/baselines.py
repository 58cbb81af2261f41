"""The rules a marketer uses today to vet an influencer, as a baseline detector.

Four rules of thumb, run over the same events (and profile snapshots, when there are any) as the
detectors and returning :class:`~services.evaluation.metrics.Verdict` objects, so that
:func:`~services.evaluation.metrics.evaluate` scores both the same way:

(a) **like rate out of line** (``like_rate``, ``purchased_engagement``): a creator's mean likes per post,
    divided by its followers, above :attr:`MarketerThresholds.like_rate_multiple` times the rate usual for
    accounts of that size (:func:`expected_like_rate`, after Markerly's figures);
(b) **likes without comments** (``comment_ratio``, ``purchased_engagement``): comments / likes below
    :attr:`~MarketerThresholds.comment_ratio_max` once the creator has
    :attr:`~MarketerThresholds.comment_ratio_min_likes` likes;
(c) **follower jump** (``follower_jump``, ``purchased_followers``): more follows in a sliding 24 h window
    than a share of the followers (or an absolute count when the follower count is unknown);
(d) **follows far more than followed** (``following_ratio`` from profiles and ``follow_burst`` from
    events, ``bot``).

The rules stream the events in event-time order, as a marketer watching the account would see them:
a flag's ``first_ts`` is the event time at which one of its rules first fired, so the baseline has a real
detection latency. Counts are cumulative from the start of the stream (a marketer looks at the whole
visible history), except the two 24 h windows. Profile snapshots are applied before any event at the
same or a later time; the follower count a rule uses is that of the latest snapshot, and rules that need
it and have none (rule a) stay silent. Unfollows are not used.

Scores: every rule measures how far past its threshold the account is as a factor ``x > 1`` and scores
``0.5 + 0.5 * (1 - 1/x)``: 0.5 just past the threshold, 0.75 at twice it, towards 1 beyond. A flag keeps
the highest score any of its rules reached over the stream. Authenticity is ``100 * (1 - top score)``,
rounded; only flagged accounts get a verdict.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.wire import EngagementEvent, ProfileSnapshot
from services.evaluation.metrics import FRAUD_KINDS, FraudKind, Verdict, VerdictFlag, iter_events, load_profiles

#: Mean likes per post as a share of followers, by follower count: Markerly's 2016 study of Instagram
#: influencers (about 8% at 1k followers, 4% at 10k, 2.4% at 100k, 1.7% at 1M, 1.6% at 10M).
MARKERLY_LIKE_RATE: tuple[tuple[float, float], ...] = (
    (1e3, 0.080), (1e4, 0.040), (1e5, 0.024), (1e6, 0.017), (1e7, 0.016))

_LOG_ANCHORS = [math.log10(f) for f, _ in MARKERLY_LIKE_RATE]
_RATES = [r for _, r in MARKERLY_LIKE_RATE]


def expected_like_rate(followers: float) -> float:
    """Usual likes per post / followers for an account with ``followers`` (:data:`MARKERLY_LIKE_RATE`).

    Linear in log10(followers) between the anchors; held at the end values outside them (below 1k
    followers the 1k figure is used, above 10M the 10M one).

    >>> expected_like_rate(1_000), expected_like_rate(10_000_000), round(expected_like_rate(10 ** 3.5), 3)
    (0.08, 0.016, 0.06)
    """
    if followers <= MARKERLY_LIKE_RATE[0][0]:
        return _RATES[0]
    if followers >= MARKERLY_LIKE_RATE[-1][0]:
        return _RATES[-1]
    x = math.log10(followers)
    i = bisect.bisect_right(_LOG_ANCHORS, x)
    x0, x1, r0, r1 = _LOG_ANCHORS[i - 1], _LOG_ANCHORS[i], _RATES[i - 1], _RATES[i]
    return r0 + (r1 - r0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class MarketerThresholds:
    """Every threshold of the marketer rules, with its unit. Rules fire strictly above (or below) them."""

    #: (a) flag when mean likes per post / followers exceeds this multiple of :func:`expected_like_rate`.
    like_rate_multiple: float = 3.0
    #: (a) likes a creator must have received before its rate is judged: a handful of likes on a tiny
    #: account says nothing, and a marketer would not vet such an account.
    like_rate_min_likes: int = 100
    #: (b) flag when comments / likes is below this share...
    comment_ratio_max: float = 0.005
    #: (b) ...once the creator has at least this many likes.
    comment_ratio_min_likes: int = 500
    #: (c) length of the sliding event-time window of follows, seconds.
    follow_jump_window_s: float = 86_400.0
    #: (c) flag when follows in the window exceed this share of the followers...
    follow_jump_share: float = 0.10
    #: (c) ...or this many follows when the follower count is unknown...
    follow_jump_unknown_followers: int = 500
    #: (c) ...and in any case only from this many follows on, so that three follows do not make a
    #: 20-follower account a buyer.
    follow_jump_min_follows: int = 20
    #: (d) flag a profile whose following / max(followers, 1) exceeds this...
    following_ratio_max: float = 10.0
    #: (d) ...and that follows more than this many accounts.
    following_min: int = 1000
    #: (d) flag an actor following more than this many distinct accounts...
    follow_burst_distinct: int = 500
    #: (d) ...within this sliding event-time window, seconds.
    follow_burst_window_s: float = 86_400.0


DEFAULT_THRESHOLDS = MarketerThresholds()

#: Fraud kind each rule reports.
RULE_KIND: dict[str, FraudKind] = {
    "like_rate": "purchased_engagement",
    "comment_ratio": "purchased_engagement",
    "follower_jump": "purchased_followers",
    "following_ratio": "bot",
    "follow_burst": "bot",
}


def excess_score(x: float) -> float:
    """Score of being ``x`` times past a threshold (``x > 1``): ``0.5 + 0.5 (1 - 1/x)``, in [0.5, 1].

    >>> excess_score(1.0), excess_score(2.0), excess_score(math.inf)
    (0.5, 0.75, 1.0)
    """
    if x <= 1.0:
        return 0.5
    return 0.5 + 0.5 * (1.0 - 1.0 / x)


@dataclass
class _Hit:
    """The peak firing of one rule on one account, and when the rule first fired."""

    first_ts: float
    score: float
    reason: str
    evidence: dict[str, Any]


@dataclass
class _Creator:
    likes: int = 0
    comments: int = 0
    posts: set[str] = field(default_factory=set)
    follows: deque[float] = field(default_factory=deque)


@dataclass
class _Follower:
    window: deque[tuple[float, str]] = field(default_factory=deque)
    targets: dict[str, int] = field(default_factory=dict)


class MarketerRules:
    """Streaming state of the marketer rules; feed profiles and events in event-time order.

    Parameters
    ----------
    thresholds
        The rule thresholds (:class:`MarketerThresholds`).

    Examples
    --------
    >>> rules = MarketerRules()
    >>> rules.feed_profile(ProfileSnapshot(account_id="b", ts=5.0, followers=3, following=4000, posts=0))
    >>> [(v.account_id, v.flags[0].kind, v.flags[0].first_ts) for v in rules.verdicts()]
    [('b', 'bot', 5.0)]
    """

    def __init__(self, thresholds: MarketerThresholds = DEFAULT_THRESHOLDS) -> None:
        self.t = thresholds
        self._followers: dict[str, int] = {}
        # likes per post above which rule (a) fires, per creator with a known follower count
        self._like_limit: dict[str, float] = {}
        self._creators: dict[str, _Creator] = {}
        self._actors: dict[str, _Follower] = {}
        self._hits: dict[tuple[str, str], _Hit] = {}
        self._last_ts = -math.inf

    # --- input ----------------------------------------------------------------------------------

    def feed_profile(self, p: ProfileSnapshot) -> None:
        """Take a profile snapshot: follower count for later events, and rule (d) on the profile."""
        self._followers[p.account_id] = p.followers
        t = self.t
        self._like_limit[p.account_id] = t.like_rate_multiple * expected_like_rate(p.followers) * p.followers
        ratio = p.following / max(p.followers, 1)
        if ratio > t.following_ratio_max and p.following > t.following_min:
            x = min(ratio / t.following_ratio_max, p.following / t.following_min)
            self._hit(p.account_id, "following_ratio", p.ts, excess_score(x),
                      f"follows {p.following:,} accounts but has only {p.followers:,} followers "
                      f"(more than {t.following_ratio_max:g} times as many)",
                      {"following": p.following, "followers": p.followers, "ratio": ratio})

    def feed_event(self, e: EngagementEvent) -> None:
        """Take one event; events must come in event-time order.

        Raises
        ------
        ValueError
            If ``e.ts`` is before the previous event's.
        """
        if e.ts < self._last_ts:
            raise ValueError(f"event {e.event_id!r} at ts {e.ts} is before the previous event "
                             f"({self._last_ts}); the marketer rules need event-time order")
        self._last_ts = e.ts
        kind = e.kind
        if kind == "like":
            c = self._creator(e.target_id)
            c.likes += 1
            if e.post_id is not None:
                c.posts.add(e.post_id)
            self._check_like_rate(e.target_id, c, e.ts)
            self._check_comment_ratio(e.target_id, c, e.ts)
        elif kind == "comment":
            c = self._creator(e.target_id)
            c.comments += 1
            if e.post_id is not None:
                c.posts.add(e.post_id)
        elif kind == "follow":
            self._check_follower_jump(e.target_id, e.ts)
            self._check_follow_burst(e.actor_id, e.target_id, e.ts)
        elif kind == "post":
            # a post without an id is still a post: its event id stands in
            self._creator(e.target_id).posts.add(e.post_id if e.post_id is not None else e.event_id)

    def _creator(self, account: str) -> _Creator:
        c = self._creators.get(account)
        if c is None:
            c = self._creators[account] = _Creator()
        return c

    # --- rules ----------------------------------------------------------------------------------

    def _check_like_rate(self, creator: str, c: _Creator, ts: float) -> None:
        limit = self._like_limit.get(creator)
        if limit is None or c.likes < self.t.like_rate_min_likes:
            return
        per_post = c.likes / max(len(c.posts), 1)
        if per_post <= limit:
            return
        followers = self._followers[creator]
        expected = expected_like_rate(followers)
        rate = per_post / followers if followers else math.inf
        self._hit(creator, "like_rate", ts, excess_score(per_post / limit if limit else math.inf),
                  f"averages {per_post:,.0f} likes per post with {followers:,} followers ({rate:.1%}); "
                  f"accounts this size get about {expected:.1%}, this is over "
                  f"{self.t.like_rate_multiple:g} times that",
                  {"likes": c.likes, "posts": len(c.posts), "likes_per_post": per_post, "followers": followers,
                   "like_rate": rate, "expected_like_rate": expected})

    def _check_comment_ratio(self, creator: str, c: _Creator, ts: float) -> None:
        t = self.t
        if c.likes < t.comment_ratio_min_likes:
            return
        ratio = c.comments / c.likes
        if ratio >= t.comment_ratio_max:
            return
        self._hit(creator, "comment_ratio", ts, excess_score(t.comment_ratio_max / ratio if ratio else math.inf),
                  f"{c.comments:,} comments for {c.likes:,} likes ({ratio:.2%}); real audiences leave at "
                  f"least {t.comment_ratio_max:.1%}",
                  {"likes": c.likes, "comments": c.comments, "comment_ratio": ratio})

    def _check_follower_jump(self, creator: str, ts: float) -> None:
        t = self.t
        q = self._creator(creator).follows
        q.append(ts)
        while q[0] <= ts - t.follow_jump_window_s:
            q.popleft()
        n = len(q)
        if n < t.follow_jump_min_follows:
            return
        followers = self._followers.get(creator)
        limit = t.follow_jump_share * followers if followers is not None else float(t.follow_jump_unknown_followers)
        if n <= limit:
            return
        hours = t.follow_jump_window_s / 3600
        if followers is None:
            reason = (f"gained {n:,} follows within {hours:g} h, more than {t.follow_jump_unknown_followers:,} "
                      "(follower count unknown)")
        else:
            reason = (f"gained {n:,} follows within {hours:g} h, more than {t.follow_jump_share:.0%} of its "
                      f"{followers:,} followers")
        self._hit(creator, "follower_jump", ts, excess_score(n / limit if limit else math.inf), reason,
                  {"follows_in_window": n, "window_s": t.follow_jump_window_s, "followers": followers})

    def _check_follow_burst(self, actor: str, target: str, ts: float) -> None:
        t = self.t
        a = self._actors.get(actor)
        if a is None:
            a = self._actors[actor] = _Follower()
        a.window.append((ts, target))
        a.targets[target] = a.targets.get(target, 0) + 1
        horizon = ts - t.follow_burst_window_s
        while a.window[0][0] <= horizon:
            _, old = a.window.popleft()
            left = a.targets[old] - 1
            if left:
                a.targets[old] = left
            else:
                del a.targets[old]
        n = len(a.targets)
        if n <= t.follow_burst_distinct:
            return
        self._hit(actor, "follow_burst", ts, excess_score(n / t.follow_burst_distinct),
                  f"followed {n:,} different accounts within {t.follow_burst_window_s / 3600:g} h "
                  f"(more than {t.follow_burst_distinct:,})",
                  {"distinct_follows_in_window": n, "window_s": t.follow_burst_window_s})

    def _hit(self, account: str, rule: str, ts: float, score: float, reason: str, evidence: dict[str, Any]) -> None:
        key = (account, rule)
        h = self._hits.get(key)
        if h is None:
            self._hits[key] = _Hit(ts, score, reason, evidence)
        elif score > h.score:
            # keep the peak so that the reason a brand reads states the strongest evidence seen
            h.score, h.reason, h.evidence = score, reason, evidence

    # --- output ---------------------------------------------------------------------------------

    def verdicts(self) -> list[Verdict]:
        """One verdict per flagged account, sorted by account id; one flag per fraud kind."""
        by_account: dict[str, dict[FraudKind, list[tuple[str, _Hit]]]] = {}
        for (account, rule), h in self._hits.items():
            by_account.setdefault(account, {}).setdefault(RULE_KIND[rule], []).append((rule, h))
        out = []
        for account in sorted(by_account):
            kinds = by_account[account]
            flags = []
            for kind in FRAUD_KINDS:
                hits = sorted(kinds.get(kind, []), key=lambda rh: (rh[1].first_ts, rh[0]))
                if not hits:
                    continue
                flags.append(VerdictFlag(
                    kind=kind,
                    score=max(h.score for _, h in hits),
                    first_ts=hits[0][1].first_ts,
                    reasons=[h.reason for _, h in hits],
                    evidence={"rules": {rule: {"first_ts": h.first_ts, "score": h.score, **h.evidence}
                                        for rule, h in hits}},
                ))
            top = max(f.score for f in flags)
            out.append(Verdict(account_id=account, authenticity=float(round(100 * (1 - top))), flags=flags))
        return out


def run_baselines(events: Iterable[EngagementEvent], profiles: Iterable[ProfileSnapshot] = (),
                  thresholds: MarketerThresholds = DEFAULT_THRESHOLDS) -> list[Verdict]:
    """Run the marketer rules over ``events`` (event-time order) and ``profiles`` (any order).

    Each snapshot is applied before the first event at or after its ``ts``; snapshots after the last
    event are applied at the end.

    Returns
    -------
    list[Verdict]
        One verdict per flagged account, sorted by account id.
    """
    rules = MarketerRules(thresholds)
    pending = sorted(profiles, key=lambda p: p.ts)
    i, n = 0, len(pending)
    for e in events:
        while i < n and pending[i].ts <= e.ts:
            rules.feed_profile(pending[i])
            i += 1
        rules.feed_event(e)
    for p in pending[i:]:
        rules.feed_profile(p)
    return rules.verdicts()


def run_baselines_files(events_path: str | Path, profiles_path: str | Path | None = None,
                        thresholds: MarketerThresholds = DEFAULT_THRESHOLDS) -> list[Verdict]:
    """:func:`run_baselines` on an ``events.jsonl`` and an optional ``profiles.jsonl``."""
    profiles = load_profiles(profiles_path) if profiles_path is not None else []
    return run_baselines(iter_events(events_path), profiles, thresholds)
