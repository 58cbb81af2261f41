"""Per-account event-time rate baselines and spike flags (engagement and follows).

Each account keeps a tumbling event-time window of ``window_s`` seconds and an exponentially
weighted mean and variance of past windows' counts. A window whose count is far above the
account's own baseline raises a spike flag. A flagged window is not learned into the baseline
(a detector must not learn from what it flags). Events older than the current window
(late beyond one window) count toward totals only.

Column layout: ``F`` (float64) and ``I`` (int64) are (columns x capacity) matrices; the
column indices below are the contract between this kernel and :mod:`detectors.engagement`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from detectors.config import NJIT_OPTIONS

# event kind codes (schemas.wire.EVENT_KINDS order)
LIKE, COMMENT, FOLLOW, UNFOLLOW, POST = 0, 1, 2, 3, 4

# float columns
WIN_START, WIN_ENG, WIN_FOL = 0, 1, 2
ENG_MEAN, ENG_VAR, FOL_MEAN, FOL_VAR = 3, 4, 5, 6
LAST_TS, PROFILE_TS = 7, 8
# spike flag state, one block per channel: engagement at ES, follows at FS.
# WIN is the latest flagged window (not learned into the baseline); EWIN is the window whose COUNT and
# BASE are the evidence (the strongest one).
ES, FS = 9, 16
SCORE, FIRST, LAST, COUNT, BASE, WIN, EWIN = 0, 1, 2, 3, 4, 5, 6
N_F = 23
F_DEFAULTS = np.array([np.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -np.inf, -np.inf,
                       0.0, np.nan, np.nan, 0.0, 0.0, np.nan, np.nan,
                       0.0, np.nan, np.nan, 0.0, 0.0, np.nan, np.nan])

# int columns
N_LIKE, N_COMMENT, N_FOLLOW, N_UNFOLLOW, N_POST, N_WINDOWS, FOLLOWERS, N_LATE = 0, 1, 2, 3, 4, 5, 6, 7
N_I = 8
I_DEFAULTS = np.array([0, 0, 0, 0, 0, 0, -1, 0], dtype=np.int64)

# params vector
P_WINDOW, P_ALPHA, P_WARMUP, P_MIN_COUNT, P_RATIO, P_Z = 0, 1, 2, 3, 4, 5
N_P = 6


@njit(**NJIT_OPTIONS)
def _learn(F: np.ndarray, mcol: int, vcol: int, a: int, x: float, alpha: float) -> None:
    d = x - F[mcol, a]
    F[mcol, a] += alpha * d
    F[vcol, a] = (1.0 - alpha) * (F[vcol, a] + alpha * d * d)


@njit(**NJIT_OPTIONS)
def _close_windows(F: np.ndarray, I: np.ndarray, a: int, k: int, alpha: float) -> None:
    """Close the current window of account ``a`` and ``k - 1`` empty windows after it.

    The caller moves ``WIN_START`` forward by ``k`` windows.
    """
    ws = F[WIN_START, a]
    if F[ES + WIN, a] != ws:  # flagged windows are not learned
        _learn(F, ENG_MEAN, ENG_VAR, a, F[WIN_ENG, a], alpha)
    if F[FS + WIN, a] != ws:
        _learn(F, FOL_MEAN, FOL_VAR, a, F[WIN_FOL, a], alpha)
    # empty windows decay the baseline; the loop is capped at 2000 windows (83 days of 1 h windows),
    # where the default half-life of 48 windows leaves a factor of ~3e-13, i.e. nothing
    for _ in range(min(k - 1, 2000)):
        _learn(F, ENG_MEAN, ENG_VAR, a, 0.0, alpha)
        _learn(F, FOL_MEAN, FOL_VAR, a, 0.0, alpha)
    I[N_WINDOWS, a] += k
    F[WIN_ENG, a] = 0.0
    F[WIN_FOL, a] = 0.0


@njit(**NJIT_OPTIONS)
def _check_spike(F: np.ndarray, I: np.ndarray, a: int, blk: int, count: float, mean: float, var: float,
                 ts: float, p: np.ndarray) -> bool:
    """Raise or strengthen the spike flag of block ``blk``; True when the flag is new."""
    if I[N_WINDOWS, a] < p[P_WARMUP] or count < p[P_MIN_COUNT]:
        return False
    ratio = count / (mean + 1.0)
    z = (count - mean) / math.sqrt(var + mean + 1.0)
    if ratio < p[P_RATIO] or z < p[P_Z]:
        return False
    sev = 0.5 + 0.5 * math.log(ratio / p[P_RATIO]) / math.log(10.0)
    if sev > 1.0:
        sev = 1.0
    new = math.isnan(F[blk + FIRST, a])
    if new:
        F[blk + FIRST, a] = ts
    F[blk + LAST, a] = max(F[blk + LAST, a], ts) if not new else ts
    if sev >= F[blk + SCORE, a] or count > F[blk + COUNT, a]:
        F[blk + SCORE, a] = max(sev, F[blk + SCORE, a])
        F[blk + COUNT, a] = count
        F[blk + BASE, a] = mean
        F[blk + EWIN, a] = F[WIN_START, a]
    F[blk + WIN, a] = F[WIN_START, a]
    return new


@njit(**NJIT_OPTIONS)
def claim(a: int, offset: int, chunk_off: np.ndarray, chunk_shift: int, dirty: np.ndarray) -> bool:
    """False when the state chunk of ``a`` was restored from a checkpoint that covers ``offset``."""
    c = a >> chunk_shift
    if offset <= chunk_off[c]:
        return False
    dirty[c] = True
    return True


@njit(**NJIT_OPTIONS)
def engagement_update(kind: np.ndarray, ts: np.ndarray, acct: np.ndarray, offset: np.ndarray,
                      keep: np.ndarray, F: np.ndarray, I: np.ndarray, chunk_off: np.ndarray,
                      chunk_shift: int, dirty: np.ndarray, p: np.ndarray, new_flag: np.ndarray) -> int:
    """Apply a batch of events in order. Returns the number of events applied.

    ``acct`` is the dense id of the event's target account. An update to account ``a`` is skipped when
    ``offset <= chunk_off[a >> chunk_shift]``: that state chunk was restored from a checkpoint which
    already covers the event (replay after a restart). ``new_flag[a]`` is set to 1 (engagement) or 2
    (follows) when a spike flag first appears on ``a`` in this batch.
    """
    window = p[P_WINDOW]
    alpha = p[P_ALPHA]
    applied = 0
    for i in range(kind.shape[0]):
        if not keep[i]:
            continue
        a = acct[i]
        if not claim(a, offset[i], chunk_off, chunk_shift, dirty):
            continue
        applied += 1
        t = ts[i]
        k = kind[i]
        if k == LIKE:
            I[N_LIKE, a] += 1
        elif k == COMMENT:
            I[N_COMMENT, a] += 1
        elif k == FOLLOW:
            I[N_FOLLOW, a] += 1
        elif k == UNFOLLOW:
            I[N_UNFOLLOW, a] += 1
        else:
            I[N_POST, a] += 1
        if t > F[LAST_TS, a]:
            F[LAST_TS, a] = t
        if k == UNFOLLOW or k == POST:
            continue
        ws = F[WIN_START, a]
        if math.isnan(ws):
            ws = math.floor(t / window) * window
            F[WIN_START, a] = ws
        elif t < ws:
            I[N_LATE, a] += 1
            continue
        elif t >= ws + window:
            # at least one: with a window_s not representable in binary the quotient can round below 1
            nwin = max(1, int(math.floor((t - ws) / window)))
            _close_windows(F, I, a, nwin, alpha)
            ws = ws + nwin * window
            F[WIN_START, a] = ws
        if k == FOLLOW:
            F[WIN_FOL, a] += 1.0
            if _check_spike(F, I, a, FS, F[WIN_FOL, a], F[FOL_MEAN, a], F[FOL_VAR, a], t, p):
                new_flag[a] |= 2
        else:
            F[WIN_ENG, a] += 1.0
            if _check_spike(F, I, a, ES, F[WIN_ENG, a], F[ENG_MEAN, a], F[ENG_VAR, a], t, p):
                new_flag[a] |= 1
    return applied


@njit(**NJIT_OPTIONS)
def profile_update(ts: np.ndarray, acct: np.ndarray, followers: np.ndarray, offset: np.ndarray,
                   F: np.ndarray, I: np.ndarray, chunk_off: np.ndarray, chunk_shift: int,
                   dirty: np.ndarray) -> int:
    """Keep each account's newest profile snapshot (by event time; ties: the later message wins)."""
    applied = 0
    for i in range(ts.shape[0]):
        a = acct[i]
        if not claim(a, offset[i], chunk_off, chunk_shift, dirty):
            continue
        applied += 1
        if ts[i] >= F[PROFILE_TS, a]:
            F[PROFILE_TS, a] = ts[i]
            I[FOLLOWERS, a] = followers[i]
    return applied
