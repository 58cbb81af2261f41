"""Engagement pods: pair summaries on each creator's partition, one graph of them, groups with evidence.

Two stages, joined by the ``pod-edges`` topic (:class:`schemas.wire.PairSummary` records):

1. :class:`PodEdges`, inside each partition's :class:`detectors.core.PartitionCore`. Events are partitioned
   by creator, so a creator's posts and the likes and comments on them meet here. A numba kernel
   (:func:`detectors.kernels.pods.early_pairs`) keeps the recent posts and, per (actor, creator) pair, the
   number of distinct posts the actor engaged *early* (within ``early_s`` of publishing) with a histogram
   of the delays. Once a pair repeats (count >= 2) every change is published as a summary.
2. :class:`PodGraph`, one instance fed by the pod-edges topic from every partition (so N workers give the
   same pods as one). It keeps the latest summary per directed pair and finds groups
   (:func:`detectors.kernels.pods.find_groups`): from every pair that repeats in *both* directions it grows
   the set of accounts linked to at least ``link_share`` of the group (lockstep, as in CopyCatch and
   SynchroTrap), so camouflage in the form of organic engagement adds no links, and overlapping pods stay
   apart (a member shared by two pods is in both groups, the others in one).

Memory bounds: per partition ``pair_capacity`` pairs x 64 B and ``post_capacity`` posts x 24 B (defaults 64
MiB and 3 MiB); when a table is 3/4 full, pairs seen once and idle longest (posts older than the early window)
are dropped first. The graph keeps one summary per repeated pair, at most ``graph_max_pairs``; past that, the
one-way pairs idle longest are dropped.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from detectors.ids import hash_ids
from detectors.kernels import pods as K
from detectors.reasons import duration
from detectors.scoring import authenticity_of, deductions
from detectors.segments import dump_segments, empty_segment, load_segments
from schemas.wire import FlagRecord, PairSummary, PodMember, PodRecord, ScoreRecord

#: Edges of the delay buckets, seconds after the post (the last bucket ends at the early window).
DELAY_EDGES_S: tuple[float, ...] = (0.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1_200.0, 1_800.0)
N_DELAY = len(DELAY_EDGES_S)
assert N_DELAY == K.N_DELAY


@dataclass(frozen=True)
class PodParams:
    early_s: float = 3_600.0  # an engagement this soon after the post is early
    idle_s: float = 3 * 86_400.0  # pairs seen once and idle longer than this are dropped first
    pair_capacity: int = 1 << 20
    post_capacity: int = 1 << 17
    min_size: int = 3
    link_share: float = 0.6
    graph_max_pairs: int = 1 << 21
    merge_jaccard: float = 0.8  # groups grown from different seeds this alike are one pod


def _pow2(n: int) -> int:
    return 1 << max(K.SEG_SHIFT, (n - 1).bit_length())


def pod_id_of(members: Sequence[str]) -> str:
    """Content-addressed id: the same sorted member list gives the same id in every run."""
    return "pod-" + hashlib.sha1("\x00".join(sorted(members)).encode(), usedforsecurity=False).hexdigest()[:12]


def median_from_hist(hist: Sequence[int], early_s: float) -> float:
    """Median delay from bucket counts, interpolated linearly inside the median's bucket."""
    total = sum(hist)
    if total == 0:
        return float("nan")
    edges = (*DELAY_EDGES_S, early_s)
    half = total / 2.0
    seen = 0
    for k, c in enumerate(hist):
        if c and seen + c >= half:
            frac = (half - seen) / c
            return float(edges[k] + frac * (edges[k + 1] - edges[k]))
        seen += c
    return float(edges[-1])


def pod_flag(pod: PodRecord, account_id: str, others: Iterable[PodRecord] = ()) -> FlagRecord:
    """The ``pod`` flag of one member, with reasons a brand can read and the evidence behind them."""
    me = next(m for m in pod.member_stats if m.account_id == account_id)
    n_other = len(pod.members) - 1
    reasons = [
        f"member of engagement pod {pod.pod_id}: {n_other} other creators who like and comment on each "
        f"other's posts right after publishing",
        f"engaged early on other members' posts {me.engaged} times and received {me.received} early "
        f"engagements from them; repeated early engagement with {me.partners} of the {n_other} members, "
        f"{me.reciprocal} of them both ways",
        f"inside the pod, engagement comes a median {duration(pod.median_delay_s)} after posting",
    ]
    also = [p.pod_id for p in others if p.pod_id != pod.pod_id]
    if also:
        reasons.append(f"also in pod{'s' if len(also) > 1 else ''} {', '.join(also)}")
    evidence = {
        "pod_id": pod.pod_id, "pod_ids": [pod.pod_id, *also], "size": len(pod.members),
        "members": [m for m in pod.members if m != account_id][:50],
        "posts": pod.posts, "engaged": me.engaged, "received": me.received, "partners": me.partners,
        "reciprocal": me.reciprocal, "median_delay_s": round(pod.median_delay_s, 1),
        "pod_reciprocal_pairs": pod.reciprocal_pairs,
    }
    return FlagRecord(kind="pod", score=pod.score, first_ts=me.first_ts, last_ts=pod.last_ts, reasons=reasons,
                      evidence=evidence)


def with_pods(rec: ScoreRecord, pods: Sequence[PodRecord]) -> ScoreRecord:
    """``rec`` with the pod flag of the strongest active pod the account is in, and the score it implies."""
    mine = [p for p in pods if p.active and rec.account_id in p.members]
    flags = [f for f in rec.flags if f.kind != "pod"]
    if mine:
        best = max(mine, key=lambda p: (p.score, len(p.members), p.pod_id))
        flags.append(pod_flag(best, rec.account_id, mine))
    elif len(flags) == len(rec.flags):
        return rec
    lost = deductions(flags, rec.audience)
    return rec.model_copy(update={"flags": flags, "authenticity": authenticity_of(lost), "deductions": lost})


def _ids_hash(ids: Sequence[str | None]) -> np.ndarray:
    h = hash_ids([s or "" for s in ids])
    h[[i for i, s in enumerate(ids) if s is None]] = 0
    return h


class PodEdges:
    """Stage 1, one per partition: recent posts and repeated early (actor, creator) pairs (see module doc)."""

    def __init__(self, params: PodParams | None = None) -> None:
        self.params = params or PodParams()
        cap_p, cap_t = _pow2(self.params.pair_capacity), _pow2(self.params.post_capacity)
        self.pk = np.zeros(cap_p, dtype=np.uint64)
        self.pf = np.full((2, cap_p), np.nan)
        self.pi = np.zeros((3, cap_p), dtype=np.int64)
        self.ph = np.zeros((N_DELAY, cap_p), dtype=np.uint16)
        self.p_dirty = np.zeros(cap_p >> K.SEG_SHIFT, dtype=np.bool_)
        self.tk = np.zeros(cap_t, dtype=np.uint64)
        self.tt = np.zeros(cap_t)
        self.tq = np.zeros(cap_t, dtype=np.int64)
        self.t_dirty = np.zeros(cap_t >> K.SEG_SHIFT, dtype=np.bool_)
        self.state = np.zeros(3, dtype=np.int64)  # pairs used, posts used, pair-table rebuilds
        self._edges = np.asarray(DELAY_EDGES_S)
        self._pvec = np.asarray([self.params.early_s, self.params.idle_s])
        self._orphans: list[str] = []  # checkpoint keys of a previous, larger layout, to overwrite empty

    def update(self, kind: np.ndarray, ts: np.ndarray, actors: Sequence[str], targets: Sequence[str],
               actor_h: np.ndarray, target_h: np.ndarray, posts: Sequence[str | None], pos: np.ndarray,
               keep: np.ndarray) -> list[PairSummary]:
        """Apply a batch (in order); the current summary of every repeated pair it changed.

        ``actor_h`` and ``target_h`` are :func:`detectors.ids.hash_ids` of ``actors`` and ``targets``.
        """
        ev, keys = K.early_pairs(kind, ts, actor_h, target_h, _ids_hash(posts), pos, keep,
                                 self._edges, self._pvec, self.tk, self.tt, self.tq, self.t_dirty, self.pk, self.pf,
                                 self.pi, self.ph, self.p_dirty, self.state)
        if ev.shape[0] == 0:
            return []
        # the last change of each pair in the batch carries its current state
        rev_keys = keys[::-1]
        _, first = np.unique(rev_keys, return_index=True)
        last = np.sort(ev.shape[0] - 1 - first)
        slots = K.lookup(self.pk, keys[last])
        out = []
        for i, s in zip(ev[last].tolist(), slots.tolist(), strict=True):
            if s < 0:
                continue
            out.append(PairSummary.model_construct(
                actor_id=actors[i], target_id=targets[i], count=int(self.pi[K.PI_COUNT, s]),
                delay_hist=self.ph[:, s].tolist(), t2=float(self.pf[K.PF_T2, s]),
                last_ts=float(self.pf[K.PF_LAST_TS, s]), last_post=posts[i]))
        return out

    # --- checkpoints: dirty segments of both tables; a restore re-inserts every entry -----------
    def _pair_arrays(self) -> dict[str, np.ndarray]:
        return {"k": self.pk, "f": self.pf, "i": self.pi, "h": self.ph}

    def _post_arrays(self) -> dict[str, np.ndarray]:
        return {"k": self.tk, "t": self.tt, "q": self.tq}

    def checkpoint(self) -> list[tuple[str, bytes]]:
        out = dump_segments("podpair", self.p_dirty, K.SEG_SHIFT, self._pair_arrays())
        out += dump_segments("podpost", self.t_dirty, K.SEG_SHIFT, self._post_arrays())
        for key in self._orphans:
            arrays = self._pair_arrays() if key.startswith("podpair") else self._post_arrays()
            out.append((key, empty_segment(arrays)))
        self._orphans = []
        return out

    def restore(self, blobs: Mapping[str, bytes]) -> None:
        """Load checkpoint segments (any capacity, any mix of table layouts) into this empty tracker.

        Entries are re-inserted, so slots may move: every segment is written at the next checkpoint, and the
        keys of old segments beyond this table's end are overwritten empty, so no stale layout survives.
        """
        pairs, orphans_p = load_segments("podpair", blobs, self.pk.shape[0] >> K.SEG_SHIFT)
        posts, orphans_t = load_segments("podpost", blobs, self.tk.shape[0] >> K.SEG_SHIFT)
        self._orphans = orphans_p + orphans_t
        if pairs is not None:
            k, f, i, h = pairs["k"], pairs["f"], pairs["i"], pairs["h"]
            sel = self._fit(k, f[K.PF_LAST_TS], self.pk.shape[0])
            dest = K.reinsert(k[sel], i[K.PI_POS, sel], self.pk)
            ok = dest >= 0
            self.pf[:, dest[ok]] = f[:, sel][:, ok]
            self.pi[:, dest[ok]] = i[:, sel][:, ok]
            self.ph[:, dest[ok]] = h[:, sel][:, ok]
            self.state[0] = int(ok.sum())
        if posts is not None:
            k, t = posts["k"], posts["t"]
            q = posts.get("q", np.zeros_like(k, dtype=np.int64))
            sel = self._fit(k, t, self.tk.shape[0])
            dest = K.reinsert(k[sel], q[sel], self.tk)
            ok = dest >= 0
            self.tt[dest[ok]] = t[sel][ok]
            self.tq[dest[ok]] = q[sel][ok]
            self.state[1] = int(ok.sum())
        if pairs is not None or posts is not None:
            self.p_dirty[:] = True
            self.t_dirty[:] = True

    @staticmethod
    def _fit(keys: np.ndarray, recency: np.ndarray, cap: int) -> np.ndarray:
        """Indices of the entries to restore: all, or the most recent half-table when they would not fit."""
        used = np.flatnonzero(keys != 0)
        if used.shape[0] * 4 <= cap * 3:
            return used
        return used[np.argsort(-recency[used], kind="mergesort")[: cap // 2]]


@dataclass(slots=True)
class _Pair:
    count: int
    hist: list[int]
    t2: float
    last_ts: float
    last_post: str | None


class PodGraph:
    """Stage 2, one for all partitions: the latest summary per repeated pair, and the pods it implies.

    :meth:`apply` is idempotent and order-free (the summary with the higher count wins), so the graph, and the
    pods :meth:`refresh` finds in it, depend only on which summaries arrived, not on their interleaving.
    """

    def __init__(self, params: PodParams | None = None) -> None:
        self.params = params or PodParams()
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self.adj: dict[str, set[str]] = {}
        self.recip: set[str] = set()  # accounts in at least one pair repeated both ways
        self.recip_nbrs: dict[str, int] = {}  # per account, how many of its neighbours are in `recip`
        self.pods: dict[str, PodRecord] = {}  # active pods by id
        self.dirty = False
        self.max_ts = -math.inf

    def apply(self, summaries: Iterable[PairSummary]) -> int:
        """Merge summaries; returns how many changed the graph."""
        changed = 0
        for s in summaries:
            key = (s.actor_id, s.target_id)
            old = self.pairs.get(key)
            if old is not None and (old.count, old.last_ts) >= (s.count, s.last_ts):
                continue
            self.pairs[key] = _Pair(s.count, list(s.delay_hist), s.t2, s.last_ts, s.last_post)
            self.max_ts = max(self.max_ts, s.last_ts)
            changed += 1
            a, t = key
            if old is None:
                self._link(a, t)
            # what can change a group: a pair of its possible members (members or their neighbours)
            if a in self.recip or t in self.recip or self.recip_nbrs.get(a) or self.recip_nbrs.get(t):
                self.dirty = True
        if len(self.pairs) > self.params.graph_max_pairs:
            self._evict()
        return changed

    def _link(self, a: str, t: str) -> None:
        na, nt = self.adj.setdefault(a, set()), self.adj.setdefault(t, set())
        if t not in na:  # else the reverse pair linked them already
            na.add(t)
            nt.add(a)
            for x, y in ((a, t), (t, a)):
                if x in self.recip:
                    self.recip_nbrs[y] = self.recip_nbrs.get(y, 0) + 1
        if (t, a) in self.pairs:
            for x in (a, t):
                if x not in self.recip:
                    self.recip.add(x)
                    for y in self.adj[x]:
                        self.recip_nbrs[y] = self.recip_nbrs.get(y, 0) + 1

    def _evict(self) -> None:
        one_way = sorted((p.last_ts, k) for k, p in self.pairs.items() if (k[1], k[0]) not in self.pairs)
        for _, (a, t) in one_way[: len(self.pairs) - self.params.graph_max_pairs // 2]:
            del self.pairs[(a, t)]
            self.adj[a].discard(t)
            self.adj[t].discard(a)
        self.recip_nbrs = {x: n for x, ys in self.adj.items() if (n := sum(1 for y in ys if y in self.recip))}
        self.dirty = True

    # --- groups -----------------------------------------------------------------------------------
    def groups(self) -> list[list[str]]:
        """The pods of the current graph as sorted member lists (a pure function of the graph)."""
        # Members are accounts in a pair repeated both ways, plus accounts that only give (a member who rarely
        # posts) if at least half of their repeated early pairs are with such accounts: engagement concentrated
        # on one group, not a heavy user's spread over every creator.
        recip = self.recip
        near = set()
        for r in recip:
            for x in self.adj.get(r, ()):
                if x not in recip and x not in near:
                    k = sum(1 for y in self.adj[x] if y in recip)
                    if k >= 2 and 2 * k >= len(self.adj[x]):
                        near.add(x)
        nodes = sorted(recip | near)
        if len(nodes) < self.params.min_size:
            return []
        index = {x: i for i, x in enumerate(nodes)}
        indptr = np.zeros(len(nodes) + 1, dtype=np.int64)
        nbrs: list[int] = []
        rflags: list[bool] = []
        for i, x in enumerate(nodes):
            ys = sorted(index[y] for y in self.adj.get(x, ()) if y in index)
            nbrs.extend(ys)
            rflags.extend((x, nodes[j]) in self.pairs and (nodes[j], x) in self.pairs for j in ys)
            indptr[i + 1] = len(nbrs)
        flat, ends = K.find_groups(indptr, np.asarray(nbrs, dtype=np.int64), np.asarray(rflags, dtype=np.bool_),
                                   self.params.link_share, self.params.min_size)
        return merge_groups([tuple(nodes[j] for j in g) for g in np.split(flat, ends[:-1])] if len(ends) else [],
                            self.params.merge_jaccard, self.params.min_size)

    def refresh(self) -> tuple[list[PodRecord], list[PodRecord]]:
        """Recompute the pods if the graph changed: (pods new or changed, pods retired)."""
        if not self.dirty:
            return [], []
        self.dirty = False
        current = {}
        for members in self.groups():
            rec = self.describe(members)
            current[rec.pod_id] = rec
        changed = [r for pid, r in sorted(current.items()) if self.pods.get(pid) != r]
        retired = []
        for pid, old in sorted(self.pods.items()):
            if pid not in current:
                succ = sorted(p for p, r in current.items() if set(r.members) & set(old.members))
                retired.append(old.model_copy(update={"active": False, "superseded_by": succ}))
        self.pods = current
        return changed, retired

    def describe(self, members: Sequence[str]) -> PodRecord:
        """A pod record with its evidence, computed from the pairs inside the group."""
        ms = sorted(members)
        mset = set(ms)
        engaged = dict.fromkeys(ms, 0)
        received = dict.fromkeys(ms, 0)
        partners: dict[str, set[str]] = {m: set() for m in ms}
        hist = [0] * N_DELAY
        posts: set[str] = set()
        link_t: dict[str, list[float]] = {m: [] for m in ms}
        recip_edges: list[tuple[float, str, str]] = []
        directed = 0
        last_ts = -math.inf
        for a in ms:
            for b in self.adj.get(a, ()):
                if b not in mset:
                    continue
                p = self.pairs.get((a, b))
                if p is not None:
                    directed += 1
                    engaged[a] += p.count
                    received[b] += p.count
                    hist = [x + y for x, y in zip(hist, p.hist, strict=True)]
                    last_ts = max(last_ts, p.last_ts)
                    if p.last_post:
                        posts.add(p.last_post)
                if a < b:
                    q = self.pairs.get((b, a))
                    times = [x.t2 for x in (p, q) if x is not None]
                    partners[a].add(b)
                    partners[b].add(a)
                    link_t[a].append(min(times))
                    link_t[b].append(min(times))
                    if p is not None and q is not None:
                        recip_edges.append((max(times), a, b))
        n_recip = len(recip_edges)
        recip_of = {m: 0 for m in ms}
        for _, a, b in recip_edges:
            recip_of[a] += 1
            recip_of[b] += 1
        first = _first_triangle(recip_edges)
        if not math.isfinite(first):
            first = max(sorted(ts)[min(1, len(ts) - 1)] for ts in link_t.values() if ts)
        n = len(ms)
        density = n_recip / (n * (n - 1) / 2)
        med = median_from_hist(hist, self.params.early_s)
        stats = [PodMember(account_id=m, engaged=engaged[m], received=received[m], partners=len(partners[m]),
                           reciprocal=recip_of[m],
                           first_ts=max(first, sorted(link_t[m])[min(1, len(link_t[m]) - 1)]) if link_t[m] else first)
                 for m in ms]
        total = sum(engaged.values())
        reasons = [
            f"{n} creators engage each other's posts early and repeatedly: {n_recip} of {n * (n - 1) // 2} "
            f"pairs do so both ways",
            f"{total} early likes and comments inside the group, a median {duration(med)} after posting",
        ]
        return PodRecord(pod_id=pod_id_of(ms), members=ms, score=round(0.5 + 0.5 * density, 3), first_ts=first,
                         last_ts=last_ts, reciprocal_pairs=n_recip, directed_pairs=directed,
                         early_engagements=total, median_delay_s=round(med, 1), posts=sorted(posts)[:20],
                         member_stats=stats, reasons=reasons)

    def all_pods(self) -> list[PodRecord]:
        return [self.pods[k] for k in sorted(self.pods)]


def _first_triangle(edges: list[tuple[float, str, str]]) -> float:
    """Earliest time at which three accounts were pairwise reciprocal (edges added in time order)."""
    adj: dict[str, set[str]] = {}
    for t, a, b in sorted(edges):
        na, nb = adj.setdefault(a, set()), adj.setdefault(b, set())
        if na & nb:
            return t
        na.add(b)
        nb.add(a)
    return math.inf


def merge_groups(groups: Sequence[tuple[str, ...]], min_jaccard: float, min_size: int) -> list[list[str]]:
    """One pod per cluster of alike groups (Jaccard >= ``min_jaccard``, transitively).

    A pod's members are those in at least half of its cluster's groups (each grown from one seed); pods inside
    another pod are dropped. The result does not depend on the order of ``groups``.
    """
    weight: dict[frozenset[str], int] = {}
    for grown in groups:
        key = frozenset(grown)
        weight[key] = weight.get(key, 0) + 1
    uniq = sorted(weight, key=sorted)
    parent = list(range(len(uniq)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_member: dict[str, list[int]] = {}
    for i, fg in enumerate(uniq):
        for m in fg:
            by_member.setdefault(m, []).append(i)
    for i, fg in enumerate(uniq):
        for j in sorted({j for m in fg for j in by_member[m] if j > i}):
            h = uniq[j]
            if len(fg & h) >= min_jaccard * len(fg | h):
                parent[root(j)] = root(i)
    clusters: dict[int, list[int]] = {}
    for i in range(len(uniq)):
        clusters.setdefault(root(i), []).append(i)
    pods: list[frozenset[str]] = []
    for idx in clusters.values():
        total = sum(weight[uniq[i]] for i in idx)
        votes: dict[str, int] = {}
        for i in idx:
            for m in uniq[i]:
                votes[m] = votes.get(m, 0) + weight[uniq[i]]
        pod = frozenset(m for m, v in votes.items() if 2 * v >= total)
        if len(pod) >= min_size:
            pods.append(pod)
    pods = sorted(set(pods), key=lambda p: (-len(p), sorted(p)))
    kept = [p for i, p in enumerate(pods) if not any(p < q for q in pods[:i])]
    return sorted((sorted(p) for p in kept), key=lambda m: m)


__all__ = ["DELAY_EDGES_S", "N_DELAY", "PodEdges", "PodGraph", "PodParams", "merge_groups", "median_from_hist",
           "pod_flag", "pod_id_of", "with_pods"]
