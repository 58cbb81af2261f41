"""Slow, obviously-right pure-Python references for the numba kernels.

Plain objects, dicts, lists and :mod:`math` only. Each function states the semantics it implements, so a
test that compares a kernel with it checks the kernel against the specification, not against itself.

* :func:`engagement_update` / :func:`profile_update`: per-account event-time tumbling windows, an
  exponentially weighted baseline (mean and variance) of past windows' counts, spike flags.
* :func:`fnv1a_64`: FNV-1a, 64 bit, over the UTF-8 bytes of a string.
* :class:`NaiveDedup`: a bounded window of the last ``capacity`` inserted ids.
* :class:`NaiveSketch`, :class:`NaiveNode`: MIDAS-R scores; :class:`NaiveSeen`: first-seen accounts;
  :class:`NaivePurchases`: the purchase detector.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

LIKE, COMMENT, FOLLOW, UNFOLLOW, POST = 0, 1, 2, 3, 4

#: Empty windows after a closed window that still decay the baseline (the kernel caps its loop here).
MAX_EMPTY_WINDOWS_LEARNED = 2000


@dataclass
class Params:
    window: float
    alpha: float
    warmup: int
    min_count: float
    ratio: float
    z: float


@dataclass
class Flag:
    """Spike flag of one channel. ``first`` is NaN while no flag was ever raised."""

    score: float = 0.0
    first: float = math.nan
    last: float = math.nan
    count: float = 0.0
    base: float = 0.0
    win: float = math.nan  # start of the latest flagged window (that window is not learned)
    evidence_win: float = math.nan  # start of the window that ``count`` and ``base`` describe


@dataclass
class Baseline:
    mean: float = 0.0
    var: float = 0.0

    def learn(self, x: float, alpha: float) -> None:
        """Incremental exponentially weighted mean and variance (West/Finch form)."""
        d = x - self.mean
        self.mean = self.mean + alpha * d
        self.var = (1.0 - alpha) * (self.var + alpha * d * d)


@dataclass
class Account:
    win_start: float = math.nan  # NaN until the first windowed event
    win_eng: float = 0.0
    win_fol: float = 0.0
    eng: Baseline = field(default_factory=Baseline)
    fol: Baseline = field(default_factory=Baseline)
    last_ts: float = -math.inf
    profile_ts: float = -math.inf
    eng_flag: Flag = field(default_factory=Flag)
    fol_flag: Flag = field(default_factory=Flag)
    n_like: int = 0
    n_comment: int = 0
    n_follow: int = 0
    n_unfollow: int = 0
    n_post: int = 0
    n_windows: int = 0
    followers: int = -1
    n_late: int = 0


@dataclass
class Event:
    kind: int
    ts: float
    acct: int
    offset: int
    keep: bool = True


def _close_windows(acc: Account, k: int, p: Params) -> None:
    """Close the current window and the ``k - 1`` empty windows that followed it."""
    # the current window is learned unless it was flagged (a detector must not learn what it flags)
    if acc.eng_flag.win != acc.win_start:
        acc.eng.learn(acc.win_eng, p.alpha)
    if acc.fol_flag.win != acc.win_start:
        acc.fol.learn(acc.win_fol, p.alpha)
    empty = k - 1
    for _ in range(min(empty, MAX_EMPTY_WINDOWS_LEARNED)):
        acc.eng.learn(0.0, p.alpha)
        acc.fol.learn(0.0, p.alpha)
    acc.n_windows += k
    acc.win_eng = 0.0
    acc.win_fol = 0.0


def _check_spike(acc: Account, flag: Flag, count: float, base: Baseline, ts: float, p: Params) -> bool:
    """Raise or strengthen ``flag``; True when it is raised for the first time."""
    if acc.n_windows < p.warmup or count < p.min_count:
        return False
    mean = base.mean
    ratio = count / (mean + 1.0)
    z = (count - mean) / math.sqrt(base.var + mean + 1.0)
    if ratio < p.ratio or z < p.z:
        return False
    # 0.5 at the threshold ratio, 1.0 at ten times it (log10 written as log/log(10)), capped at 1
    sev = min(1.0, 0.5 + 0.5 * math.log(ratio / p.ratio) / math.log(10.0))
    new = math.isnan(flag.first)
    if new:
        flag.first = ts
        flag.last = ts
    else:
        flag.last = max(flag.last, ts)
    if sev >= flag.score or count > flag.count:
        flag.score = max(sev, flag.score)
        flag.count = count
        flag.base = mean
        flag.evidence_win = acc.win_start
    flag.win = acc.win_start
    return new


def engagement_update(events: Iterable[Event], accounts: dict[int, Account], chunk_off: Sequence[int],
                      chunk_shift: int, p: Params) -> tuple[int, set[int], dict[int, int]]:
    """Apply events in order to ``accounts`` (created on first update).

    Returns (events applied, chunks touched, {account: new-flag bits (1 engagement, 2 follows)}).
    """
    applied = 0
    dirty: set[int] = set()
    new_flags: dict[int, int] = {}
    for e in events:
        if not e.keep:
            continue
        chunk = e.acct >> chunk_shift
        if e.offset <= chunk_off[chunk]:  # a restored checkpoint already reflects this event
            continue
        dirty.add(chunk)
        applied += 1
        acc = accounts.setdefault(e.acct, Account())
        if e.kind == LIKE:
            acc.n_like += 1
        elif e.kind == COMMENT:
            acc.n_comment += 1
        elif e.kind == FOLLOW:
            acc.n_follow += 1
        elif e.kind == UNFOLLOW:
            acc.n_unfollow += 1
        else:
            acc.n_post += 1
        acc.last_ts = max(acc.last_ts, e.ts)
        if e.kind in (UNFOLLOW, POST):
            continue
        if math.isnan(acc.win_start):
            acc.win_start = math.floor(e.ts / p.window) * p.window
        elif e.ts < acc.win_start:
            acc.n_late += 1  # older than the current window: totals only
            continue
        elif e.ts >= acc.win_start + p.window:
            # at least one window closes, even where the quotient rounds below 1 (window not representable)
            k = max(1, math.floor((e.ts - acc.win_start) / p.window))
            _close_windows(acc, k, p)
            acc.win_start = acc.win_start + k * p.window
        if e.kind == FOLLOW:
            acc.win_fol += 1.0
            if _check_spike(acc, acc.fol_flag, acc.win_fol, acc.fol, e.ts, p):
                new_flags[e.acct] = new_flags.get(e.acct, 0) | 2
        else:
            acc.win_eng += 1.0
            if _check_spike(acc, acc.eng_flag, acc.win_eng, acc.eng, e.ts, p):
                new_flags[e.acct] = new_flags.get(e.acct, 0) | 1
    return applied, dirty, new_flags


@dataclass
class Profile:
    ts: float
    acct: int
    followers: int
    offset: int


def profile_update(profiles: Iterable[Profile], accounts: dict[int, Account], chunk_off: Sequence[int],
                   chunk_shift: int) -> tuple[int, set[int]]:
    """Keep the newest snapshot by event time; on equal times the later message wins."""
    applied = 0
    dirty: set[int] = set()
    for pr in profiles:
        chunk = pr.acct >> chunk_shift
        if pr.offset <= chunk_off[chunk]:
            continue
        dirty.add(chunk)
        applied += 1
        acc = accounts.setdefault(pr.acct, Account())
        if pr.ts >= acc.profile_ts:
            acc.profile_ts = pr.ts
            acc.followers = pr.followers
    return applied, dirty


# --- hashing -----------------------------------------------------------------------------------

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3


def fnv1a_64(s: str | bytes) -> int:
    data = s.encode("utf-8") if isinstance(s, str) else s
    h = FNV64_OFFSET
    for byte in data:
        h ^= byte
        h = (h * FNV64_PRIME) % (1 << 64)
    return h


# --- duplicate filter --------------------------------------------------------------------------


class NaiveDedup:
    """Remembers the last ``capacity`` inserted (id, position) pairs.

    An id remembered with the same position is a replay of itself: kept, not inserted again. With another
    position it is a duplicate: dropped, not inserted. An id not remembered is kept and inserted, evicting
    the oldest remembered one when full.
    """

    def __init__(self, capacity: int) -> None:
        self.window: deque[tuple[int, int]] = deque(maxlen=capacity)
        self.inserted = 0

    def keep(self, ids: Sequence[int], positions: Sequence[int]) -> list[bool]:
        out = []
        for h, pos in zip(ids, positions, strict=True):
            seen = [q for g, q in self.window if g == h]
            if seen:
                out.append(seen[0] == pos)
            else:
                self.window.append((h, pos))
                self.inserted += 1
                out.append(True)
        return out


# --- engagement pods: early pairs --------------------------------------------------------------


@dataclass
class PodEvent:
    """One event as the pod tracker sees it: kind code, time, ids, source position, dedup keep bit."""

    kind: int
    ts: float
    actor: str
    target: str
    post: str | None
    pos: int
    keep: bool = True


@dataclass
class PairState:
    """Per (actor, creator) pair: distinct posts engaged early, delay histogram, and bookkeeping."""

    count: int
    hist: list[int]
    t2: float  # time the count reached 2, NaN before
    last_ts: float  # time of the last counted engagement
    last_post: str  # the last post counted
    pos: int  # source position of the last event applied (counted or not)


#: A pair summary as a plain tuple: (actor, target, count, hist, t2, last_ts, last_post).
SummaryTuple = tuple[str, str, int, tuple[int, ...], float, float, str | None]


def delay_bucket(d: float, edges: Sequence[float]) -> int:
    """Index of the last bucket edge at or below ``d`` (``edges[0]`` is 0, ``d`` is never negative here)."""
    return max(k for k, e in enumerate(edges) if d >= e)


class NaiveEarlyPairs:
    """Recent posts and repeated early (actor, creator) pairs, with no capacity limit.

    - ``post`` events (with a post id, kept by dedup) record the publish time and stream position of an unknown
      post; a known post keeps its first time and position.
    - A like or comment counts for the pair (actor, target) when it is kept, names a post known from an earlier
      stream position, is not by the target itself, and comes early: ``0 <= ts - publish time <= early_s``.
    - A pair seen for the first time starts at count 1 (that post, that delay, that position).
    - For a known pair, an event at a position not beyond the pair's last position is skipped (a replay);
      otherwise the position moves on, and unless the post is the last one counted (a comment after the like)
      the count grows, the post, time and delay bucket are recorded, and ``t2`` is set when the count reaches 2.
    - :meth:`update` returns the final state of every pair whose count grew in the batch (so count >= 2), in
      the order of the last growth of each pair.
    """

    def __init__(self, early_s: float, edges: Sequence[float]) -> None:
        self.early_s = early_s
        self.edges = list(edges)
        self.posts: dict[str, float] = {}
        self.post_pos: dict[str, int] = {}
        self.pairs: dict[tuple[str, str], PairState] = {}

    def update(self, events: Iterable[PodEvent]) -> list[SummaryTuple]:
        grown: dict[tuple[str, str], int] = {}  # pair -> index of its last growth in this batch
        for i, e in enumerate(events):
            if not e.keep or e.post is None:
                continue
            if e.kind == POST:
                self.posts.setdefault(e.post, e.ts)
                self.post_pos.setdefault(e.post, e.pos)
                continue
            if e.kind not in (LIKE, COMMENT) or e.actor == e.target or e.post not in self.posts:
                continue
            if e.pos <= self.post_pos[e.post]:
                continue
            d = e.ts - self.posts[e.post]
            if not 0.0 <= d <= self.early_s:
                continue
            b = delay_bucket(d, self.edges)
            key = (e.actor, e.target)
            p = self.pairs.get(key)
            if p is None:
                hist = [0] * len(self.edges)
                hist[b] = 1
                self.pairs[key] = PairState(1, hist, math.nan, e.ts, e.post, e.pos)
                continue
            if e.pos <= p.pos:
                continue
            p.pos = e.pos
            if e.post == p.last_post:
                continue
            p.count += 1
            p.hist[b] += 1
            p.last_post = e.post
            p.last_ts = e.ts
            if p.count == 2:
                p.t2 = e.ts
            grown.pop(key, None)
            grown[key] = i
        out: list[SummaryTuple] = []
        for key in grown:  # insertion order = order of the last growth
            p = self.pairs[key]
            out.append((key[0], key[1], p.count, tuple(p.hist), p.t2, p.last_ts, p.last_post))
        return out


# --- engagement pods: groups -------------------------------------------------------------------


def grow_group(u: int, v: int, adj: Sequence[set[int]], share: float) -> set[int]:
    """The group grown from the reciprocal pair (u, v).

    Grow: while the outside accounts with the most links into the group have at least
    ``max(2, ceil(share * size))`` of them, take all of those (ties) in at once. Then prune: while the members
    with the fewest links inside have fewer than ``share * (size - 1)``, drop all of those (ties) at once.
    (The 1e-9 slack matches the kernel's tolerance for shares like 0.6 * 5 that are not exact in binary.)
    """
    group = {u, v}
    while True:
        links = {y: len(adj[y] & group) for y in range(len(adj)) if y not in group}
        best = max(links.values(), default=0)
        need = max(2, math.ceil(share * len(group) - 1e-9))
        if best < need:
            break
        group |= {y for y, k in links.items() if k == best}
    while group:
        deg = {x: len(adj[x] & group) for x in group}
        worst = min(deg.values())
        if worst >= share * (len(group) - 1) - 1e-9:
            break
        group -= {x for x, k in deg.items() if k == worst}
    return group


def find_groups(adj: Sequence[set[int]], recip: set[tuple[int, int]], share: float, min_size: int
                ) -> list[list[int]]:
    """Groups grown from every reciprocal pair ``(u, v)``, ``u < v``, in (u, v) order; those of ``min_size``
    or more, sorted, once per seed."""
    out = []
    for u in range(len(adj)):
        for v in sorted(adj[u]):
            if v > u and (u, v) in recip:
                g = grow_group(u, v, adj, share)
                if len(g) >= min_size:
                    out.append(sorted(g))
    return out


# --- bots: the Kafka partitioner ---------------------------------------------------------------


def _i32(x: int) -> int:
    """A Java ``int``: the low 32 bits of ``x`` as a two's complement value."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def murmur2_java(data: bytes) -> int:
    """``org.apache.kafka.common.utils.Utils.murmur2``, statement by statement, in Java ``int`` arithmetic
    (every result wrapped to 32 signed bits, ``>>>`` an unsigned shift, the ``switch`` falling through)."""
    length = len(data)
    seed = _i32(0x9747B28C)
    m = 0x5BD1E995
    r = 24
    h = _i32(seed ^ length)
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = _i32((data[i4 + 0] & 0xFF) + ((data[i4 + 1] & 0xFF) << 8) + ((data[i4 + 2] & 0xFF) << 16)
                 + ((data[i4 + 3] & 0xFF) << 24))
        k = _i32(k * m)
        k = _i32(k ^ ((k & 0xFFFFFFFF) >> r))
        k = _i32(k * m)
        h = _i32(h * m)
        h = _i32(h ^ k)
    rest = length % 4
    if rest == 3:
        h = _i32(h ^ ((data[(length & ~3) + 2] & 0xFF) << 16))
    if rest >= 2:
        h = _i32(h ^ ((data[(length & ~3) + 1] & 0xFF) << 8))
    if rest >= 1:
        h = _i32(h ^ (data[length & ~3] & 0xFF))
        h = _i32(h * m)
    h = _i32(h ^ ((h & 0xFFFFFFFF) >> 13))
    h = _i32(h * m)
    h = _i32(h ^ ((h & 0xFFFFFFFF) >> 15))
    return h


def kafka_partition(key: bytes, n_partitions: int) -> int:
    """The default partitioner for a keyed record: ``Utils.toPositive(murmur2(key)) % numPartitions``."""
    return (murmur2_java(key) & 0x7FFFFFFF) % n_partitions


# --- bots: comment fingerprints ----------------------------------------------------------------

TEXT_EMOJI_ONLY, TEXT_GENERIC, TEXT_SPECIFIC = 1, 2, 4


def _ascii_alnum(b: int) -> bool:
    return ord("0") <= b <= ord("9") or ord("A") <= b <= ord("Z") or ord("a") <= b <= ord("z")


def text_tokens(text: str) -> list[str]:
    """Maximal runs of ASCII letters and digits in the UTF-8 bytes of ``text``, lower-cased."""
    out: list[str] = []
    cur: list[str] = []
    for b in text.encode("utf-8"):
        if _ascii_alnum(b):
            cur.append(chr(b).lower())
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def simhash64(tokens: Sequence[str]) -> int:
    """Bit b is set iff more of the tokens' FNV-1a-64 hashes have bit b set than not (a tie gives 0)."""
    hashes = [fnv1a_64(t) for t in tokens]
    out = 0
    for b in range(64):
        ones = sum((h >> b) & 1 for h in hashes)
        if ones > len(hashes) - ones:
            out |= 1 << b
    return out


def is_letter(ch: str) -> bool:
    """A character outside ASCII that counts as a letter of some script: U+00C0..U+1FFF (Latin-1 letters,
    Latin Extended, Greek, Cyrillic, Hebrew, Arabic, Indic, ...) or U+3000..U+EFFF (CJK, kana, Hangul, private
    use). Not letters: U+0080..U+00BF (Latin-1 punctuation and signs), U+2000..U+2FFF (punctuation, symbols,
    ZWJ, dingbats such as the heart), U+F000..U+FFFF (variation selectors, specials) and every code point from
    U+10000 (emoji). In UTF-8 these are the characters whose lead byte is C3-DF, E0-E1 or E3-EE."""
    cp = ord(ch)
    return 0xC0 <= cp <= 0x1FFF or 0x3000 <= cp <= 0xEFFF


def text_fingerprint(text: str, generic: set[str], generic_prefix: set[str]) -> tuple[int, int]:
    """(SimHash, flags) of a comment.

    No ASCII letter or digit: the FNV-1a of its bytes; flagged emoji-only and generic when it is not empty
    and has no letter in any other script either (:func:`is_letter`): emoji, symbols, punctuation, spaces.
    Otherwise the SimHash of its tokens; generic when the tokens joined by one space are a generic phrase, or
    when there are more than two tokens and the first two joined are a generic prefix; specific when it is not
    generic and has at least five tokens.
    """
    toks = text_tokens(text)
    if not toks:
        emoji_only = bool(text) and not any(is_letter(ch) for ch in text)
        return fnv1a_64(text), (TEXT_EMOJI_ONLY | TEXT_GENERIC) if emoji_only else 0
    flags = 0
    if " ".join(toks) in generic or (len(toks) > 2 and " ".join(toks[:2]) in generic_prefix):
        flags |= TEXT_GENERIC
    elif len(toks) >= 5:
        flags |= TEXT_SPECIFIC
    return simhash64(toks), flags


# --- bots: per-actor behaviour -----------------------------------------------------------------

#: Evidence bits, in the order the rules are tried (and their strengths multiplied).
B_REGULAR, B_EVEN, B_SLEEPLESS, B_TEMPLATED, B_FAST, B_VOLUME, B_PROFILE, B_COPIED = (1 << i for i in range(8))
RECENT_COMMENTS = 4


@dataclass
class BotParams:
    session_s: float = 1_800.0
    fast_s: float = 1.0
    threshold: float = 0.75
    copied_accounts: int = 5


@dataclass
class Action:
    actor: int
    ts: float
    kind: int
    target_h: int
    sim: int = 0
    tflags: int = 0
    apply: bool = True
    shared: int = 0  # other accounts that posted the same specific text


@dataclass
class BotActor:
    first_ts: float = math.inf
    last_ts: float = -math.inf  # latest action time seen in arrival order (-inf before the first)
    gap_mean: float = 0.0
    gap_m2: float = 0.0
    lgap_mean: float = 0.0  # Welford over log1p(gap) of the same in-session gaps
    lgap_m2: float = 0.0
    profile_fake: float = math.nan
    profile_following: float = math.nan  # accounts it follows, from its latest profile snapshot
    score: float = 0.0
    flag_first: float = math.nan
    flag_last: float = math.nan
    n_act: int = 0
    n_like: int = 0
    n_comment: int = 0
    n_follow: int = 0
    n_gaps: int = 0
    n_fast: int = 0
    hours: set[int] = field(default_factory=set)
    day_hours: set[int] = field(default_factory=set)  # hours of the current day (in arrival order)
    hours2: set[int] = field(default_factory=set)  # hours it acted in on at least two (arrival-order) days
    n_days: int = 0
    last_day: int = -1
    n_generic: int = 0
    n_repeat: int = 0
    n_copied: int = 0
    max_shared: int = 0
    recent: list[int] = field(default_factory=lambda: [0] * RECENT_COMMENTS)  # ring of SimHashes, 0 = empty
    recent_ptr: int = 0
    targets: set[int] = field(default_factory=set)  # target hash mod 63
    n_ooo: int = 0
    evidence: int = 0
    flagged: bool = False
    category: int = 0  # the audience category: kept by the partition core, never set by the bot kernels


def bot_evidence(a: BotActor) -> tuple[int, float]:
    """Rules that hold for the actor and ``1 - prod(1 - strength)`` over them.

    regular pace (0.9): >= 30 in-session gaps, coefficient of variation (population sd / mean, 0 if mean is 0)
    < 0.35; else even pace (0.4): >= 100 gaps whose log1p has a population sd < 0.75 (both need >= 2 gaps).
    No sleep (0.7): >= 22 UTC hours it acted in on two days or more, >= 2 days, >= 100 actions. Templated
    (0.7): >= 5 comments and max(generic, repeats) >= 60% of them. Fast (0.8): >= 10 gaps below ``fast_s``,
    and at least 5% of the actions. Volume (0.6): >= 800 actions and >= 800 a day over max(1, span in days).
    Copied (0.7): >= 3 copied comments and >= 10% of its comments. Fake profile (0.6 p): a profile score p >= 0.5.
    """
    bits = 0
    keep = 1.0
    if a.n_gaps >= 2:
        cv = math.sqrt(a.gap_m2 / a.n_gaps) / a.gap_mean if a.gap_mean > 0 else 0.0
        if a.n_gaps >= 30 and cv < 0.35:
            bits |= B_REGULAR
            keep *= 1.0 - 0.9
        elif a.n_gaps >= 100 and math.sqrt(a.lgap_m2 / a.n_gaps) < 0.75:
            bits |= B_EVEN
            keep *= 1.0 - 0.4
    if len(a.hours2) >= 22 and a.n_days >= 2 and a.n_act >= 100:
        bits |= B_SLEEPLESS
        keep *= 1.0 - 0.7
    if a.n_comment >= 5 and max(a.n_generic, a.n_repeat) >= 0.6 * a.n_comment:
        bits |= B_TEMPLATED
        keep *= 1.0 - 0.7
    if a.n_fast >= 10 and a.n_fast >= 0.05 * a.n_act:
        bits |= B_FAST
        keep *= 1.0 - 0.8
    span_days = max(1.0, (a.last_ts - a.first_ts) / 86_400.0)
    if a.n_act >= 800 and a.n_act / span_days >= 800.0:
        bits |= B_VOLUME
        keep *= 1.0 - 0.6
    if a.n_copied >= 3 and a.n_copied >= 0.1 * a.n_comment:
        bits |= B_COPIED
        keep *= 1.0 - 0.7
    if not math.isnan(a.profile_fake) and a.profile_fake >= 0.5:
        bits |= B_PROFILE
        keep *= 1.0 - 0.6 * a.profile_fake
    return bits, 1.0 - keep


def _rescore(a: BotActor) -> None:
    a.evidence, a.score = bot_evidence(a)


def bot_update(actions: Iterable[Action], actors: dict[int, BotActor], p: BotParams) -> dict[int, int]:
    """Apply the actions (those with ``apply``) in order; returns {actor: index of the action that first
    raised its flag}.

    Per action: counts by kind (0 like, 1 comment, 2 follow, 3 unfollow), the target bit, the first time. An
    action at or after the actor's latest time gives the gap to it (none for the first action): a gap below
    ``fast_s`` is fast, a gap up to ``session_s`` joins the in-session Welford mean / M2 (of the gap and of
    its log1p); an earlier action
    gives no gap and counts as out of order. A UTC day other than the previous action's (in arrival order) counts
    one more day and starts a new set of the day's hours; its UTC hour joins the day's hours and the hour set,
    and the set of hours seen on two days or more when it was in the hour set from an earlier day. A comment
    counts as generic by its text flags and as a
    repeat when its SimHash is within 3 bits of a non-empty one of the actor's last four, then enters that ring;
    it is a copy when ``shared`` >= ``copied_accounts``, and the largest ``shared`` is kept.
    Then the actor is re-scored (:func:`_decide`): the flag is up while the score is at ``threshold`` or above;
    its first time is the action's time when it rises for the first time ever, and while up its last time moves
    forward to the action's time when that is later (never back: an action arriving late leaves it, so it never
    precedes the first time). Returned: the actions where it rose (a flag that fell and rose again, again).
    """
    raised: dict[int, int] = {}  # actor: the last action where its flag rose
    for i, e in enumerate(actions):
        if not e.apply:
            continue
        a = actors.setdefault(e.actor, BotActor())
        a.n_act += 1
        if e.kind == LIKE:
            a.n_like += 1
        elif e.kind == COMMENT:
            a.n_comment += 1
            if e.tflags & TEXT_GENERIC:
                a.n_generic += 1
            if any(r != 0 and bin(r ^ e.sim).count("1") <= 3 for r in a.recent):
                a.n_repeat += 1
            a.recent[a.recent_ptr] = e.sim
            a.recent_ptr = (a.recent_ptr + 1) % RECENT_COMMENTS
            if e.shared >= p.copied_accounts:
                a.n_copied += 1
            a.max_shared = max(a.max_shared, e.shared)
        elif e.kind == FOLLOW:
            a.n_follow += 1
        a.targets.add(e.target_h % 63)
        a.first_ts = min(a.first_ts, e.ts)
        if e.ts >= a.last_ts:
            if a.last_ts > -math.inf:
                g = e.ts - a.last_ts
                if g < p.fast_s:
                    a.n_fast += 1
                if g <= p.session_s:
                    a.n_gaps += 1
                    d = g - a.gap_mean
                    a.gap_mean += d / a.n_gaps
                    a.gap_m2 += d * (g - a.gap_mean)
                    lg = math.log1p(g)
                    d = lg - a.lgap_mean
                    a.lgap_mean += d / a.n_gaps
                    a.lgap_m2 += d * (lg - a.lgap_mean)
            a.last_ts = e.ts
        else:
            a.n_ooo += 1
        day = int(e.ts // 86_400.0)
        if day != a.last_day:
            a.n_days += 1
            a.last_day = day
            a.day_hours = set()
        hour = int(e.ts // 3600.0) % 24
        if hour not in a.day_hours:
            if hour in a.hours:
                a.hours2.add(hour)
            a.hours.add(hour)
            a.day_hours.add(hour)
        if _decide(a, e.ts, p.threshold):
            raised[e.actor] = i
    return raised


def _decide(a: BotActor, t: float, threshold: float) -> bool:
    """Re-score; the flag is up exactly while the score reaches the threshold. Its first time is the first time it
    ever rose, its last time the latest time it held. True when it rose now."""
    _rescore(a)
    rose = False
    if a.score >= threshold:
        if not a.flagged:
            a.flagged = rose = True
            if math.isnan(a.flag_first):
                a.flag_first = a.flag_last = t
        a.flag_last = max(a.flag_last, t)
    else:
        a.flagged = False
    return rose


@dataclass
class ProfileScore:
    account: int
    fake: float
    ts: float
    following: int = 0


def bot_profile_update(profiles: Iterable[ProfileScore], actors: dict[int, BotActor], threshold: float
                       ) -> dict[int, int]:
    """Each snapshot's fake score and following count replace the last ones (arrival order) and re-score the
    actor at the snapshot time, or at the actor's latest action if that is later."""
    raised: dict[int, int] = {}
    for i, pr in enumerate(profiles):
        a = actors.setdefault(pr.account, BotActor())
        a.profile_fake = pr.fake
        a.profile_following = float(pr.following)
        if _decide(a, max(pr.ts, a.last_ts), threshold):
            raised[pr.account] = i
    return raised


# ---------------------------------------------------------------------------------------------------
# MIDAS-R (detectors.kernels.midas): count-min sketches of decayed current-tick counts and total counts

def _mix64(x: int) -> int:
    m = (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


MIDAS_SEEDS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
               0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x2545F4914F6CDD1D, 0x9FB21C651E98DF25)


def chi2_score(a: float, s: float, t: float) -> float:
    """The MIDAS statistic (a - s/t)^2 t^2 / (s (t - 1)); 0 when s = 0 or t <= 1."""
    if s <= 0 or t <= 1:
        return 0.0
    return ((a - s / t) * t) ** 2 / (s * (t - 1))


class NaiveSketch:
    """``rows`` count-min rows of ``width`` cells (``width`` a power of two) for current and total counts; the
    partition's clock starts at its first tick (t = 1) and decays the current counts by ``decay`` per tick."""

    def __init__(self, rows: int, width: int, tick_s: float, decay: float) -> None:
        self.cur = [[0.0] * width for _ in range(rows)]
        self.tot = [[0.0] * width for _ in range(rows)]
        self.tick: float | None = None
        self.t = 0.0
        self.covered = -1
        self.tick_s, self.decay, self.width = tick_s, decay, width

    def score(self, key: int, ts: float, pos: int) -> float:
        tick = math.floor(ts / self.tick_s)
        if self.tick is None:
            self.tick, self.t = tick, 1.0
        elif tick > self.tick:
            d = tick - self.tick
            f = self.decay ** d if d < 2000 else 0.0
            self.cur = [[c * f for c in row] for row in self.cur]
            self.t += d
            self.tick = tick
        cells = [(r, _mix64(key ^ MIDAS_SEEDS[r]) & (self.width - 1)) for r in range(len(self.cur))]
        if pos > self.covered:
            for r, b in cells:
                self.cur[r][b] += 1.0
                self.tot[r][b] += 1.0
            self.covered = pos
        return chi2_score(min(self.cur[r][b] for r, b in cells), min(self.tot[r][b] for r, b in cells), self.t)


@dataclass
class NaiveNode:
    """MIDAS-R of one key with exact counts and a clock from its own first tick."""

    tick: float | None = None
    t0: float = 0.0
    cur: float = 0.0
    tot: float = 0.0

    def score(self, ts: float, tick_s: float, decay: float) -> float:
        tick = math.floor(ts / tick_s)
        if self.tick is None:
            self.tick, self.t0 = tick, tick
        elif tick > self.tick:
            d = tick - self.tick
            self.cur *= decay ** d if d < 2000 else 0.0
            self.tick = tick
        self.cur += 1.0
        self.tot += 1.0
        return chi2_score(self.cur, self.tot, self.tick - self.t0 + 1.0)


# ---------------------------------------------------------------------------------------------------
# first-seen accounts (detectors.kernels.seen), without eviction (tests keep the table below 3/4 full)

class NaiveSeen:
    """An account's event is *new* when it is the earliest position seen for the account (its first
    engagement, or the same event again)."""

    def __init__(self) -> None:
        self.first: dict[int, int] = {}

    def new(self, account: int, pos: int) -> bool:
        k = account or 1
        if k not in self.first or pos <= self.first[k]:
            self.first[k] = min(pos, self.first.get(k, pos))
            return True
        return False


# ---------------------------------------------------------------------------------------------------
# the purchase detector (detectors.kernels.purchases), one channel of one creator at a time

@dataclass
class PEvent:
    kind: int  # LIKE, COMMENT, FOLLOW or UNFOLLOW
    ts: float
    account: int
    strong: bool  # first seen on the partition and suspicious
    susp: bool
    new: bool
    generic: bool
    post: int  # hash, 0: none
    post_score: float


@dataclass
class PParams:
    slow_hl: float
    base_hl: float
    tick_s: float
    decay: float
    chi2: float
    burst_min: float
    hold: float
    prior_n: float
    prior_strong: float
    prior_susp: float
    min_k_burst: float
    g_burst: float
    min_k_slow: float
    g_slow: float
    learn_g: float
    fast_hl: float
    min_k_fast: float
    warm: float
    shift_ratio: float
    g_scan: float
    min_others: float


def poisson_g(k: float, mu: float) -> float:
    """k ln(k / mu) - (k - mu) when k > mu (mu floored at 1e-9), else 0."""
    if k <= mu or k <= 0:
        return 0.0
    mu = max(mu, 1e-9)
    return k * math.log(k / mu) - (k - mu)


@dataclass
class PChannel:
    last: float = -math.inf
    slow: dict[str, float] = field(default_factory=lambda: dict.fromkeys("n k s l c g w o".split(), 0.0))
    base: dict[str, float] = field(default_factory=lambda: dict.fromkeys("n k s l c g".split(), 0.0))
    fast: dict[str, float] = field(default_factory=lambda: dict.fromkeys("n k".split(), 0.0))
    node: NaiveNode = field(default_factory=NaiveNode)
    burst_start: float = math.nan
    burst_until: float = -math.inf
    burst: dict[str, float] = field(default_factory=lambda: dict.fromkeys("max n k s new l c g".split(), 0.0))
    # shift test: Page's CUSUM and the counts of its current run
    cusum: float = 0.0
    run_start: float = math.nan
    run: dict[str, float] = field(default_factory=lambda: dict.fromkeys("n k mu l c g".split(), 0.0))
    # scan test: engagements so far, and (time, count) at the last SCAN_K strong ones, newest first
    count: float = 0.0
    strong_at: list[tuple[float, float]] = field(default_factory=list)
    # flag
    score: float = 0.0
    first: float = math.nan
    flast: float = math.nan
    ev: dict[str, float] = field(default_factory=dict)
    post: int = 0
    churn: float = 0.0


SCAN_K = 4  # strong engagements the scan test looks back over


class NaivePurchases:
    """The purchase detector's semantics with plain dicts (see detectors.kernels.purchases)."""

    def __init__(self, p: PParams) -> None:
        self.p = p
        self.ch: dict[tuple[int, int], PChannel] = {}
        self.part_n = 0.0
        self.part_new = 0.0
        self.part_last = -math.inf
        self.raised: list[tuple[int, int]] = []  # (account, channel) when a flag first appears

    def channel(self, account: int, c: int) -> PChannel:
        return self.ch.setdefault((account, c), PChannel())

    def apply(self, e: PEvent) -> None:
        p = self.p
        if e.kind == UNFOLLOW:
            f = self.channel(e.account, 1)
            if e.susp and not math.isnan(f.first) and e.ts >= f.first:
                f.churn += 1
            return
        c = 1 if e.kind == FOLLOW else 0
        ch = self.channel(e.account, c)
        t = e.ts
        if t > ch.last:
            if ch.last > -math.inf:
                dt = t - ch.last
                for d, hl in ((ch.slow, p.slow_hl), (ch.base, p.base_hl), (ch.fast, p.fast_hl)):
                    f = math.exp(-math.log(2.0) * dt / hl)  # 2 ** (-dt / hl), written as the kernel does
                    for key in d:
                        d[key] *= f
            ch.last = t
        if t > self.part_last:
            if self.part_last > -math.inf:
                f = math.exp(-math.log(2.0) * (t - self.part_last) / p.slow_hl)
                self.part_n *= f
                self.part_new *= f
            self.part_last = t
        # the share of first-seen engagers is counted over all but new suspicious accounts (a purchase's)
        counted = 0.0 if e.strong else 1.0
        self.part_n += counted
        self.part_new += e.new * counted
        ch.slow["w"] += e.new * counted
        ch.slow["o"] += counted
        others = self.part_n - ch.slow["o"] - counted
        if others >= p.min_others:
            share = min(1.0, max(0.0, (self.part_new - ch.slow["w"]) / others))
            warm = share < p.warm
        else:  # too few to tell: as if every engager were new, for the prior
            share, warm = 1.0, True
        st, su = float(e.strong and warm), float(e.susp)
        prior_k, prior_s = max(p.prior_strong, share * p.prior_susp), p.prior_susp
        ms = max(ch.node.score(t, p.tick_s, p.decay), e.post_score)
        if ms >= p.chi2 and ch.node.cur >= p.burst_min:
            if t > ch.burst_until:
                ch.burst_start = t
                ch.burst = dict.fromkeys(ch.burst, 0.0)
            ch.burst_until = max(ch.burst_until, t + p.hold)
            ch.burst["max"] = max(ch.burst["max"], ms)
        like, comment = float(e.kind == LIKE), float(e.kind == COMMENT)
        generic = float(e.kind == COMMENT and e.generic)
        for key, v in (("n", 1.0), ("k", st), ("s", su), ("l", like), ("c", comment), ("g", generic)):
            ch.slow[key] += v
        ch.fast["n"] += 1.0
        ch.fast["k"] += st
        in_burst = t <= ch.burst_until
        if in_burst:
            for key, v in (("n", 1.0), ("k", st), ("s", su), ("new", float(e.new)), ("l", like), ("c", comment),
                           ("g", generic)):
                ch.burst[key] += v
        usual_k = (ch.base["k"] + p.prior_n * prior_k) / (ch.base["n"] + p.prior_n)
        usual_s = (ch.base["s"] + p.prior_n * prior_s) / (ch.base["n"] + p.prior_n)

        def test(n: float, k: float, min_k: float, g_min: float) -> tuple[float, float, float]:
            mu = n * usual_k
            return (poisson_g(k, mu) if k >= min_k else 0.0) / g_min, k, mu

        r_slow, obs_s, mu_s = test(ch.slow["n"], ch.slow["k"], p.min_k_slow, p.g_slow) if warm else (0.0, 0.0, 0.0)
        cu_r = r_shift = 0.0
        cu_before = ch.cusum
        if warm:
            if ch.cusum <= 0:
                ch.run_start = t
                ch.run = dict.fromkeys(ch.run, 0.0)
            step = st * math.log(p.shift_ratio) - (p.shift_ratio - 1.0) * usual_k
            ch.cusum = max(0.0, ch.cusum + step)
            for key, v in (("n", 1.0), ("k", st), ("mu", usual_k), ("l", like), ("c", comment), ("g", generic)):
                ch.run[key] += v
            cu_r = ch.cusum / p.g_slow
            r_shift = cu_r if ch.run["k"] >= p.min_k_slow else 0.0
        ch.count += 1
        if st:
            ch.strong_at = [(t, ch.count), *ch.strong_at][:SCAN_K]
        r_burst, obs_b, mu_b = 0.0, 0.0, 0.0
        r_scan = n_scan = 0.0
        if in_burst and warm:
            r_burst, obs_b, mu_b = test(ch.burst["n"], ch.burst["k"], p.min_k_burst, p.g_burst)
            r_burst = max(r_burst, test(ch.fast["n"], ch.fast["k"], p.min_k_fast, p.g_burst)[0])
        # the scan: in a burst, or over SCAN_K strong engagements within a burst's hold
        if st and len(ch.strong_at) == SCAN_K and (in_burst or t - ch.strong_at[-1][0] <= p.hold):
            n_after = ch.count - ch.strong_at[-1][1]
            r_scan = poisson_g(SCAN_K - 1, n_after * usual_k) / p.g_scan
            n_scan = n_after + 1
        post = e.post if e.kind != FOLLOW else 0
        if r_scan >= 1.0 and r_burst < 1.0:
            w = 1.0 if in_burst else 0.0  # no window of likes and comments outside a burst
            self._raise(ch, e.account, c, r_scan, 0.0, SCAN_K, n_scan * usual_k, n_scan, usual_k, ch.strong_at[-1][0],
                        t, w * ch.burst["l"], w * ch.burst["c"], w * ch.burst["g"], w * ch.burst["new"], post)
        elif r_burst >= 1.0:
            self._raise(ch, e.account, c, r_burst, 0.0, obs_b, mu_b, ch.burst["n"], usual_k, ch.burst_start, t,
                        ch.burst["l"], ch.burst["c"], ch.burst["g"], ch.burst["new"], post)
        elif r_slow >= 1.0:
            self._raise(ch, e.account, c, r_slow, 1.0, obs_s, mu_s, ch.slow["n"], usual_k,
                        t - p.slow_hl / math.log(2.0), t, ch.slow["l"], ch.slow["c"], ch.slow["g"], 0.0, post)
        elif r_shift >= 1.0:
            r = ch.run
            self._raise(ch, e.account, c, r_shift, 2.0, r["k"], r["mu"], r["n"], r["mu"] / r["n"], ch.run_start, t,
                        r["l"], r["c"], r["g"], 0.0, post)
        # nothing is learned while the windows run high (the engagement is skipped with its quality)
        elevated = warm and (poisson_g(ch.slow["k"], ch.slow["n"] * usual_k) >= p.learn_g or cu_before >= p.learn_g)
        if r_slow < 0.5 and r_burst < 0.5 and r_scan < 0.5 and cu_r < 0.5 and not elevated:
            ch.base["n"] += 1
            ch.base["l"] += like
            ch.base["c"] += comment
            ch.base["g"] += generic
            ch.base["k"] += st
            if poisson_g(ch.slow["s"], ch.slow["n"] * usual_s) < p.learn_g:
                ch.base["s"] += su

    def _raise(self, ch: PChannel, account: int, c: int, ratio: float, cls: float, k: float, mu: float, n: float,
               usual: float, start: float, t: float, likes: float, comments: float, generic: float, new: float,
               post: int) -> None:
        score = min(1.0, 0.5 * ratio)
        fresh = math.isnan(ch.first)
        if fresh:
            ch.first = t
            ch.ev = {"class": cls}
            self.raised.append((account, c))
        ch.flast = t if fresh else max(ch.flast, t)
        if fresh or (ch.ev["class"] == cls and (score > ch.ev["score"] or (score == ch.ev["score"]
                                                                             and k > ch.ev["k"]))):
            ch.ev.update(score=score, n=n, k=k, mu=mu, usual=usual, start=start, end=t, l=likes, c=comments,
                         g=generic, new=new, ul=ch.base["l"], uc=ch.base["c"], midas=ch.burst["max"])
            if post:
                ch.post = post
        ch.score = max(ch.score, score)
