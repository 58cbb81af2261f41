"""Numba kernels of the pod detector (see :mod:`detectors.pods` for the design).

:func:`early_pairs` runs once per batch on a creator partition. Two open-addressing tables (linear
probing, key 0 = empty, slot = splitmix64(key) & mask) hold the state:

- posts: ``post key -> publish time, source position``; a post matters only during the early window after it,
  and only to events after it in the stream (so a replay never counts what the first pass could not);
- pairs: ``hash(actor, creator) -> distinct posts engaged early, delay histogram, time the pair repeated,
  last post, last event time, last source position``.

Every table write marks its segment (``SEG`` slots) dirty, the unit of checkpointing. Each pair remembers the
source position of the last event applied to it, so replaying events a restored checkpoint already covers
changes nothing. When an insert would make a table 3/4 full, it is rebuilt in place keeping (pairs) every
repeated pair and the pairs seen once that were active within ``idle_s``, or (posts) the posts still inside
the early window; if that is still over half the capacity, the most recently active half is kept.

:func:`find_groups` runs on the graph of repeated pairs (all partitions). It treats ties as a group, so its
result depends on the graph only, never on how accounts are numbered.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS

LIKE, COMMENT, POST = 0, 1, 4
SEG_SHIFT = 13
SEG = 1 << SEG_SHIFT
N_DELAY = 8

# params vector of early_pairs
P_EARLY, P_IDLE = 0, 1
# pair table float columns (pf) and int columns (pi)
PF_LAST_TS, PF_T2 = 0, 1
PI_COUNT, PI_POS, PI_LAST_POST = 0, 1, 2


@njit(**NJIT_OPTIONS)
def mix64(x: np.uint64) -> np.uint64:
    """splitmix64 finalizer: spreads FNV hashes over the low bits used as slot numbers."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(**NJIT_OPTIONS)
def pair_key(actor_h: np.uint64, target_h: np.uint64) -> np.uint64:
    k = mix64(actor_h ^ np.uint64(0x9E3779B97F4A7C15)) ^ target_h
    return k if k != np.uint64(0) else np.uint64(1)


@njit(**NJIT_OPTIONS)
def find_slot(keys: np.ndarray, k: np.uint64) -> np.int64:
    """Slot holding ``k``, or the empty slot where it would go."""
    mask = keys.shape[0] - 1
    s = np.int64(mix64(k) & np.uint64(mask))
    while keys[s] != np.uint64(0) and keys[s] != k:
        s = (s + 1) & mask
    return s


@njit(**NJIT_OPTIONS)
def delay_bucket(d: float, edges: np.ndarray) -> int:
    b = 0
    for j in range(1, edges.shape[0]):
        if d >= edges[j]:
            b = j
    return b


@njit(**NJIT_OPTIONS)
def _rebuild_pairs(pk: np.ndarray, pf: np.ndarray, pi: np.ndarray, ph: np.ndarray, dirty: np.ndarray,
                   state: np.ndarray, now: float, idle_s: float) -> None:
    cap = pk.shape[0]
    used = np.flatnonzero(pk != np.uint64(0))
    keep = np.zeros(used.shape[0], dtype=np.bool_)
    for j in range(used.shape[0]):
        s = used[j]
        keep[j] = pi[PI_COUNT, s] >= 2 or pf[PF_LAST_TS, s] >= now - idle_s
    sel = used[keep]
    if sel.shape[0] > cap // 2:  # still too full: the most recently active half
        order = np.argsort(-pf[PF_LAST_TS, sel], kind="mergesort")
        sel = sel[order[: cap // 2]]
    k2 = pk[sel].copy()
    f2 = pf[:, sel].copy()
    i2 = pi[:, sel].copy()
    h2 = ph[:, sel].copy()
    pk[:] = 0
    for j in range(k2.shape[0]):
        s = find_slot(pk, k2[j])
        pk[s] = k2[j]
        pf[:, s] = f2[:, j]
        pi[:, s] = i2[:, j]
        ph[:, s] = h2[:, j]
    dirty[:] = True
    state[0] = k2.shape[0]


@njit(**NJIT_OPTIONS)
def _rebuild_posts(tk: np.ndarray, tt: np.ndarray, tq: np.ndarray, dirty: np.ndarray, state: np.ndarray,
                   horizon: float) -> None:
    cap = tk.shape[0]
    used = np.flatnonzero(tk != np.uint64(0))
    sel = used[tt[used] >= horizon]
    if sel.shape[0] > cap // 2:
        order = np.argsort(-tt[sel], kind="mergesort")
        sel = sel[order[: cap // 2]]
    k2 = tk[sel].copy()
    t2 = tt[sel].copy()
    q2 = tq[sel].copy()
    tk[:] = 0
    for j in range(k2.shape[0]):
        s = find_slot(tk, k2[j])
        tk[s] = k2[j]
        tt[s] = t2[j]
        tq[s] = q2[j]
    dirty[:] = True
    state[1] = k2.shape[0]


@njit(**NJIT_OPTIONS)
def early_pairs(kind: np.ndarray, ts: np.ndarray, actor_h: np.ndarray, target_h: np.ndarray, post_h: np.ndarray,
                pos: np.ndarray, keep: np.ndarray, edges: np.ndarray, params: np.ndarray,
                tk: np.ndarray, tt: np.ndarray, tq: np.ndarray, t_dirty: np.ndarray,
                pk: np.ndarray, pf: np.ndarray, pi: np.ndarray, ph: np.ndarray, p_dirty: np.ndarray,
                state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a batch in order; return ``(event index, pair key)`` of every change to a repeated pair.

    A pair's state changes only on an early like or comment (``0 <= ts - post time <= early``) on a post of
    its creator, by another account, on a post other than the last one counted, from a source position
    beyond the last one applied. ``state`` = [pairs used, posts used, pair-table rebuilds]. Keys, not slots,
    are returned because a rebuild later in the batch moves slots (see :func:`lookup`).
    """
    n = kind.shape[0]
    out_ev = np.empty(n, dtype=np.int64)
    out_key = np.empty(n, dtype=np.uint64)
    k_out = 0
    early, idle = params[P_EARLY], params[P_IDLE]
    t_cap, p_cap = tk.shape[0], pk.shape[0]
    for i in range(n):
        if not keep[i] or post_h[i] == np.uint64(0):
            continue
        if kind[i] == POST:
            s = find_slot(tk, post_h[i])
            if tk[s] == post_h[i]:
                continue  # known post (a replay): publish times never change
            if 4 * (state[1] + 1) > 3 * t_cap:
                _rebuild_posts(tk, tt, tq, t_dirty, state, ts[i] - 2.0 * early)
                s = find_slot(tk, post_h[i])
            tk[s] = post_h[i]
            tt[s] = ts[i]
            tq[s] = pos[i]
            t_dirty[s >> SEG_SHIFT] = True
            state[1] += 1
            continue
        if (kind[i] != LIKE and kind[i] != COMMENT) or actor_h[i] == target_h[i]:
            continue
        s = find_slot(tk, post_h[i])
        if tk[s] != post_h[i] or pos[i] <= tq[s]:
            continue  # unknown or forgotten post, or one published later in the stream
        d = ts[i] - tt[s]
        if d < 0.0 or d > early:
            continue
        b = delay_bucket(d, edges)
        k = pair_key(actor_h[i], target_h[i])
        q = find_slot(pk, k)
        if pk[q] != k:
            if 4 * (state[0] + 1) > 3 * p_cap:
                _rebuild_pairs(pk, pf, pi, ph, p_dirty, state, ts[i], idle)
                state[2] += 1
                q = find_slot(pk, k)
            pk[q] = k
            pi[PI_COUNT, q] = 1
            pi[PI_POS, q] = pos[i]
            pi[PI_LAST_POST, q] = np.int64(post_h[i])
            pf[PF_LAST_TS, q] = ts[i]
            pf[PF_T2, q] = np.nan
            ph[:, q] = 0
            ph[b, q] = 1
            p_dirty[q >> SEG_SHIFT] = True
            state[0] += 1
            continue
        if pos[i] <= pi[PI_POS, q]:
            continue  # already reflected (replay after a restore)
        pi[PI_POS, q] = pos[i]
        p_dirty[q >> SEG_SHIFT] = True
        if pi[PI_LAST_POST, q] == np.int64(post_h[i]):
            continue  # a second engagement on the same post (a comment after the like) counts once
        pi[PI_COUNT, q] += 1
        pi[PI_LAST_POST, q] = np.int64(post_h[i])
        pf[PF_LAST_TS, q] = ts[i]
        ph[b, q] += 1
        if pi[PI_COUNT, q] == 2:
            pf[PF_T2, q] = ts[i]
        out_ev[k_out] = i
        out_key[k_out] = k
        k_out += 1
    return out_ev[:k_out], out_key[:k_out]


@njit(**NJIT_OPTIONS)
def lookup(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Slot of each wanted key, -1 when absent."""
    out = np.empty(wanted.shape[0], dtype=np.int64)
    for j in range(wanted.shape[0]):
        s = find_slot(keys, wanted[j])
        out[j] = s if keys[s] == wanted[j] else -1
    return out


@njit(**NJIT_OPTIONS)
def reinsert(keys_in: np.ndarray, pos_in: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Insert restored entries into an empty table; of two entries with one key the later position wins.

    Returns the destination slot of each input entry, or -1 for an entry that lost to another.
    """
    out = np.full(keys_in.shape[0], -1, dtype=np.int64)
    best = np.full(keys.shape[0], -1, dtype=np.int64)  # input index per slot
    for j in range(keys_in.shape[0]):
        k = keys_in[j]
        if k == np.uint64(0):
            continue
        s = find_slot(keys, k)
        if keys[s] == k:
            if pos_in[j] <= pos_in[best[s]]:
                continue
            out[best[s]] = -1
        keys[s] = k
        best[s] = j
        out[j] = s
    return out


# --- the graph --------------------------------------------------------------------------------------

@njit(**NJIT_OPTIONS)
def _grow(seed_u: int, seed_v: int, indptr: np.ndarray, indices: np.ndarray, share: float,
          in_g: np.ndarray, links: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """The group grown from one seed pair; ``in_g``, ``links`` come zeroed and are zeroed again on return."""
    n_t = 0
    members = np.empty(indptr.shape[0] - 1, dtype=np.int64)
    size = 0
    new = np.empty(indptr.shape[0] - 1, dtype=np.int64)
    n_new = 2
    new[0], new[1] = seed_u, seed_v
    while n_new > 0:
        for j in range(n_new):
            x = new[j]
            in_g[x] = True
            members[size] = x
            size += 1
        for j in range(n_new):
            x = new[j]
            for e in range(indptr[x], indptr[x + 1]):
                y = indices[e]
                if links[y] == 0:
                    touched[n_t] = y
                    n_t += 1
                links[y] += 1
        best = 0
        for t in range(n_t):
            y = touched[t]
            if not in_g[y] and links[y] > best:
                best = links[y]
        need = max(2, int(np.ceil(share * size - 1e-9)))
        n_new = 0
        if best >= need:
            for t in range(n_t):
                y = touched[t]
                if not in_g[y] and links[y] == best:
                    new[n_new] = y
                    n_new += 1
    # prune members linked to fewer than `share` of the others, all of the weakest at once
    deg = np.empty(members.shape[0], dtype=np.int64)
    while size > 0:
        for j in range(size):
            x = members[j]
            deg[j] = 0
            for e in range(indptr[x], indptr[x + 1]):
                if in_g[indices[e]]:
                    deg[j] += 1
        worst = deg[:size].min()
        if worst >= share * (size - 1) - 1e-9:
            break
        k = 0
        for j in range(size):  # in_g changes only after every degree was read above
            if deg[j] == worst:
                in_g[members[j]] = False
            else:
                members[k] = members[j]
                k += 1
        size = k
    out = np.sort(members[:size])
    for j in range(size):
        in_g[out[j]] = False
    for t in range(n_t):
        links[touched[t]] = 0
    return out


@njit(**NJIT_OPTIONS)
def find_groups(indptr: np.ndarray, indices: np.ndarray, recip: np.ndarray, share: float, min_size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Groups grown from every reciprocal pair of an undirected graph in CSR form.

    ``indices[indptr[x]:indptr[x+1]]`` are the neighbours of x (sorted); ``recip[e]`` tells whether the link
    ``e`` repeats in both directions. From each reciprocal pair (u < v) the group starts as {u, v} and takes in,
    all at once, the outside accounts with the most links into it, as long as that is at least
    max(2, share x its size); then it drops, all at once, its members with the fewest links inside while that is
    below share x (size - 1). Groups of at least ``min_size`` are returned as (concatenated members, ends); the
    same group grown from several seeds is returned once per seed (the caller merges).
    """
    n = indptr.shape[0] - 1
    in_g = np.zeros(n, dtype=np.bool_)
    links = np.zeros(n, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    out = np.empty(0, dtype=np.int64)
    chunks = []
    for u in range(n):
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v <= u or not recip[e]:
                continue
            g = _grow(u, v, indptr, indices, share, in_g, links, touched)
            if g.shape[0] >= min_size:
                chunks.append(g)
    total = 0
    for g in chunks:
        total += g.shape[0]
    out = np.empty(total, dtype=np.int64)
    ends = np.empty(len(chunks), dtype=np.int64)
    k = 0
    for j, g in enumerate(chunks):
        out[k : k + g.shape[0]] = g
        k += g.shape[0]
        ends[j] = k
    return out, ends
