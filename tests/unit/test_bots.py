"""The bot detector: comment fingerprints, the Kafka partitioner and per-actor behaviour (kernels against
:mod:`tests.unit.naive`), flags and their reasons, the ``actions`` topic codec, and the path through
:class:`~detectors.core.PartitionCore` (forwarding, duplicates, replay, checkpoints)."""

from __future__ import annotations

import dataclasses
import io
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.base import ActionColumns, ProfileColumns
from detectors.bots import (
    GENERIC_PHRASES,
    GENERIC_PREFIXES,
    BotDetector,
    BotParams,
    fingerprint_texts,
    partitions_of,
)
from detectors.core import CoreParams, PartitionCore
from detectors.ids import hash_ids
from detectors.kernels import bots as K
from detectors.profiles import ProfileModel
from detectors.state import CHUNK, CHUNK_SHIFT, AccountTable
from schemas.actions import ActionBatch, decode_actions, encode_actions
from schemas.wire import EVENT_KINDS, EngagementEvent, EventKind, FlagRecord, ProfileSnapshot
from tests.unit import naive
from tests.unit.naive import COMMENT, FOLLOW, LIKE, UNFOLLOW

T0 = 1_750_032_000.0  # 2025-06-16 00:00:00 UTC
assert T0 % 86_400 == 0
DAY = 86_400.0
GENERIC = {" ".join(naive.text_tokens(p)) for p in GENERIC_PHRASES}
PREFIX = {" ".join(naive.text_tokens(p)) for p in GENERIC_PREFIXES}
SMALL = CoreParams(dedup_capacity=1 << 14)

# ---------------------------------------------------------------------------------------------------
# 1. comment fingerprints


def ref_fingerprints(texts: Sequence[str]) -> tuple[list[int], list[int]]:
    out = [naive.text_fingerprint(t, GENERIC, PREFIX) for t in texts]
    return [s for s, _ in out], [f for _, f in out]


def fp(text: str) -> tuple[int, int]:
    sim, flags = fingerprint_texts([text])
    return int(sim[0]), int(flags[0])


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


WORDS = ["nice", "Nice", "PIC", "pic", "love", "this", "so", "good", "great", "content", "follow", "me", "check",
         "my", "profile", "wow", "cafe", "caf\u00e9", "42", "x1", "sunset", "keep", "it", "up", "dm"]
SEPS = [" ", "  ", "! ", ", ", "...", " \U0001f525 ", "\u2764\ufe0f", "\t", "\n", "-", "_", "'", "\u00a0", "\u200d"]


@st.composite
def comment_texts(draw: st.DrawFn) -> str:
    """Phrase-like comments (generic phrases, words, emoji and punctuation in between) or arbitrary text."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.text(max_size=40))
    if choice == 1:
        chars = list("aZ9 !.\u00e9\u0416\u4e2d\u00bf\ufe0f\u200d") + ["\U0001f525", "\u2764"]
        return draw(st.text(alphabet=st.sampled_from(chars), max_size=20))
    if choice == 2:
        base = draw(st.sampled_from(GENERIC_PHRASES))
        tail = draw(st.lists(st.sampled_from(WORDS), max_size=3))
        words = [w.upper() if draw(st.booleans()) else w for w in base.split()] + tail
    else:
        words = draw(st.lists(st.sampled_from(WORDS), max_size=7))
    lead = draw(st.sampled_from(["", " ", "\U0001f525", "@", "#"]))
    return lead + "".join(w + draw(st.sampled_from(SEPS)) for w in words)


@given(st.lists(comment_texts(), max_size=25))
@settings(max_examples=250, deadline=None)
def test_text_fingerprints_match_the_reference(texts: list[str]) -> None:
    sim, flags = fingerprint_texts(texts)
    assert sim.dtype == np.uint64 and flags.dtype == np.uint8 and sim.shape == flags.shape == (len(texts),)
    want_sim, want_flags = ref_fingerprints(texts)
    assert [int(x) for x in sim] == want_sim
    assert [int(x) for x in flags] == want_flags


def test_generic_tables_are_normalized_phrases_and_their_two_word_openings() -> None:
    assert all(" ".join(naive.text_tokens(p)) == p for p in GENERIC_PHRASES)
    assert set(GENERIC_PREFIXES) == {p for p in GENERIC_PHRASES if len(p.split()) == 2}
    assert "nice pic" in GENERIC_PREFIXES and "love this" in GENERIC_PREFIXES


@pytest.mark.parametrize(("text", "flags"), [
    ("Nice pic!", K.TEXT_GENERIC),
    ("NICE   PIC \U0001f525\U0001f525", K.TEXT_GENERIC),
    ("\U0001f525\U0001f525\U0001f525", K.TEXT_EMOJI_ONLY | K.TEXT_GENERIC),
    ("\u2764\ufe0f!!", K.TEXT_EMOJI_ONLY | K.TEXT_GENERIC),
    ("   ", K.TEXT_EMOJI_ONLY | K.TEXT_GENERIC),  # no letter or digit: same bucket as emoji
    ("\u2764\ufe0f\u200d\U0001f525 \u00bf\u00a1", K.TEXT_EMOJI_ONLY | K.TEXT_GENERIC),  # heart, ZWJ, Latin-1 signs
    ("\u041f\u0440\u0438\u0432\u0435\u0442", 0),  # no ASCII word, but Cyrillic letters: a real comment
    ("\u041f\u0440\u0438\u0432\u0435\u0442!! \U0001f525", 0),
    ("\u4e2d\u6587\u8bc4\u8bba", 0),  # CJK
    ("\u3053\u3093\u306b\u3061\u306f", 0),  # kana
    ("\uc548\ub155", 0),  # Hangul
    ("\u0928\u092e\u0938\u094d\u0924\u0947", 0),  # Devanagari
    ("\u00c0", 0),  # the first Latin-1 letter
    ("\U0001f525 \u00e9", 0),  # one letter among emoji is enough
    ("", 0),
    ("nice pic love this so", K.TEXT_GENERIC),  # longer, with a generic two-word opening
    ("love this so good", K.TEXT_GENERIC),  # "love this" is a two-word generic phrase, so an opening too
    ("so good", 0),
    ("nice to meet you at the market", K.TEXT_SPECIFIC),  # "nice" is generic alone, only two-word openings count
    ("nice", K.TEXT_GENERIC),
    ("Follow back!!", K.TEXT_GENERIC),
    ("The light on the left tower is unreal, which lens?", K.TEXT_SPECIFIC),
    ("where is that cafe", 0),  # four words: people write that alike
    ("where is that cafe now", K.TEXT_SPECIFIC),
    ("nicepic", 0),
])
def test_known_texts(text: str, flags: int) -> None:
    sim, got = fp(text)
    assert got == flags
    want_sim, want_flags = naive.text_fingerprint(text, GENERIC, PREFIX)
    assert (sim, got) == (want_sim, want_flags)
    if not naive.text_tokens(text):
        assert sim == naive.fnv1a_64(text)  # identical emoji strings match exactly


#: One character per UTF-8 lead byte range, at both ends: whether a text of it alone is a letter (flags 0) or
#: emoji-only (generic). Letters: lead bytes C3-DF, E0-E1, E3-EE (U+00C0..U+1FFF, U+3000..U+EFFF).
LEAD_BYTE_EDGES = [
    (0x80, False), (0xBF, False),  # C2: Latin-1 punctuation, signs
    (0xC0, True), (0xFF, True), (0x400, True), (0x7FF, True),  # C3-DF
    (0x800, True), (0xFFF, True), (0x1000, True), (0x1FFF, True),  # E0-E1
    (0x2000, False), (0x200D, False), (0x2764, False), (0x2FFF, False),  # E2: punctuation, ZWJ, symbols
    (0x3000, True), (0x4E2D, True), (0xAC00, True), (0xEFFF, True),  # E3-EE
    (0xF000, False), (0xFE0F, False), (0xFFFD, False), (0xFFFF, False),  # EF: variation selectors, specials
    (0x10000, False), (0x1F525, False), (0x10FFFF, False),  # F0-F4: emoji and the rest
]


@pytest.mark.parametrize(("cp", "letter"), LEAD_BYTE_EDGES)
def test_a_text_without_ascii_words_is_emoji_only_unless_it_has_a_letter(cp: int, letter: bool) -> None:
    ch = chr(cp)
    assert naive.is_letter(ch) == letter
    lead = ch.encode()[0]
    assert (0xC3 <= lead <= 0xDF or 0xE0 <= lead <= 0xE1 or 0xE3 <= lead <= 0xEE) == letter
    for text in (ch, ch * 3, f"{ch} !! \U0001f525", f"\u2764\ufe0f{ch}"):
        sim, flags = fp(text)
        assert flags == (0 if letter else K.TEXT_EMOJI_ONLY | K.TEXT_GENERIC), text
        assert sim == naive.fnv1a_64(text)  # either way the raw bytes fingerprint it: equal texts match
        assert (sim, flags) == naive.text_fingerprint(text, GENERIC, PREFIX)


def test_love_this_so_good_is_generic_only_through_its_opening() -> None:
    assert "love this so good" not in GENERIC_PHRASES
    assert "love this" in GENERIC_PHRASES
    assert fp("love this so good")[1] == K.TEXT_GENERIC
    assert fp("this love so good")[1] == 0  # same words, no generic opening, too short to be specific


@given(comment_texts(), st.sampled_from(["!", "!!! \U0001f525", " :)", "..."]), st.booleans())
@settings(max_examples=150, deadline=None)
def test_case_punctuation_and_emoji_do_not_change_the_simhash(text: str, deco: str, upper: bool) -> None:
    if not naive.text_tokens(text):
        return
    variant = (text.upper() if upper else text.lower()) + deco
    # str.upper() of non-ASCII may create ASCII letters ("\u0131".upper() == "I"): compare tokens, not texts
    if [t.lower() for t in naive.text_tokens(variant)] != naive.text_tokens(text):
        return
    assert fp(variant)[0] == fp(text)[0]


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), st.randoms(use_true_random=False))
@settings(max_examples=80, deadline=None)
def test_simhash_is_a_bag_of_tokens(words: list[str], rnd: random.Random) -> None:
    shuffled = list(words)
    rnd.shuffle(shuffled)
    assert fp(" ".join(words))[0] == fp(", ".join(shuffled))[0]


@pytest.mark.parametrize(("a", "b"), [
    ("Great content, keep it up! \U0001f525", "great content keep it up \U0001f525\U0001f525"),
    ("Check out my page for more amazing photography tips and daily tricks",
     "check out my page for more amazing photography tips and daily tricks!!"),
    ("wow the colours here are unreal, where is this", "Where is this?? wow, the colours here are unreal"),
    ("Great shot of the bridge at night", "great shot of the bridge at night \U0001f309\U0001f309"),
])
def test_near_identical_texts_are_within_three_bits(a: str, b: str) -> None:
    """Near-identical means the same words (any case, punctuation, emoji or order): a SimHash over a dozen
    tokens moves by more than 3 bits when one word changes ("dogs" / "dog"), so that is not a repeat."""
    assert hamming(fp(a)[0], fp(b)[0]) <= 3


def test_different_texts_are_far_apart() -> None:
    texts = ["what lens did you use for this", "the sourdough recipe please", "see you at the gym tomorrow",
             "congrats on the new job", "that goal in the 89th minute"]
    sims = [fp(t)[0] for t in texts]
    assert all(hamming(x, y) > 3 for i, x in enumerate(sims) for y in sims[i + 1:])


def test_fingerprint_of_no_texts() -> None:
    sim, flags = fingerprint_texts([])
    assert sim.shape == flags.shape == (0,)


# ---------------------------------------------------------------------------------------------------
# 2. the Kafka partitioner

#: Utils.murmur2 of these keys, from Kafka's own UtilsTest.testMurmur2.
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_reference_murmur2_reproduces_kafkas_test_vectors() -> None:
    for key, want in KAFKA_MURMUR2.items():
        assert naive.murmur2_java(key) == want


def test_partitions_of_known_keys() -> None:
    keys = [k.decode() for k in KAFKA_MURMUR2]
    # with 2**31 partitions the partition is toPositive(murmur2) itself: all 31 bits compared
    assert partitions_of(keys, 1 << 31).tolist() == [v & 0x7FFFFFFF for v in KAFKA_MURMUR2.values()]
    assert partitions_of([], 12).shape == (0,)


keys_st = st.lists(st.one_of(st.text(max_size=20), st.text(alphabet="ab\u00e9\u4e2d\U0001f525", max_size=20),
                             st.integers(0, 20).map(lambda n: "k" * n)), max_size=40)


@given(keys_st, st.one_of(st.integers(1, 64), st.integers(1, 1 << 31)))
@settings(max_examples=200, deadline=None)
def test_partitions_of_is_kafkas_default_partitioner(keys: list[str], n: int) -> None:
    got = partitions_of(keys, n)
    assert got.dtype == np.int64
    assert got.tolist() == [naive.kafka_partition(k.encode(), n) for k in keys]
    assert partitions_of(keys, 1 << 31).tolist() == [naive.murmur2_java(k.encode()) & 0x7FFFFFFF for k in keys]


@given(keys_st, st.integers(1, 64))
@settings(max_examples=100, deadline=None)
def test_partitions_of_agrees_with_aiokafka(keys: list[str], n: int) -> None:
    part = pytest.importorskip("aiokafka.partitioner")
    got = partitions_of(keys, n).tolist()
    murmur2 = getattr(part, "murmur2", None)
    if murmur2 is not None:
        assert partitions_of(keys, 1 << 31).tolist() == [murmur2(k.encode()) & 0x7FFFFFFF for k in keys]
    default = part.DefaultPartitioner()
    assert got == [default(k.encode(), list(range(n)), list(range(n))) for k in keys]


# ---------------------------------------------------------------------------------------------------
# 3. per-actor behaviour: the kernel against the reference


def test_layout_constants_agree_with_the_reference() -> None:
    assert (K.LIKE, K.COMMENT, K.FOLLOW, K.UNFOLLOW) == (LIKE, COMMENT, FOLLOW, UNFOLLOW)
    assert [EVENT_KINDS.index(x) for x in ("like", "comment", "follow", "unfollow")] == [LIKE, COMMENT, FOLLOW,
                                                                                          UNFOLLOW]
    assert (K.TEXT_EMOJI_ONLY, K.TEXT_GENERIC, K.TEXT_SPECIFIC) == (naive.TEXT_EMOJI_ONLY, naive.TEXT_GENERIC,
                                                                   naive.TEXT_SPECIFIC)
    assert (K.E_REGULAR, K.E_EVEN, K.E_SLEEPLESS, K.E_TEMPLATED, K.E_FAST, K.E_VOLUME, K.E_PROFILE, K.E_COPIED) == (
        naive.B_REGULAR, naive.B_EVEN, naive.B_SLEEPLESS, naive.B_TEMPLATED, naive.B_FAST, naive.B_VOLUME,
        naive.B_PROFILE, naive.B_COPIED)
    assert K.N_RECENT == naive.RECENT_COMMENTS
    assert (K.N_F, K.N_I) == (len(K.F_DEFAULTS), len(K.I_DEFAULTS))
    assert BotDetector.spec.f_defaults is K.F_DEFAULTS and BotDetector.spec.i_defaults is K.I_DEFAULTS
    p = BotParams()
    assert (p.session_s, p.fast_s, p.threshold) == (naive.BotParams().session_s, naive.BotParams().fast_s,
                                                    naive.BotParams().threshold)


def signed64(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def columns_of(a: naive.BotActor) -> tuple[list[float], list[int]]:
    f = [math.pi] * K.N_F  # every column is set below: one the mapping misses fails the comparison
    f[K.FIRST_TS], f[K.LAST_TS], f[K.GAP_MEAN], f[K.GAP_M2] = a.first_ts, a.last_ts, a.gap_mean, a.gap_m2
    f[K.PROFILE_FAKE], f[K.SCORE], f[K.FLAG_FIRST], f[K.FLAG_LAST] = a.profile_fake, a.score, a.flag_first, a.flag_last
    f[K.LGAP_MEAN], f[K.LGAP_M2], f[K.PROFILE_FOLLOWING] = a.lgap_mean, a.lgap_m2, a.profile_following
    i = [-(2**62)] * K.N_I
    i[K.N_ACT], i[K.N_LIKE], i[K.N_COMMENT], i[K.N_FOLLOW] = a.n_act, a.n_like, a.n_comment, a.n_follow
    i[K.N_GAPS], i[K.N_FAST], i[K.N_DAYS], i[K.LAST_DAY] = a.n_gaps, a.n_fast, a.n_days, a.last_day
    i[K.HOUR_MASK] = sum(1 << h for h in a.hours)
    i[K.DAY_MASK], i[K.HOUR_MASK2] = sum(1 << h for h in a.day_hours), sum(1 << h for h in a.hours2)
    i[K.N_GENERIC], i[K.N_REPEAT], i[K.N_COPIED], i[K.MAX_SHARED] = a.n_generic, a.n_repeat, a.n_copied, a.max_shared
    for r, s in enumerate(a.recent):
        i[K.RECENT0 + r] = signed64(s)
    i[K.RECENT_PTR] = a.recent_ptr
    i[K.TARGET_BITS] = sum(1 << t for t in a.targets)
    i[K.N_OOO], i[K.EVIDENCE], i[K.FLAGGED], i[K.CATEGORY] = a.n_ooo, a.evidence, int(a.flagged), a.category
    assert math.pi not in f and -(2**62) not in i
    return f, i


def expected_block(actors: dict[int, naive.BotActor], n: int) -> tuple[np.ndarray, np.ndarray]:
    F = np.repeat(K.F_DEFAULTS.reshape(-1, 1), n, axis=1)
    I = np.repeat(K.I_DEFAULTS.reshape(-1, 1), n, axis=1)  # noqa: E741
    for a, s in actors.items():
        F[:, a], I[:, a] = columns_of(s)
    return F, I


class Bots:
    """A BotDetector over its own AccountTable of ``n`` accounts ``u0``..; batches fed as reference objects."""

    def __init__(self, n: int, params: BotParams | None = None) -> None:
        self.n = n
        self.det = BotDetector(params)
        self.table = AccountTable([BotDetector.spec])
        self.table.intern([f"u{i}" for i in range(n)])

    def actions(self, acts: Sequence[naive.Action], offset: int = 0) -> np.ndarray:
        m = len(acts)
        cols = ActionColumns(
            actor=np.asarray([a.actor for a in acts], dtype=np.int64).reshape(-1),
            ts=np.asarray([a.ts for a in acts], dtype=np.float64).reshape(-1),
            kind=np.asarray([a.kind for a in acts], dtype=np.int8).reshape(-1),
            target_h=np.asarray([a.target_h for a in acts], dtype=np.uint64).reshape(-1),
            sim=np.asarray([a.sim for a in acts], dtype=np.uint64).reshape(-1),
            tflags=np.asarray([a.tflags for a in acts], dtype=np.uint8).reshape(-1),
            shared=np.asarray([a.shared for a in acts], dtype=np.int32).reshape(-1),
            offset=np.full(m, offset, dtype=np.int64), apply=np.asarray([a.apply for a in acts], dtype=np.bool_))
        mask = self.det.update_actions(cols, self.table)
        assert mask.dtype == np.uint8 and mask.shape == (self.table.capacity,)
        return mask

    def profiles(self, prs: Sequence[naive.ProfileScore]) -> np.ndarray:
        m = len(prs)
        cols = ProfileColumns(ts=np.asarray([p.ts for p in prs], dtype=np.float64).reshape(-1),
                              account=np.asarray([p.account for p in prs], dtype=np.int64).reshape(-1),
                              followers=np.zeros(m, dtype=np.int64), offset=np.zeros(m, dtype=np.int64),
                              fake=np.asarray([p.fake for p in prs], dtype=np.float64).reshape(-1),
                              following=np.asarray([p.following for p in prs], dtype=np.int64).reshape(-1))
        return self.det.update_profiles(cols, self.table)

    @property
    def F(self) -> np.ndarray:
        return self.table.F["bots"][:, : self.n]

    @property
    def I(self) -> np.ndarray:  # noqa: E743
        return self.table.I["bots"][:, : self.n]

    def col(self, c: int, a: int = 0) -> int:
        return int(self.I[c, a])

    def fcol(self, c: int, a: int = 0) -> float:
        return float(self.F[c, a])

    def flags(self, a: int = 0) -> list[FlagRecord]:
        return self.det.flags(self.table, a)


Item = naive.Action | naive.ProfileScore


def reference_run(items: Sequence[Item], p: naive.BotParams) -> tuple[dict[int, naive.BotActor], dict[int, int]]:
    """The reference, one item at a time; returns the actors and {actor: global index of the last item raising
    it}."""
    actors: dict[int, naive.BotActor] = {}
    raised: dict[int, int] = {}
    for i, it in enumerate(items):
        got = (naive.bot_update([it], actors, p) if isinstance(it, naive.Action)
               else naive.bot_profile_update([it], actors, p.threshold))
        raised.update({a: i for a in got})
    return actors, raised


def kernel_run(items: Sequence[Item], n: int, cuts: Sequence[int], p: naive.BotParams
               ) -> tuple[Bots, dict[int, tuple[int, int]]]:
    """The kernels over batches: cut at ``cuts`` and wherever actions and profiles alternate."""
    bots = Bots(n, BotParams(p.session_s, p.fast_s, p.threshold))
    bounds = sorted({0, len(items), *cuts})
    raised: dict[int, tuple[int, int]] = {}
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        j = lo
        while j < hi:
            is_act = isinstance(items[j], naive.Action)
            k = j
            while k < hi and isinstance(items[k], naive.Action) == is_act:
                k += 1
            batch = items[j:k]
            mask = bots.actions(batch) if is_act else bots.profiles(batch)  # type: ignore[arg-type]
            assert not mask[n:].any()
            for a in np.flatnonzero(mask).tolist():
                raised[a] = (j, k)  # the last batch that raised it (a flag that fell may rise again)
            j = k
    return bots, raised


def check(items: Sequence[Item], n: int, cuts: Sequence[int], p: naive.BotParams | None = None) -> Bots:
    p = p or naive.BotParams()
    actors, want_raised = reference_run(items, p)
    bots, got_raised = kernel_run(items, n, cuts, p)
    F, I = expected_block(actors, n)  # noqa: E741
    for c in range(K.N_I):
        np.testing.assert_array_equal(bots.I[c], I[c], err_msg=f"int column {c}")
    for c in range(K.N_F):  # fastmath is off and the reference does the same IEEE operations: exact
        np.testing.assert_array_equal(bots.F[c], F[c], err_msg=f"float column {c}")
    # the flag rose in the batch that holds the item where the reference raised it
    assert set(got_raised) == set(want_raised)
    for a, i in want_raised.items():
        assert got_raised[a][0] <= i < got_raised[a][1]
    assert bots.table.dirty[0] == any(isinstance(it, naive.ProfileScore) or it.apply for it in items)
    return bots


SIM_A = 0x0123456789ABCDEF
SIM_B = 0xF0E1D2C3B4A59687
SIMS = [0, SIM_A, SIM_A ^ 1, SIM_A ^ 0b111, SIM_A ^ 0b1111, SIM_A ^ (1 << 63), SIM_B, SIM_B ^ 0b10100, 0b111, 1 << 63]


@dataclass
class Run:
    """A run of ``count`` actions of one actor ``gap`` seconds apart (hypothesis explores the rules with it)."""

    actor: int
    start: float
    gap: float
    count: int
    kind: int
    sim: int
    tflags: int
    shared: int = 0


deltas = st.one_of(st.just(0.0), st.floats(0, 1.5), st.floats(0, 120), st.floats(1_790, 1_810), st.just(1_800.0),
                   st.floats(3_600, 50_000), st.floats(-5_000, -1e-3), st.integers(-3, 90_000).map(float))


@st.composite
def streams(draw: st.DrawFn, n_actors: int = 4) -> list[Item]:
    clock = [T0 - 1_800.0 + 977.0 * a for a in range(n_actors)]  # starts just before midnight
    items: list[Item] = []
    for _ in range(draw(st.integers(0, 14))):
        a = draw(st.integers(0, n_actors - 1))
        what = draw(st.integers(0, 9))
        if what == 0:
            ts = clock[a] + draw(deltas)
            items.append(naive.ProfileScore(a, draw(st.sampled_from([0.0, 0.2, 0.49, 0.5, 0.8, 0.99, 1.0])), ts,
                                            draw(st.sampled_from([0, 150, 1_500, 7_500]))))
            continue
        kind = draw(st.sampled_from([LIKE, LIKE, COMMENT, COMMENT, FOLLOW, UNFOLLOW]))
        sim = draw(st.sampled_from(SIMS)) if kind == COMMENT else 0
        tflags = draw(st.sampled_from([0, 0, 2, 3, 4])) if kind == COMMENT else 0
        shared = draw(st.sampled_from([0, 0, 4, 5, 40])) if kind == COMMENT else 0
        if what <= 3:
            r = Run(a, clock[a] + draw(deltas), draw(st.one_of(st.floats(0, 3), st.floats(30, 2_000),
                                                               st.sampled_from([0.5, 60.0, 1_800.0]))),
                    draw(st.integers(1, 45)), kind, sim, tflags, shared)
            for j in range(r.count):
                items.append(naive.Action(a, r.start + j * r.gap, kind, draw(st.integers(0, 2**64 - 1)) if j == 0
                                          else j * 7919, sim, tflags, True, shared))
            clock[a] = max(clock[a], r.start + (r.count - 1) * r.gap)
        else:
            ts = clock[a] + draw(deltas)
            clock[a] = max(clock[a], ts)
            items.append(naive.Action(a, ts, kind, draw(st.integers(0, 2**64 - 1)), sim, tflags,
                                      draw(st.booleans()) or draw(st.booleans()), shared))
    return items


@given(streams(), st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_bot_kernel_matches_reference_whatever_the_batches(items: list[Item], data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(items)), max_size=6))
    check(items, 4, cuts)


@given(streams(n_actors=2), st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_bot_kernel_matches_reference_with_other_params(items: list[Item], data: st.DataObject) -> None:
    p = naive.BotParams(session_s=data.draw(st.sampled_from([60.0, 600.0, 1e9])),
                        fast_s=data.draw(st.sampled_from([0.0, 1.0, 5.0])),
                        threshold=data.draw(st.sampled_from([0.3, 0.75, 0.99, 1.0])))
    check(items, 2, data.draw(st.lists(st.integers(0, len(items)), max_size=4)), p)


def mixed_stream(seed: int) -> list[Item]:
    """Actors that, between them, trip every rule, interleaved with local arrival disorder and profiles.

    0: every 15 min +/- 20 s for 2.5 days, a generic comment in five (regular, no sleep, templated)
    1: 1000 likes 0.2-3 s apart (fast, volume, even pace)
    2: a person: sessions of lognormal gaps, varied comments, some arriving late
    3: five near-identical comments and a fake profile (templated by repeats, fake profile)
    4: a few actions only; 5: profile snapshots only
    """
    rng = np.random.default_rng(seed)
    evs: list[tuple[float, int, int, int, int]] = []  # (ts, actor, kind, sim, tflags)
    t = T0 + rng.uniform(0, 3_600)
    for j in range(240):
        evs.append((t, 0, COMMENT if j % 5 == 0 else LIKE, SIM_A if j % 5 == 0 else 0, 2 if j % 5 == 0 else 0))
        t += 900 + rng.uniform(-20, 20)
    t = T0 + DAY / 2
    for _ in range(1_000):
        evs.append((t, 1, LIKE, 0, 0))
        t += rng.uniform(0.2, 3.0)
    for d in range(3):
        for s in range(int(rng.integers(2, 5))):
            t = T0 + d * DAY + 8 * 3_600 + s * 4 * 3_600 + rng.uniform(0, 3_000)
            for _ in range(int(rng.integers(5, 30))):
                comment = rng.random() < 0.2
                evs.append((t, 2, COMMENT if comment else LIKE, int(rng.integers(1, 2**63)) if comment else 0, 0))
                t += max(1.2, rng.lognormal(math.log(20.0), 1.0))
    for j in range(6):
        evs.append((T0 + DAY + j * 333.0, 3, COMMENT, SIM_B ^ (1 << j), 0))
    for j in range(4):
        evs.append((T0 + 2 * DAY + j * 50.0, 4, [LIKE, FOLLOW, UNFOLLOW, COMMENT][j], 0, 0))
    evs.sort()
    # arrival order: a few actions arrive late (after up to 20 others)
    order = list(range(len(evs)))
    for i in rng.choice(len(evs), size=len(evs) // 30, replace=False).tolist():
        j = min(len(order) - 1, order.index(i) + int(rng.integers(1, 20)))
        order.remove(i)
        order.insert(j, i)
    items: list[Item] = []
    for i in order:
        ts, a, kind, sim, tflags = evs[i]
        items.append(naive.Action(a, ts, kind, int(rng.integers(0, 2**63)) * 2 + 1, sim, tflags,
                                  bool(rng.random() > 0.02)))
    for a, fake, at, following in [(3, 0.95, 0.1, 12), (5, 0.99, 0.5, 7_500), (2, 0.05, 0.3, 310), (0, 0.6, 0.7, 0),
                                   (5, 0.3, 0.9, 1_500)]:
        items.insert(int(at * len(items)), naive.ProfileScore(a, fake, T0 + at * 2 * DAY, following))
    return items


@pytest.mark.parametrize("seed", range(3))
def test_bot_kernel_matches_reference_on_streams_that_trip_every_rule(seed: int) -> None:
    items = mixed_stream(seed)
    rng = np.random.default_rng(100 + seed)
    results = []
    for cuts in ([], sorted(rng.integers(0, len(items), 5).tolist()), list(range(0, len(items), 97))):
        bots = check(items, 6, cuts)
        results.append((bots.F.copy(), bots.I.copy()))
        ev = np.bitwise_or.reduce(bots.I[K.EVIDENCE])
        assert ev == 0x7F, f"rules not exercised: {ev:07b}"
        assert bots.I[K.N_OOO].sum() > 0 and bots.I[K.N_REPEAT].sum() > 0
        assert bots.I[K.FLAGGED, :2].all() and not bots.I[K.FLAGGED, 2]
    for F, I in results[1:]:  # noqa: E741
        np.testing.assert_array_equal(F, results[0][0])
        np.testing.assert_array_equal(I, results[0][1])


# ---------------------------------------------------------------------------------------------------
# 4. behaviour: who is flagged, and what the flag says


def naive_bot(seed: int, days: int = 3) -> list[naive.Action]:
    """Acts every 60 +/- 2 s around the clock; one action in ten is a "Nice pic!" comment."""
    rng = np.random.default_rng(seed)
    sim, flags = fp("Nice pic!")
    out: list[naive.Action] = []
    t = T0 + 5.0
    while t < T0 + days * DAY:
        comment = len(out) % 10 == 9
        out.append(naive.Action(0, t, COMMENT if comment else LIKE, int(rng.integers(0, 2**63)),
                                sim if comment else 0, flags if comment else 0))
        t += 60.0 + rng.uniform(-2.0, 2.0)
    return out


def feed(bots: Bots, acts: Sequence[naive.Action], per_batch: int = 500) -> list[int]:
    raised = []
    for lo in range(0, len(acts), per_batch):
        raised += np.flatnonzero(bots.actions(acts[lo : lo + per_batch])).tolist()
    return raised


def test_naive_bot_is_flagged_with_readable_reasons() -> None:
    acts = naive_bot(1)
    n = len(acts)
    nc = sum(a.kind == COMMENT for a in acts)
    assert 4_300 < n < 4_340 and nc == n // 10
    bots = Bots(1)
    assert feed(bots, acts) == [0]
    (flag,) = bots.flags(0)
    assert flag.kind == "bot"
    assert flag.score == round(1 - 0.1 * 0.3 * 0.3 * 0.4, 3)  # regular, no sleep, templated, volume
    assert flag.first_ts == acts[30].ts  # the regular pace shows after 30 gaps, and alone exceeds 0.75
    assert flag.last_ts == acts[-1].ts
    per_day = n / ((acts[-1].ts - acts[0].ts) / DAY)
    assert flag.reasons == [
        f"acts every 60 s +/- 1 s within sessions ({n - 1:,} gaps)",
        "active around the clock: in 24 of the 24 hours of the day, each on two days or more of 3, never sleeping",
        f'{nc} of its {nc} comments are generic ("Nice pic!", emoji only) or repeat its own earlier comments',
        f"{per_day:,.0f} actions a day, beyond what platforms allow a person",
    ]
    ev = flag.evidence
    assert ev["actions"] == n and ev["likes"] == n - nc and ev["comments"] == nc and ev["follows"] == 0
    assert ev["gaps"] == n - 1 and abs(ev["gap_mean_s"] - 60.0) < 0.2 and 1.0 < ev["gap_sd_s"] < 1.3
    assert ev["active_hours_of_day"] == 24 and ev["days"] == 3
    assert ev["generic_comments"] == nc and ev["repeated_comments"] == nc - 1
    assert ev["sub_second_gaps"] == 0 and ev["profile_fake"] is None
    assert ev["score"] == flag.score
    assert bots.col(K.EVIDENCE) == K.E_REGULAR | K.E_SLEEPLESS | K.E_TEMPLATED | K.E_VOLUME
    assert bots.det.counts(bots.table, 0) == {"actions": n}
    assert bots.det.score(bots.table, 0) == pytest.approx(1 - 0.1 * 0.3 * 0.3 * 0.4)


def human(seed: int, days: int = 5) -> list[naive.Action]:
    """A person: 2-5 sessions a day between 07:00 and 23:00 UTC (sleeps 8 h), lognormal gaps around 20 s,
    likes and follows, no comments."""
    rng = np.random.default_rng(seed)
    out = []
    for d in range(days):
        end = T0 + d * DAY + 23 * 3_600
        t_free = T0 + d * DAY + 7 * 3_600  # sessions do not overlap: the next starts an hour after the last
        for s in np.sort(rng.uniform(7 * 3_600, 22 * 3_600, int(rng.integers(2, 6)))).tolist():
            t = max(T0 + d * DAY + s, t_free)
            for _ in range(int(rng.integers(8, 40))):
                if t >= end:
                    break
                out.append(naive.Action(0, t, FOLLOW if rng.random() < 0.1 else LIKE, int(rng.integers(0, 2**63))))
                t += max(1.0, float(rng.lognormal(math.log(20.0), 1.0)))
            t_free = t + 3_600
    return out


def genuine_profile_score() -> float:
    snap = ProfileSnapshot(account_id="maria.lopez", ts=T0, followers=812, following=437, posts=164,
                           created_at=T0 - 4 * 365 * DAY, has_avatar=True, bio_len=86, is_private=False,
                           username="maria.lopez")
    return float(ProfileModel.load().score_snapshots([snap])[0])


@pytest.mark.parametrize("seed", range(6))
def test_human_with_sessions_and_a_genuine_profile_is_not_flagged(seed: int) -> None:
    p = genuine_profile_score()
    assert p < 0.5
    acts = human(seed)
    bots = Bots(1)
    bots.profiles([naive.ProfileScore(0, p, T0)])
    assert feed(bots, acts, per_batch=37) == []
    assert bots.flags(0) == []
    assert bots.col(K.FLAGGED) == 0 and bots.fcol(K.SCORE) < 0.75
    assert bots.col(K.EVIDENCE) & (K.E_REGULAR | K.E_SLEEPLESS | K.E_FAST | K.E_VOLUME | K.E_PROFILE) == 0
    assert bots.col(K.N_DAYS) == 5 and bin(bots.col(K.HOUR_MASK)).count("1") <= 16
    assert bots.col(K.N_ACT) == len(acts) and bots.col(K.N_OOO) == 0


def test_fake_profile_alone_does_not_flag() -> None:
    bots = Bots(2)
    mask = bots.profiles([naive.ProfileScore(0, 0.99, T0), naive.ProfileScore(1, 1.0, T0)])
    assert not mask.any()
    for a in (0, 1):
        assert bots.col(K.EVIDENCE, a) == K.E_PROFILE and bots.col(K.FLAGGED, a) == 0
        assert bots.flags(a) == [] and bots.col(K.N_ACT, a) == 0
    assert bots.fcol(K.SCORE, 0) == pytest.approx(0.6 * 0.99)
    assert bots.fcol(K.SCORE, 1) == pytest.approx(0.6)
    assert bots.fcol(K.PROFILE_FAKE, 0) == 0.99


def comments(texts: Sequence[str], start: float = T0 + 600.0, gaps: Sequence[float] = (47, 310, 95, 1_250, 61, 700)
             ) -> list[naive.Action]:
    sim, flags = fingerprint_texts(list(texts))
    out = []
    t = start
    for j in range(len(texts)):
        out.append(naive.Action(0, t, COMMENT, 1000 + j, int(sim[j]), int(flags[j])))
        t += gaps[j % len(gaps)]
    return out


def test_templated_comments_alone_do_not_flag() -> None:
    bots = Bots(1)
    assert feed(bots, comments(["Nice pic!"] * 5 + ["\U0001f525\U0001f525"] * 3)) == []
    assert bots.col(K.EVIDENCE) == K.E_TEMPLATED and bots.fcol(K.SCORE) == pytest.approx(0.7)
    assert bots.flags(0) == []


def test_fake_profile_and_templated_comments_flag() -> None:
    acts = comments(["Nice pic!", "nice pic \U0001f525", "Great post!!", "\U0001f525\U0001f525\U0001f525",
                     "Love it"])
    bots = Bots(1)
    assert not bots.profiles([naive.ProfileScore(0, 0.99, T0)]).any()
    assert feed(bots, acts[:4]) == []
    assert feed(bots, acts[4:]) == [0]
    (flag,) = bots.flags(0)
    assert flag.first_ts == flag.last_ts == acts[4].ts
    assert flag.score == pytest.approx(1 - 0.3 * (1 - 0.6 * 0.99), abs=1e-3)
    assert flag.reasons == [
        '5 of its 5 comments are generic ("Nice pic!", emoji only) or repeat its own earlier comments',
        "its profile looks fake (probability 0.99 from its follower, following and post counts, avatar, bio and "
        "username)"]
    assert flag.evidence["profile_fake"] == 0.99 and flag.evidence["generic_comments"] == 5
    assert flag.evidence["comments"] == 5 and flag.evidence["repeated_comments"] == 1  # "nice pic" twice


def test_fake_profile_arriving_after_the_comments_flags_at_the_latest_action() -> None:
    acts = comments(["Nice pic!"] * 5)
    bots = Bots(1)
    assert feed(bots, acts) == []
    assert bots.profiles([naive.ProfileScore(0, 0.97, acts[1].ts)]).tolist()[0] == 1
    (flag,) = bots.flags(0)
    assert flag.first_ts == flag.last_ts == acts[-1].ts  # not before the behaviour that made it evident
    # a genuine snapshot later lowers the score below the threshold: the flag falls, as the evidence did
    bots.profiles([naive.ProfileScore(0, 0.1, acts[-1].ts + 10)])
    assert bots.col(K.EVIDENCE) == K.E_TEMPLATED and bots.col(K.FLAGGED) == 0 and bots.flags(0) == []
    assert bots.fcol(K.SCORE) == pytest.approx(0.7)
    # and rises again with its first time (so its alert id) kept
    assert bots.profiles([naive.ProfileScore(0, 0.97, acts[-1].ts + 20)]).tolist()[0] == 1
    (again,) = bots.flags(0)
    assert again.first_ts == flag.first_ts and again.last_ts == acts[-1].ts + 20


def test_repeating_its_own_comment_counts_as_templated() -> None:
    texts = ["Check out the sunset at Malibu beach today", "check out the sunset at malibu beach today!!",
             "CHECK OUT THE SUNSET AT MALIBU BEACH TODAY \U0001f305", "Check out the sunset at Malibu beach today :)",
             "check out the sunset, at malibu beach, today"]
    bots = Bots(1)
    bots.profiles([naive.ProfileScore(0, 0.9, T0)])
    assert feed(bots, comments(texts)) == [0]
    assert bots.col(K.N_GENERIC) == 0 and bots.col(K.N_REPEAT) == 4
    assert "4 of its 5 comments" in bots.flags(0)[0].reasons[0]


def test_sub_second_actions_flag_as_faster_than_a_person() -> None:
    acts = [naive.Action(0, T0 + 0.4 * j, LIKE, j) for j in range(12)]
    bots = Bots(1)
    assert feed(bots, acts) == [0]
    (flag,) = bots.flags(0)
    assert flag.first_ts == acts[10].ts  # the 10th gap under a second
    assert flag.last_ts == acts[11].ts
    assert flag.reasons == ["11 times it acted less than a second after its previous action, faster than a person"]
    assert bots.col(K.EVIDENCE) == K.E_FAST


def spread(n: int, span: float) -> list[naive.Action]:
    return [naive.Action(0, T0 + span * j / max(1, n - 1), LIKE, j) for j in range(n)]


def around_the_clock(hours: int, days: int, n: int) -> list[naive.Action]:
    """``n`` actions going round ``hours`` hours of the day, one round a day over ``days`` days (and again)."""
    ts = sorted(T0 + ((j // hours) % days) * DAY + (j % hours) * 3_600.0 + 7.0 * j for j in range(n))
    return [naive.Action(0, t, LIKE, j) for j, t in enumerate(ts)]


def fast_share(n_fast: int, n: int) -> list[naive.Action]:
    ts = [T0 + 0.5 * j if j <= n_fast else T0 + 0.5 * n_fast + 100.0 * (j - n_fast) for j in range(n)]
    return [naive.Action(0, t, LIKE, j) for j, t in enumerate(ts)]


def alternating(n: int, g1: float, g2: float) -> list[naive.Action]:
    ts = [T0]
    for j in range(n - 1):
        ts.append(ts[-1] + (g1 if j % 2 else g2))
    return [naive.Action(0, t, LIKE, j) for j, t in enumerate(ts)]


def generic_share(n_generic: int, n: int) -> list[naive.Action]:
    return [naive.Action(0, T0 + 500.0 * j, COMMENT, j, naive.fnv1a_64(f"c{j}"), 2 if j < n_generic else 0)
            for j in range(n)]


def test_creators_engaged_is_a_linear_count_of_the_target_buckets() -> None:
    from detectors.bots import creators_engaged

    assert creators_engaged(0) == 0
    assert creators_engaged(1) == 1
    assert creators_engaged((1 << 63) - 1) is None  # saturated
    bits = sum(1 << b for b in range(32))
    assert creators_engaged(bits) == round(-63 * math.log(1 - 32 / 63))


@pytest.mark.parametrize(("acts", "bit", "holds"), [
    (around_the_clock(22, 2, 100), K.E_SLEEPLESS, True),
    (around_the_clock(21, 2, 100), K.E_SLEEPLESS, False),
    (around_the_clock(22, 1, 100), K.E_SLEEPLESS, False),
    (around_the_clock(22, 2, 99), K.E_SLEEPLESS, False),
    # 24 hours once, then 21 of them again the next day: a stray hour or three at night is not "no sleep"
    (around_the_clock(24, 1, 24) + [naive.Action(0, T0 + DAY + h * 3_600.0 + 60.0, LIKE, 100 + h)
                                    for h in range(21) for _ in range(5)], K.E_SLEEPLESS, False),
    (spread(800, 3_600.0), K.E_VOLUME, True),
    (spread(799, 3_600.0), K.E_VOLUME, False),
    (spread(1_600, 2 * DAY), K.E_VOLUME, True),  # 800 a day over two days
    (spread(1_599, 2 * DAY), K.E_VOLUME, False),
    (spread(31, 3_000.0), K.E_REGULAR, True),  # 30 gaps
    (spread(30, 3_000.0), K.E_REGULAR, False),
    (alternating(101, 10.0, 40.0), K.E_EVEN, True),  # cv 0.6: not regular; log-gap sd 0.65
    (alternating(100, 10.0, 40.0), K.E_EVEN, False),  # 99 gaps
    (alternating(101, 10.0, 40.0), K.E_REGULAR, False),
    (alternating(301, 5.0, 100.0), K.E_EVEN, False),  # log-gap sd 1.4, like people
    (fast_share(10, 200), K.E_FAST, True),  # 10 sub-second gaps, 5 % of the actions
    (fast_share(10, 201), K.E_FAST, False),
    (fast_share(9, 12), K.E_FAST, False),
    (generic_share(3, 5), K.E_TEMPLATED, True),  # 60 %
    (generic_share(2, 5), K.E_TEMPLATED, False),
    (generic_share(4, 4), K.E_TEMPLATED, False),  # fewer than 5 comments
    (generic_share(6, 10), K.E_TEMPLATED, True),
    (generic_share(5, 9), K.E_TEMPLATED, False),
])
def test_rule_thresholds(acts: list[naive.Action], bit: int, holds: bool) -> None:
    bots = check(acts, 1, [])
    assert bool(bots.col(K.EVIDENCE) & bit) == holds


def test_late_actions_give_no_gap() -> None:
    bots = Bots(1)
    bots.actions([naive.Action(0, T0 + 100, LIKE, 1), naive.Action(0, T0 + 50, LIKE, 2),
                  naive.Action(0, T0 + 100.5, LIKE, 3)])
    assert bots.col(K.N_OOO) == 1 and bots.col(K.N_GAPS) == 1 and bots.col(K.N_FAST) == 1
    assert bots.fcol(K.FIRST_TS) == T0 + 50 and bots.fcol(K.LAST_TS) == T0 + 100.5
    assert bots.fcol(K.GAP_MEAN) == 0.5


def test_repeat_means_within_three_bits_of_one_of_the_last_four() -> None:
    c, d = 0x5555_0000_AAAA_1234, 0x0F0F_F0F0_1357_9BDF
    sims = [SIM_A, SIM_A ^ 0b1111000, SIM_A ^ 0b111, SIM_B, c, d,  # 4 bits, 3 bits (of SIM_A), 7 bits apart
            SIM_A ^ (1 << 40),  # one bit from SIM_A, but SIM_A and the next have left the ring
            SIM_B ^ (1 << 5)]  # one bit from SIM_B, still among the last four
    acts = [naive.Action(0, T0 + 100.0 * j, COMMENT, j, s) for j, s in enumerate(sims)]
    repeats = []
    bots = Bots(1)
    for a in acts:
        bots.actions([a])
        repeats.append(bots.col(K.N_REPEAT))
    assert repeats == [0, 0, 1, 1, 1, 1, 1, 2]
    assert [bots.col(K.RECENT0 + r) for r in range(4)] == [signed64(x) for x in (c, d, SIM_A ^ (1 << 40),
                                                                                  SIM_B ^ (1 << 5))]
    assert bots.col(K.RECENT_PTR) == 0
    check(acts, 1, [3])


def test_flag_last_ts_never_precedes_its_first_ts() -> None:
    acts = [naive.Action(0, T0 + 0.4 * j, LIKE, j) for j in range(12)]
    late = [naive.Action(0, T0 - 3_600, LIKE, 99), naive.Action(0, T0 + 1.0, LIKE, 98)]
    bots = Bots(1)
    assert feed(bots, [*acts, *late]) == [0]
    (flag,) = bots.flags(0)
    assert flag.first_ts == acts[10].ts
    assert flag.last_ts == acts[11].ts  # late actions (before the first, or between) leave it
    assert bots.col(K.N_OOO) == 2 and bots.fcol(K.FIRST_TS) == T0 - 3_600
    # a later action still moves it forward
    bots.actions([naive.Action(0, acts[11].ts + 0.3, LIKE, 97)])
    assert bots.flags(0)[0].last_ts == acts[11].ts + 0.3
    check([*acts, *late, naive.Action(0, acts[11].ts + 0.3, LIKE, 97)], 1, [11, 13])


# ---------------------------------------------------------------------------------------------------
# 5. the actions topic codec


def action_batch(actors: list[str], data: st.DataObject) -> ActionBatch:
    n = len(actors)

    def arr(elems: st.SearchStrategy[float] | st.SearchStrategy[int], dtype: type) -> np.ndarray:
        return np.asarray(data.draw(st.lists(elems, min_size=n, max_size=n)), dtype=dtype).reshape(-1)

    return ActionBatch(actors, arr(st.floats(), np.float64), arr(st.integers(-128, 127), np.int8),
                       arr(st.integers(0, 2**64 - 1), np.uint64), arr(st.integers(0, 2**64 - 1), np.uint64),
                       arr(st.integers(0, 255), np.uint8), arr(st.integers(0, 2**64 - 1), np.uint64),
                       arr(st.integers(-(2**31), 2**31 - 1), np.int32))


def assert_same_batch(got: ActionBatch, want: ActionBatch) -> None:
    assert got.actors == want.actors
    for name, dtype in [("ts", np.float64), ("kind", np.int8), ("target_h", np.uint64), ("sim", np.uint64),
                        ("tflags", np.uint8), ("event_h", np.uint64), ("shared", np.int32)]:
        g = getattr(got, name)
        assert g.dtype == dtype, name
        np.testing.assert_array_equal(g, getattr(want, name), err_msg=name)
    assert (got.source, got.watermark, got.position, got.idle) == (want.source, want.watermark, want.position,
                                                                    want.idle)


@given(st.lists(st.text(max_size=12), min_size=1, max_size=30), st.data())
@settings(max_examples=150, deadline=None)
def test_actions_round_trip(actors: list[str], data: st.DataObject) -> None:
    batch = action_batch(actors, data)
    assert_same_batch(decode_actions(encode_actions(batch)), batch)
    idx = np.asarray(data.draw(st.lists(st.integers(0, len(actors) - 1), min_size=1)), dtype=np.int64)
    assert_same_batch(decode_actions(encode_actions(batch.take(idx))), batch.take(idx))


def test_empty_batch_round_trip() -> None:
    got = decode_actions(encode_actions(ActionBatch.empty()))
    assert len(got) == 0
    assert_same_batch(got, ActionBatch.empty())
    # also when it comes from taking nothing of a batch
    some = ActionBatch(["a"], np.ones(1), np.ones(1, np.int8), np.ones(1, np.uint64), np.ones(1, np.uint64),
                       np.ones(1, np.uint8), np.ones(1, np.uint64), np.ones(1, np.int32))
    assert_same_batch(decode_actions(encode_actions(some.take(np.zeros(0, np.int64)))), ActionBatch.empty())


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def valid_arrays(actors: Sequence[str] = ("a", "bc", "\u00e9\U0001f525")) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(encode_actions(ActionBatch(list(actors), np.arange(len(actors), dtype=np.float64),
                                                       np.zeros(len(actors), np.int8),
                                                       np.arange(len(actors), dtype=np.uint64),
                                                       np.zeros(len(actors), np.uint64),
                                                       np.zeros(len(actors), np.uint8),
                                                       np.arange(len(actors), dtype=np.uint64),
                                                       np.zeros(len(actors), np.int32))))) as z:
        return {k: z[k] for k in z.files}


def without(d: dict[str, np.ndarray], *keys: str) -> dict[str, np.ndarray]:
    return {k: v for k, v in d.items() if k not in keys}


V = valid_arrays()
GOOD = npz(**V)

BAD: dict[str, tuple[bytes | None, str]] = {
    "none": (None, "empty actions message"),
    "empty": (b"", "empty actions message"),
    "text": (b"garbage", "not an actions archive"),
    "json": (b'{"actors": ["a"]}', "not an actions archive"),
    "truncated": (GOOD[: len(GOOD) // 2], "not an actions archive"),
    "truncated_tail": (GOOD[:-1], "not an actions archive"),
    "npy_not_npz": (b"\x93NUMPY" + GOOD[6:60], "not an actions archive"),
    "npy_array": (npy(np.arange(3)), "not an actions archive"),
    "pickled_object_array": (npz(**dict(V, ts=np.asarray([object(), 1, 2], dtype=object))),
                             "not an actions archive"),
    "no_format": (npz(**without(V, "format")), "unknown actions format"),
    "format_3": (npz(**dict(V, format=np.asarray([3]))), "unknown actions format"),
    "format_2_without_shared": (npz(**dict(without(V, "shared"))), "lacks shared"),
    "format_twice": (npz(**dict(V, format=np.asarray([1, 1]))), "unknown actions format"),
    "format_text": (npz(**dict(V, format=np.asarray(["1"]))), "unknown actions format"),
    "no_ts": (npz(**without(V, "ts")), "lacks ts"),
    "no_actors": (npz(**without(V, "actor_buf", "actor_ends")), "lacks actor_buf, actor_ends"),
    "ts_longer": (npz(**dict(V, ts=np.zeros(4))), "disagree in length"),
    "event_h_shorter": (npz(**dict(V, event_h=np.zeros(2, np.uint64))), "disagree in length"),
    "sim_longer": (npz(**dict(V, sim=np.zeros(4, np.uint64))), "disagree in length"),
    "ends_longer": (npz(**dict(V, actor_ends=np.concatenate([V["actor_ends"], V["actor_ends"][-1:]]))),
                    "disagree in length"),
    "kind_2d": (npz(**dict(V, kind=np.zeros((3, 1), np.int8))), "must be one-dimensional"),
    "ts_2d": (npz(**dict(V, ts=np.zeros((1, 3)))), "must be one-dimensional"),
    "actor_buf_2d": (npz(**dict(V, actor_buf=V["actor_buf"].reshape(1, -1))), "must be one-dimensional"),
    "actor_ends_2d": (npz(**dict(V, actor_ends=V["actor_ends"].reshape(-1, 1))), "must be one-dimensional"),
    "ends_past_buf": (npz(**dict(V, actor_ends=V["actor_ends"] + 1)), "actor id offsets out of order or past the end"),
    "ends_short_of_buf": (npz(**dict(V, actor_ends=V["actor_ends"] - 1)),
                          "actor id offsets out of order or past the end"),
    "ends_decreasing": (npz(**dict(V, actor_ends=np.asarray([3, 1, int(V["actor_ends"][-1])]))),
                        "actor id offsets out of order or past the end"),
    "ends_negative": (npz(**dict(V, actor_ends=np.asarray([-1, 3, int(V["actor_ends"][-1])]))),
                      "actor id offsets out of order or past the end"),
    "ends_with_empty_buf": (npz(**dict(V, actor_buf=np.zeros(0, np.uint8))),
                            "actor id offsets out of order or past the end"),
    "actor_not_utf8": (npz(**dict(V, actor_buf=np.frombuffer(b"\xff" + V["actor_buf"].tobytes()[1:], np.uint8))),
                       "not UTF-8"),
    "ts_text": (npz(**dict(V, ts=np.asarray(["x", "y", "z"]))), ""),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_decode_rejects_with_a_value_error_that_says_why(case: str) -> None:
    value, what = BAD[case]
    with pytest.raises(ValueError, match=re.escape(what) if what else r"\w") as exc:
        decode_actions(value)
    assert str(exc.value)


def test_format_1_without_shared_decodes_with_no_copies() -> None:
    old = decode_actions(npz(**dict(without(V, "shared"), format=np.asarray([1]))))
    assert len(old) == 3 and old.shared.dtype == np.int32 and not old.shared.any()


def test_valid_fixture_decodes() -> None:
    got = decode_actions(GOOD)
    assert got.actors == ["a", "bc", "\u00e9\U0001f525"] and got.ts.tolist() == [0.0, 1.0, 2.0]


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_decode_of_random_bytes_is_a_value_error(value: bytes) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        decode_actions(value)


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_decode_of_a_corrupted_message_is_a_batch_or_a_value_error(data: st.DataObject) -> None:
    raw = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        got = decode_actions(bytes(raw))
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(got, ActionBatch)


@pytest.mark.parametrize("field", sorted(V))
def test_decode_of_scalar_arrays_is_a_value_error(field: str) -> None:
    """A 0-d array anywhere is a ValueError (the worker dead-letters those; any other error would crash it)."""
    v = dict(V, **{field: np.asarray(V[field][0] if V[field].size else 0, dtype=V[field].dtype)})
    assert v[field].ndim == 0
    want = "unknown actions format" if field == "format" else "actions arrays must be one-dimensional"
    with pytest.raises(ValueError, match=re.escape(want)):
        decode_actions(npz(**v))


def test_decode_of_negative_actor_ends_is_a_value_error() -> None:
    """ends [-1, 3] over b'abc' would slice raw[0:-1], raw[-1:3] into ['ab', 'c']: rejected instead."""
    v = valid_arrays(["ab", "c"])
    assert v["actor_buf"].tobytes() == b"abc" and v["actor_ends"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="actor id offsets out of order or past the end"):
        decode_actions(npz(**dict(v, actor_ends=np.asarray([-1, 3]))))


# ---------------------------------------------------------------------------------------------------
# 6. through PartitionCore: forwarding, duplicates, replay, checkpoints


def ev(eid: str, kind: EventKind, ts: float, actor: str, target: str, text: str | None = None,
       post: str | None = None) -> EngagementEvent:
    return EngagementEvent(event_id=eid, kind=kind, ts=ts, actor_id=target if kind == "post" else actor,
                           target_id=target, post_id=post, text=text)


def source_events() -> list[EngagementEvent]:
    return [
        ev("p1", "post", T0, "c1", "c1", post="post-1"),
        ev("e1", "like", T0 + 10, "al\u00efce", "c1", post="post-1"),
        ev("e2", "comment", T0 + 11, "bob", "c1", text="Nice pic! \U0001f525", post="post-1"),
        ev("e3", "follow", T0 + 12, "carol", "c1"),
        ev("e1", "like", T0 + 13, "mallory", "c1", post="post-1"),  # same id: a duplicate, dropped
        ev("e4", "comment", T0 + 14, "bob", "c1", text="\U0001f525\U0001f525", post="post-1"),
        ev("e5", "unfollow", T0 + 15, "carol", "c1"),
        ev("p2", "post", T0 + 16, "c1", "c1", post="post-2"),
        ev("e6", "comment", T0 + 17, "dave", "c1", text="", post="post-2"),
        ev("e7", "comment", T0 + 18, "dave", "c1", post="post-2"),
        ev("e8", "like", T0 + 19, "al\u00efce", "c1", post="post-2"),
    ]


def test_step_events_forwards_exactly_the_kept_actions() -> None:
    events = source_events()
    core = PartitionCore(0, SMALL)
    res = core.step_events(events, [5] * len(events))
    kept = [e for i, e in enumerate(events) if e.kind != "post" and i != 4]
    acts = res.actions
    assert len(acts) == len(kept) == 8
    assert acts.actors == [e.actor_id for e in kept]
    assert acts.ts.tolist() == [e.ts for e in kept]
    assert acts.kind.tolist() == [EVENT_KINDS.index(e.kind) for e in kept] and acts.kind.dtype == np.int8
    assert acts.target_h.tolist() == hash_ids([e.target_id for e in kept]).tolist()
    assert acts.event_h.tolist() == hash_ids([e.event_id for e in kept]).tolist()
    texts = {i: e.text for i, e in enumerate(kept) if e.text}
    sim, flags = fingerprint_texts(list(texts.values()))
    want_sim = [0] * len(kept)
    want_flags = [0] * len(kept)
    for j, i in enumerate(texts):
        want_sim[i], want_flags[i] = int(sim[j]), int(flags[j])
    assert acts.sim.tolist() == want_sim and acts.tflags.tolist() == want_flags
    assert acts.tflags.tolist() == [0, K.TEXT_GENERIC, 0, 3, 0, 0, 0, 0]
    # the source side keeps no bot state: the actors' partitions do
    assert not core.table.I["bots"][K.N_ACT].any()
    assert core.score(core.table.index["c1"]).counts.get("actions") is None
    # the encoded message carries the same batch
    assert_same_batch(decode_actions(encode_actions(acts)), acts)


def test_replayed_events_are_forwarded_again_and_duplicates_are_not() -> None:
    events = source_events()
    core = PartitionCore(0, SMALL)
    first = core.step_events(events, [5] * len(events)).actions
    again = core.step_events(events, [5] * len(events)).actions  # the same message: a replay
    assert_same_batch(again, first)
    resent = core.step_events(events, [9] * len(events)).actions  # the same events in another message
    assert len(resent) == 0


def actions_state(core: PartitionCore) -> dict[str, tuple[list[float], list[int]]]:
    return {core.table.ids[a]: (core.table.F["bots"][:, a].tolist(), core.table.I["bots"][:, a].tolist())
            for a in range(len(core.table))}


def same_state(a: dict[str, tuple[list[float], list[int]]], b: dict[str, tuple[list[float], list[int]]]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k][0]), np.asarray(b[k][0]), equal_nan=True)
                                        and a[k][1] == b[k][1] for k in a)


def bot_state(core: PartitionCore, name: str) -> dict[str, int]:
    a = core.table.index[name]
    return {"actions": int(core.table.I["bots"][K.N_ACT, a]), "generic": int(core.table.I["bots"][K.N_GENERIC, a]),
            "comments": int(core.table.I["bots"][K.N_COMMENT, a]), "follows": int(core.table.I["bots"][K.N_FOLLOW, a])}


@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6), st.integers(0, 5000)),
                                       max_size=30)),
    st.tuples(st.just("pop"), st.integers(-1, 45))), max_size=40))
@settings(max_examples=300, deadline=None)
def test_action_buffer_pops_what_a_plain_list_pops(ops: list[tuple[str, object]]) -> None:
    """Runs, merges and prefixes give exactly the due actions of a plain list, in (time, event id) order."""
    from detectors.core import ActionBuffer
    from detectors.kernels.order import merge_order

    buf = ActionBuffer([f"a{i}" for i in range(6000)])
    ref: list[tuple[float, int, int]] = []  # (ts, event_h, actor)
    for op, arg in ops:
        if op == "add":
            rows = arg  # type: ignore[assignment]
            ts = np.asarray([float(t) for t, _, _ in rows])
            h = np.asarray([e for _, e, _ in rows], dtype=np.uint64)
            actor = np.asarray([a for _, _, a in rows], dtype=np.int64)
            n = len(rows)
            buf.append(actor, ActionBatch([f"a{a}" for a in actor.tolist()], ts, np.zeros(n, np.int8),
                                          np.zeros(n, np.uint64), np.zeros(n, np.uint64), np.zeros(n, np.uint8), h,
                                          np.zeros(n, np.int32)))
            ref += [(float(t), e, a) for t, e, a in rows]
        else:
            upto = float(arg)  # type: ignore[arg-type]
            actor, cols = buf.pop_until(upto)
            due = sorted(r for r in ref if r[0] <= upto)
            ref = [r for r in ref if r[0] > upto]
            assert list(zip(cols["ts"].tolist(), cols["event_h"].tolist(), strict=True)) == [(t, e) for t, e, _ in due]
            assert sorted(actor.tolist()) == sorted(a for _, _, a in due)
        assert len(buf) == len(ref)
    # the merge kernel against sorting the concatenation
    a = np.sort(np.asarray([3.0, 1.0, 2.0, 2.0]))
    b = np.asarray([0.0, 2.0, 5.0])
    ha, hb = np.asarray([1, 4, 7, 9], dtype=np.uint64), np.asarray([1, 5, 2], dtype=np.uint64)
    order = merge_order(a, ha, b, hb)
    both_t, both_h = np.concatenate([a, b])[order], np.concatenate([ha, hb])[order]
    assert sorted(zip(both_t.tolist(), both_h.tolist(), strict=True)) == list(zip(both_t.tolist(), both_h.tolist(),
                                                                                 strict=True))


def test_step_actions_buffers_until_the_watermark_has_passed_by_the_lateness() -> None:
    lateness = SMALL.bots.lateness_s
    assert lateness == 600.0
    core = PartitionCore(1, SMALL)

    def mk(ts: float, eid: str) -> ActionBatch:  # from a source whose newest event is this one
        return ActionBatch(["bob"], np.asarray([ts]), np.asarray([LIKE], np.int8), np.zeros(1, np.uint64),
                           np.zeros(1, np.uint64), np.zeros(1, np.uint8), hash_ids([eid]), np.zeros(1, np.int32),
                           watermark=ts)

    assert core.step_actions(mk(T0, "a"), [0], [0]).size == 0  # waits
    assert core.step_actions(mk(T0 + lateness - 1, "b"), [1], [0]).size == 0  # T0 is not yet 600 s behind
    bob = core.table.index["bob"]
    assert core.table.I["bots"][K.N_ACT, bob] == 0 and len(core.abuf.rows) == 2
    assert core.table.dirty[bob >> CHUNK_SHIFT]  # buffered actions dirty their chunk (it covers their offsets)
    assert core.step_actions(mk(T0 + lateness, "c"), [2], [0]).tolist() == [bob]  # now T0 is
    assert core.table.I["bots"][K.N_ACT, bob] == 1 and core.table.F["bots"][K.LAST_TS, bob] == T0
    assert len(core.abuf.rows) == 2
    # a straggler older than what was applied is still counted, without a gap
    assert core.step_actions(mk(T0 - 5, "d"), [3], [0]).tolist() == [bob]
    assert core.table.I["bots"][K.N_ACT, bob] == 2 and core.table.I["bots"][K.N_OOO, bob] == 1
    assert core.flush_actions().tolist() == [bob]
    assert core.table.I["bots"][K.N_ACT, bob] == 4 and len(core.abuf.rows) == 0
    assert core.table.F["bots"][K.LAST_TS, bob] == T0 + lateness
    assert core.flush_actions().size == 0  # nothing left


def test_heartbeat_fields_round_trip_and_default_for_older_writers() -> None:
    beat = dataclasses.replace(ActionBatch.empty(), source=3, watermark=T0, position=1234, idle=True)
    assert_same_batch(decode_actions(encode_actions(beat)), beat)
    old = decode_actions(npz(**without(valid_arrays(), "position", "idle")))  # a message of an older writer
    assert (old.position, old.idle) == (-1, False)
    with pytest.raises(ValueError, match="one value each"):
        decode_actions(npz(**{**valid_arrays(), "position": np.asarray([1, 2])}))


def one_action(actor: str, ts: float, eid: str, source: int, watermark: float) -> ActionBatch:
    return ActionBatch([actor], np.asarray([ts]), np.asarray([LIKE], np.int8), np.zeros(1, np.uint64),
                       np.zeros(1, np.uint64), np.zeros(1, np.uint8), hash_ids([eid]), np.zeros(1, np.int32),
                       source=source, watermark=watermark)


def beat(source: int, watermark: float, position: int, idle: bool) -> ActionBatch:
    return dataclasses.replace(ActionBatch.empty(), source=source, watermark=watermark, position=position, idle=idle)


def two_sources() -> PartitionCore:
    return PartitionCore(1, dataclasses.replace(SMALL, bots=dataclasses.replace(SMALL.bots, sources=2)))


def test_an_idle_source_holds_back_until_the_broker_confirms_it_has_nothing_waiting() -> None:
    """The race of a fast replay: source 0 said it was idle before any event was written; source 1 has already
    processed hours of events. Source 0's own events are on the broker, not yet processed: nothing is applied
    until they are, however far source 1 has gone."""
    core = two_sources()
    off = iter(range(100))
    core.step_actions(beat(0, -np.inf, 0, idle=True), [next(off)], [0])
    for k in range(10):
        core.step_actions(one_action("bob", T0 + 3_600 * k, f"s1-{k}", 1, T0 + 3_600 * k), [next(off)], [0])
    bob = core.table.index["bob"]
    assert core.table.I["bots"][K.N_ACT, bob] == 0  # source 0 is at -inf
    snap = core.sources_snapshot()
    assert snap.candidates() == [0]
    assert core.release_idle(snap, {0: 25}).size == 0  # 25 events written, source 0 at position 0: not idle
    assert core.table.I["bots"][K.N_ACT, bob] == 0
    # source 0 processes its events (older than source 1's) and says so; they are applied in time order
    core.step_actions(one_action("bob", T0 + 1_800, "s0-0", 0, T0 + 4_000), [next(off)], [0])
    core.step_actions(beat(0, T0 + 4_000, 25, idle=False), [next(off)], [0])
    assert core.table.I["bots"][K.N_ACT, bob] == 2  # T0 and T0+1800 are 600 s behind min(4000, 32400)
    assert core.table.I["bots"][K.N_OOO, bob] == 0
    # later it goes quiet, and the broker confirms that its partition ends where it is
    core.step_actions(beat(0, T0 + 4_000, 25, idle=True), [next(off)], [0])
    snap = core.sources_snapshot()
    # source 1 sends more after the snapshot: not let through on the strength of the broker's answer
    core.step_actions(one_action("bob", T0 + 3_600 * 20, "s1-late", 1, T0 + 3_600 * 20), [next(off)], [0])
    core.release_idle(snap, {0: 25})
    applied = core.table.F["bots"][K.LAST_TS, bob]
    assert applied == T0 + 3_600 * 8  # up to source 1's watermark in the snapshot (T0 + 9 h), less the lateness
    assert core.table.I["bots"][K.N_ACT, bob] == 10 and core.table.I["bots"][K.N_OOO, bob] == 0
    # asked again: now the newer watermark counts
    core.release_idle(core.sources_snapshot(), {0: 25})
    assert core.table.I["bots"][K.N_ACT, bob] == 11 and len(core.abuf) == 1  # T0 + 20 h waits for its lateness


def test_every_source_idle_applies_everything_and_a_source_that_sends_again_holds_back_again() -> None:
    core = two_sources()
    core.step_actions(one_action("bob", T0, "a", 0, T0), [0], [0])
    core.step_actions(one_action("bob", T0 + 100, "b", 1, T0 + 100), [1], [0])
    core.step_actions(beat(0, T0, 7, idle=True), [2], [0])
    core.step_actions(beat(1, T0 + 100, 9, idle=True), [3], [0])
    bob = core.table.index["bob"]
    assert core.table.I["bots"][K.N_ACT, bob] == 0  # within the lateness
    snap = core.sources_snapshot()
    assert core.release_idle(snap, {0: 7, 1: 10}).size == 0  # source 1 has an event it has not processed
    assert core.release_idle(snap, {0: 7}).size == 0  # source 1's end unknown: not idle
    assert core.release_idle(snap, {0: 7, 1: 9}).tolist() == [bob]
    assert core.table.I["bots"][K.N_ACT, bob] == 2 and len(core.abuf) == 0
    # source 0 sends again: its new actions wait behind it and behind source 1, busy or confirmed idle
    core.step_actions(one_action("bob", T0 + 5_000, "c", 0, T0 + 5_000), [4], [0])
    assert core.table.I["bots"][K.N_ACT, bob] == 2
    core.release_idle(core.sources_snapshot(), {0: 8, 1: 9})  # source 1 idle: up to source 0's T0+5000 - 600
    assert core.table.I["bots"][K.N_ACT, bob] == 2 and len(core.abuf) == 1
    core.step_actions(beat(0, T0 + 5_000, 8, idle=True), [5], [0])
    core.release_idle(core.sources_snapshot(), {0: 8, 1: 9})
    assert core.table.I["bots"][K.N_ACT, bob] == 3 and len(core.abuf) == 0


def test_idle_state_is_heard_again_after_a_restore() -> None:
    """A restored partition keeps its sources' watermarks but not their idle word: it waits for a heartbeat."""
    core = two_sources()
    core.step_actions(one_action("bob", T0, "a", 0, T0), [0], [0])
    core.step_actions(beat(1, T0, 3, idle=True), [1], [0])
    restored = PartitionCore.restore(1, dict(core.checkpoint()), core.params)
    assert restored.src_wm == core.src_wm and len(restored.abuf) == 1
    assert restored.sources_snapshot().candidates() == []
    restored.step_actions(beat(0, T0, 1, idle=True), [2], [0])
    restored.step_actions(beat(1, T0, 3, idle=True), [3], [0])
    assert len(restored.release_idle(restored.sources_snapshot(), {0: 1, 1: 3})) == 1


def test_step_actions_applies_once_and_drops_resent_actions() -> None:
    events = source_events()
    acts = PartitionCore(0, SMALL).step_events(events, [5] * len(events)).actions
    n = len(acts)
    core = PartitionCore(1, SMALL)
    # all within the lateness of the newest: buffered, nothing applied yet
    assert core.step_actions(acts, np.full(n, 40), np.arange(n)).size == 0
    assert not core.table.I["bots"][K.N_ACT].any() and len(core.abuf.rows) == n
    touched = core.flush_actions()
    assert sorted(core.table.ids[a] for a in touched) == ["al\u00efce", "bob", "carol", "dave"]
    nact = {core.table.ids[a]: int(core.table.I["bots"][K.N_ACT, a]) for a in range(len(core.table))}
    assert nact == {"al\u00efce": 2, "bob": 2, "carol": 2, "dave": 2}
    assert bot_state(core, "bob") == {"actions": 2, "generic": 2, "comments": 2, "follows": 0}
    assert bot_state(core, "carol") == {"actions": 2, "generic": 0, "comments": 0, "follows": 1}
    assert core.processed[2] == core.applied[2] == 40
    state = actions_state(core)
    log = core.checkpoint()  # what a restart restores: the chunk now covers actions offset 40
    # the same message again (a replay after the checkpoint): nothing buffered, nothing applied
    assert core.step_actions(acts, np.full(n, 40), np.arange(n)).size == 0
    assert len(core.abuf.rows) == 0 and core.flush_actions().size == 0
    assert same_state(actions_state(core), state)
    # the same actions re-sent in another message (the source replayed its events): duplicates, dropped
    assert core.step_actions(acts, np.full(n, 41), np.arange(n)).size == 0
    assert len(core.abuf.rows) == 0 and core.flush_actions().size == 0
    assert same_state(actions_state(core), state)
    # and the same after a restore from the checkpoint
    restored = PartitionCore.restore(1, dict(log), SMALL)
    assert restored.step_actions(acts, np.full(n, 40), np.arange(n)).size == 0
    assert restored.step_actions(acts, np.full(n, 42), np.arange(n)).size == 0
    assert len(restored.abuf.rows) == 0 and restored.flush_actions().size == 0
    assert same_state(actions_state(restored), state)
    # one new action still applies
    new = ActionBatch(["bob"], np.asarray([T0 + 99.0]), np.asarray([LIKE], np.int8), np.zeros(1, np.uint64),
                      np.zeros(1, np.uint64), np.zeros(1, np.uint8), hash_ids(["e-new"]), np.zeros(1, np.int32))
    assert restored.step_actions(new, [43], [0]).size == 0
    assert [restored.table.ids[int(a)] for a in restored.flush_actions()] == ["bob"]
    assert restored.table.I["bots"][K.N_ACT, restored.table.index["bob"]] == 3


def test_step_actions_drops_a_duplicate_within_one_message() -> None:
    events = source_events()
    acts = PartitionCore(0, SMALL).step_events(events, [5] * len(events)).actions
    twice = acts.take(np.concatenate([np.arange(len(acts)), np.arange(len(acts))]))
    core = PartitionCore(1, SMALL)
    core.step_actions(twice, np.full(len(twice), 3), np.arange(len(twice)))
    assert len(core.abuf.rows) == len(acts)
    core.flush_actions()
    ref = PartitionCore(1, SMALL)
    ref.step_actions(acts, np.full(len(acts), 3), np.arange(len(acts)))
    ref.flush_actions()
    assert int(ref.table.I["bots"][K.N_ACT].sum()) == len(acts)
    assert same_state(actions_state(core), actions_state(ref))


def bot_messages(seed: int, n_msgs: int, n_extra_actors: int = 0) -> list[ActionBatch]:
    """Actions topic messages: a naive bot, a person, a comment spammer, and optionally many one-off actors."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float, int, str | None]] = []
    rows += [("bot", a.ts, a.kind, "Nice pic!" if a.kind == COMMENT else None) for a in naive_bot(seed, days=1)]
    rows += [("person", a.ts, a.kind, None) for a in human(seed, days=2)]
    rows += [("spammer", T0 + 3_000 + 400 * j, COMMENT, "Follow back \U0001f525") for j in range(12)]
    rows += [(f"x{j}", T0 + float(rng.uniform(0, DAY)), LIKE, None) for j in range(n_extra_actors)]
    rows.sort(key=lambda r: r[1])
    texts = [r[3] or "" for r in rows]
    sim, flags = fingerprint_texts(texts)
    batch = ActionBatch([r[0] for r in rows], np.asarray([r[1] for r in rows]),
                        np.asarray([r[2] for r in rows], dtype=np.int8),
                        hash_ids([f"c{int(x)}" for x in rng.integers(0, 50, len(rows))]),
                        np.where([r[3] is not None for r in rows], sim, 0).astype(np.uint64),
                        np.where([r[3] is not None for r in rows], flags, 0).astype(np.uint8),
                        hash_ids([f"ev{j}" for j in range(len(rows))]), np.zeros(len(rows), np.int32))
    cuts = np.sort(rng.choice(np.arange(1, len(rows)), n_msgs - 1, replace=False))
    return [stamped(batch.take(idx)) for idx in np.split(np.arange(len(rows)), cuts)]


def stamped(b: ActionBatch) -> ActionBatch:
    """``b`` as its source would send it: with its newest event time as the source's watermark."""
    return dataclasses.replace(b, watermark=float(b.ts.max())) if len(b) else b


def feed_actions(core: PartitionCore, msgs: Sequence[ActionBatch], first_offset: int, flush: bool = False
                 ) -> list[str]:
    """Each message at its own offset; the accounts whose flag rose, in order (``flush``: then apply the rest)."""
    raised = []
    for off, m in enumerate(msgs, start=first_offset):
        core.step_actions(m, np.full(len(m), off), np.arange(len(m)))
        raised += [core.table.ids[a] for a, _ in core.raised]
    if flush:
        core.flush_actions()
        raised += [core.table.ids[a] for a, _ in core.raised]
        assert len(core.abuf.rows) == 0
    return raised


def buffered(core: PartitionCore) -> list[tuple[str, float, int]]:
    """The actions waiting in the core's buffer, as (actor, time, event hash), sorted."""
    rows = core.abuf.rows
    assert [core.table.ids[a] for a in core.abuf.actor.tolist()] == rows.actors
    return sorted(zip(rows.actors, rows.ts.tolist(), rows.event_h.tolist(), strict=True))


def n_applied(core: PartitionCore) -> int:
    return int(core.table.I["bots"][K.N_ACT, : len(core.table)].sum())


@pytest.mark.parametrize(("seed", "extra"), [(0, 0), (1, 0), (2, CHUNK + 100)])
def test_checkpoint_and_restore_give_the_uninterrupted_bot_state(seed: int, extra: int) -> None:
    msgs = bot_messages(seed, 40, extra)
    n_rows = sum(len(m) for m in msgs)
    full = PartitionCore(3, SMALL)
    raised = feed_actions(full, msgs, 0)
    assert raised == ["bot"]  # the spammer's templated comments alone (0.7) stay below the threshold
    assert [f.kind for f in full.score(full.table.index["bot"]).flags] == ["bot"]
    assert full.score(full.table.index["person"]).flags == []
    pending, unflushed = buffered(full), actions_state(full)
    assert pending and n_applied(full) + len(pending) == n_rows  # the newest 600 s still wait
    assert feed_actions(full, [], 0, flush=True) == []
    assert n_applied(full) == n_rows
    rng = np.random.default_rng(seed)
    for _ in range(3):
        cut = int(rng.integers(1, len(msgs)))
        replay_from = int(rng.integers(0, cut + 1))  # at least once: the restart replays from an earlier commit
        part = PartitionCore(3, SMALL)
        feed_actions(part, msgs[:cut], 0)
        log = part.checkpoint()
        restored = PartitionCore.restore(3, dict(log), SMALL)
        assert restored.processed[2] == cut - 1
        assert buffered(restored) == buffered(part) and same_state(actions_state(restored), actions_state(part))
        feed_actions(restored, msgs[replay_from:], replay_from)
        assert buffered(restored) == pending
        assert same_state(actions_state(restored), unflushed)
        feed_actions(restored, [], 0, flush=True)
        assert same_state(actions_state(restored), actions_state(full))
        assert restored.score(restored.table.index["bot"]).flags == full.score(full.table.index["bot"]).flags
    # a checkpoint after the buffer emptied stores it empty, and restores as such
    restored = PartitionCore.restore(3, dict(full.checkpoint()), SMALL)
    assert buffered(restored) == [] and same_state(actions_state(restored), actions_state(full))
    assert restored.flush_actions().size == 0


def interleaved_halves(batch: ActionBatch, window: float = 240.0) -> tuple[list[ActionBatch], list[ActionBatch]]:
    """The messages of ``batch`` (sorted by time) in time order, and as two sources forwarding alternate
    actions would deliver them: one message per source and ``window`` seconds, the second source's one window
    behind the first's (so up to two windows, less than the lateness, out of order)."""
    assert np.all(np.diff(batch.ts) >= 0) and 2 * window < BotParams().lateness_s
    win = ((batch.ts - batch.ts[0]) // window).astype(np.int64)
    idx = np.arange(len(batch))
    n_win = int(win[-1]) + 1
    in_order = [stamped(batch.take(idx[win == w])) for w in range(n_win) if np.any(win == w)]
    a = [idx[(idx % 2 == 0) & (win == w)] for w in range(n_win)]
    b = [idx[(idx % 2 == 1) & (win == w)] for w in range(n_win)]
    arrival = [a[0]]
    for w in range(1, n_win):
        arrival += [a[w], b[w - 1]]
    arrival.append(b[-1])
    return in_order, [stamped(batch.take(m)) for m in arrival if len(m)]


def reference_state(batch: ActionBatch) -> dict[str, tuple[list[float], list[int]]]:
    """The reference applying ``batch`` in (time, event hash) order: the event-time order a buffer gives."""
    order = np.lexsort((batch.event_h, batch.ts))
    names = sorted(set(batch.actors))
    acts = [naive.Action(names.index(batch.actors[i]), float(batch.ts[i]), int(batch.kind[i]),
                         int(batch.target_h[i]), int(batch.sim[i]), int(batch.tflags[i])) for i in order.tolist()]
    actors: dict[int, naive.BotActor] = {}
    naive.bot_update(acts, actors, naive.BotParams())
    out = {}
    for j, name in enumerate(names):
        f, i = columns_of(actors[j])
        out[name] = (f, i)
    return out


@pytest.mark.parametrize(("seed", "extra"), [(0, 0), (3, 40)])
def test_out_of_order_arrival_gives_the_in_order_bot_state(seed: int, extra: int) -> None:
    (batch,) = bot_messages(seed, 1, extra)
    in_order, arrival = interleaved_halves(batch)
    assert sum(len(m) for m in arrival) == len(batch) and len(arrival) > 2 * len(in_order) - 5
    inorder_core, ooo_core = PartitionCore(3, SMALL), PartitionCore(3, SMALL)
    raised_in = feed_actions(inorder_core, in_order, 0, flush=True)
    raised_ooo = feed_actions(ooo_core, arrival, 0, flush=True)
    assert raised_in == raised_ooo == ["bot"]
    want = actions_state(inorder_core)
    assert same_state(actions_state(ooo_core), want)
    assert not any(i[K.N_OOO] for _, i in want.values())  # every action applied in event-time order
    # ... which is the reference applying them in (time, event id) order, category aside (not a bot column)
    ref = reference_state(batch)
    assert same_state({k: (f, i[:K.CATEGORY] + i[K.CATEGORY + 1:]) for k, (f, i) in want.items()},
                      {k: (f, i[:K.CATEGORY] + i[K.CATEGORY + 1:]) for k, (f, i) in ref.items()})
    assert (ooo_core.score(ooo_core.table.index["bot"]).flags
            == inorder_core.score(inorder_core.table.index["bot"]).flags)
    # the arrival order is disorder the kernel would see without the buffer: applied at once, it differs
    eager = PartitionCore(3, CoreParams(dedup_capacity=1 << 14, bots=BotParams(lateness_s=0.0)))
    feed_actions(eager, arrival, 0, flush=True)
    assert eager.table.I["bots"][K.N_OOO, eager.table.index["bot"]] > 0
    assert not same_state(actions_state(eager), want)


@pytest.mark.parametrize("replay_back", [0, 1, 4])
def test_checkpoint_with_actions_still_buffered_loses_none_and_applies_none_twice(replay_back: int) -> None:
    (batch,) = bot_messages(5, 1, 30)
    in_order, arrival = interleaved_halves(batch)
    want_core = PartitionCore(3, SMALL)
    feed_actions(want_core, in_order, 0, flush=True)
    want = actions_state(want_core)
    assert n_applied(want_core) == len(batch)
    for cut in (len(arrival) // 3, 2 * len(arrival) // 3):
        part = PartitionCore(3, SMALL)
        feed_actions(part, arrival[:cut], 0)
        waiting = buffered(part)
        assert waiting and n_applied(part) + len(waiting) == sum(len(m) for m in arrival[:cut])
        log = dict(part.checkpoint())
        # the buffer travels in pieces written before their chunk, which names their version
        pieces = [key for key in log if key.startswith("abuf:")]
        assert pieces and all(list(log).index(k) < list(log).index(f"acct:{k.split(':')[1]}") for k in pieces)
        restored = PartitionCore.restore(3, log, SMALL)
        assert buffered(restored) == waiting  # nothing lost
        assert restored.awatermark == part.awatermark
        assert same_state(actions_state(restored), actions_state(part))
        # the restart replays from the commit (or earlier): what the buffer or the chunks hold is not taken again
        frm = cut - replay_back
        feed_actions(restored, arrival[frm:], frm)
        feed_actions(part, arrival[cut:], cut)
        assert buffered(restored) == buffered(part)
        assert same_state(actions_state(restored), actions_state(part))
        feed_actions(restored, [], 0, flush=True)
        assert n_applied(restored) == len(batch)  # each action once
        assert same_state(actions_state(restored), want)


def test_a_checkpoint_of_only_buffered_actions_restores_them_once() -> None:
    """Nothing applied yet, so only the buffering can make the checkpoint cover the actors and their offsets."""
    (batch,) = bot_messages(7, 1)
    first = np.flatnonzero(batch.ts < batch.ts[0] + 500.0)  # within the lateness of each other
    msgs = [stamped(batch.take(idx)) for idx in np.array_split(first, 3)]
    n = len(first)
    assert n >= 6 and all(len(m) for m in msgs)
    part = PartitionCore(3, SMALL)
    feed_actions(part, msgs, 0)
    assert n_applied(part) == 0 and len(buffered(part)) == n
    restored = PartitionCore.restore(3, dict(part.checkpoint()), SMALL)
    assert restored.table.ids == part.table.ids and buffered(restored) == buffered(part)
    assert list(restored.processed) == [-1, -1, len(msgs) - 1]
    feed_actions(restored, msgs, 0, flush=True)  # the whole replay again: already buffered, dropped
    feed_actions(part, [], 0, flush=True)
    assert n_applied(restored) == n_applied(part) == n
    assert same_state(actions_state(restored), actions_state(part))


def test_restore_from_a_log_of_several_checkpoints_with_actions_buffered() -> None:
    """The checkpoint topic keeps the newest value per key: chunks not dirtied since, and the newest buffer."""
    (batch,) = bot_messages(6, 1, 10)
    in_order, arrival = interleaved_halves(batch)
    want_core = PartitionCore(3, SMALL)
    feed_actions(want_core, in_order, 0, flush=True)
    core = PartitionCore(3, SMALL)
    log: dict[str, bytes] = {}
    cuts = [0, len(arrival) // 4, len(arrival) // 2, 3 * len(arrival) // 4]
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        feed_actions(core, arrival[lo:hi], lo)
        assert buffered(core)
        log.update(core.checkpoint())
    restored = PartitionCore.restore(3, log, SMALL)
    assert buffered(restored) == buffered(core) and same_state(actions_state(restored), actions_state(core))
    feed_actions(restored, arrival[cuts[-1] - 2:], cuts[-1] - 2, flush=True)
    assert n_applied(restored) == len(batch)
    assert same_state(actions_state(restored), actions_state(want_core))


def two_checkpoints() -> tuple[ActionBatch, list[ActionBatch], list[ActionBatch], dict[str, bytes | None],
                              list[tuple[str, bytes | None]], int]:
    """A core fed a third of the arrivals and checkpointed (completely: the source commits there), then fed
    another third: the batch, the in-order and arrival messages, the first checkpoint's log, the second
    checkpoint's entries (to cut short), and where the first checkpoint stands."""
    (batch,) = bot_messages(5, 1, 30)
    in_order, arrival = interleaved_halves(batch)
    core = PartitionCore(3, SMALL)
    c1, c2 = len(arrival) // 3, 2 * len(arrival) // 3
    feed_actions(core, arrival[:c1], 0)
    log: dict[str, bytes | None] = dict(core.checkpoint())
    feed_actions(core, arrival[c1:c2], c1)
    assert buffered(core)
    return batch, in_order, arrival, log, core.checkpoint(), c1


def test_a_checkpoint_cut_short_after_its_account_chunks_loses_and_repeats_nothing() -> None:
    batch, in_order, arrival, log, entries, c1 = two_checkpoints()
    want_core = PartitionCore(3, SMALL)
    feed_actions(want_core, in_order, 0, flush=True)
    assert any(key.startswith("abuf:") for key, _ in entries)
    n_chunks = max(i for i, (key, _) in enumerate(entries) if key.startswith("acct:")) + 1
    log.update(entries[:n_chunks])  # the crash: only the account chunks (with their buffers) were written
    restored = PartitionCore.restore(3, log, SMALL)
    feed_actions(restored, arrival[c1:], c1, flush=True)  # replay from the last commit
    assert n_applied(restored) == len(batch)
    assert same_state(actions_state(restored), actions_state(want_core))


@pytest.mark.parametrize("written", [0.0, 0.5, 1.0])
def test_a_checkpoint_cut_short_among_the_buffered_actions_restores_the_previous_chunk_with_its_own(
        written: float) -> None:
    """A crash while a chunk's buffered actions were being written, before the chunk itself: the restore takes
    the previous chunk record with the pieces of its own version, and deletes the others later."""
    batch, _, arrival, log, entries, c1 = two_checkpoints()
    want_core = PartitionCore(3, SMALL)
    feed_actions(want_core, arrival, 0, flush=True)
    first_chunk = next(i for i, (key, _) in enumerate(entries) if key.startswith("acct:"))
    assert first_chunk >= 1 and all(key.startswith("abuf:") for key, _ in entries[:first_chunk])
    log.update(entries[: int(first_chunk * written)])  # some pieces of the new version, not its chunk
    restored = PartitionCore.restore(3, log, SMALL)
    feed_actions(restored, arrival[c1:], c1, flush=True)  # replay from the last commit
    assert n_applied(restored) == len(batch)
    assert same_state(actions_state(restored), actions_state(want_core))
    stale = {key for key, v in restored.checkpoint() if v is None}
    assert stale == {key for key, _ in entries[: int(first_chunk * written)]}


def test_superseded_buffered_actions_are_deleted_one_checkpoint_later() -> None:
    (batch,) = bot_messages(6, 1, 10)
    _, arrival = interleaved_halves(batch)
    core = PartitionCore(3, SMALL)
    feed_actions(core, arrival[:10], 0)
    first = [key for key, _ in core.checkpoint() if key.startswith("abuf:")]
    feed_actions(core, arrival[10:20], 10)
    second = core.checkpoint()
    assert not any(v is None for _, v in second)  # the new chunk records are not flushed yet: keep the old
    third = core.checkpoint()
    assert {key for key, v in third if v is None} == set(first)


def test_a_batch_split_into_pieces_releases_nothing_ahead_of_a_later_piece() -> None:
    """Only the last piece of a batch's actions carries the batch's watermark: the actor side applies every
    action in event-time order even when a piece boundary cuts through out-of-order events."""
    from services.worker.processor import ACTIONS_PER_MESSAGE, _pieces

    n = ACTIONS_PER_MESSAGE + 10
    rng = np.random.default_rng(3)
    ts = T0 + np.sort(rng.uniform(0, 3_600, n))
    ts[ACTIONS_PER_MESSAGE - 1], ts[ACTIONS_PER_MESSAGE] = ts[ACTIONS_PER_MESSAGE], ts[ACTIONS_PER_MESSAGE - 1]
    batch = ActionBatch(["bob"] * n, ts, np.zeros(n, np.int8), np.zeros(n, np.uint64), np.zeros(n, np.uint64),
                        np.zeros(n, np.uint8), hash_ids([f"e{j}" for j in range(n)]), np.zeros(n, np.int32),
                        source=0, watermark=float(ts.max()))
    pieces = _pieces(batch, np.arange(n), before=-np.inf)
    assert [len(p) for p in pieces] == [ACTIONS_PER_MESSAGE, 10]
    assert [p.watermark for p in pieces] == [-np.inf, float(ts.max())]
    core = PartitionCore(0, SMALL)
    for off, piece in enumerate(pieces):
        core.step_actions(piece, np.full(len(piece), off), np.arange(len(piece)))
    core.flush_actions()
    bob = core.table.index["bob"]
    assert core.table.I["bots"][K.N_ACT, bob] == n and core.table.I["bots"][K.N_OOO, bob] == 0


def test_events_to_actions_to_a_bot_flag_end_to_end() -> None:
    """Events of a naive bot spread over two creators' partitions reach the bot's partition and flag it."""
    acts = naive_bot(4, days=1)
    src = [PartitionCore(p, SMALL) for p in range(2)]
    dst = PartitionCore(7, SMALL)
    raised: list[str] = []
    for m, lo in enumerate(range(0, len(acts), 100)):
        p = m % 2  # the bot moves from one creator's posts to the other's
        evs = [ev(f"b{j}", "comment" if a.kind == COMMENT else "like", a.ts, "bot", f"c{p}",
                  text="Nice pic!" if a.kind == COMMENT else None)
               for j, a in enumerate(acts[lo : lo + 100], start=lo)]
        res = src[p].step_events(evs, [m] * len(evs))
        assert res.new_flags == [] and len(res.actions) == len(evs)
        dst.step_actions(res.actions, np.full(len(res.actions), m), np.arange(len(res.actions)))
        raised += [dst.table.ids[a] for a, _ in dst.raised]
    assert raised == ["bot"]
    b = dst.table.index["bot"]
    assert 0 < int(dst.table.I["bots"][K.N_ACT, b]) < len(acts)  # the newest 600 s still wait
    dst.flush_actions()
    assert dst.raised == []
    for core in src:
        assert all(core.score(a).flags == [] for a in core.all_accounts())
    rec = dst.score(b)
    (flag,) = rec.flags
    assert flag.kind == "bot" and flag.reasons[0].startswith("acts every 60 s +/- 1 s")
    assert flag.first_ts == acts[30].ts
    assert flag.last_ts == acts[-1].ts
    assert rec.counts["actions"] == len(acts)
    assert rec.authenticity < 100
