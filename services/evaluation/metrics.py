"""Score a detector's verdicts against the labels of a simulated world.

Inputs are JSONL files, one object a line (blank lines are skipped); every loader raises
:class:`ValueError` naming the file and the line of the first bad input.

- ``events.jsonl``: :class:`schemas.wire.EngagementEvent`, in event-time order;
- ``profiles.jsonl`` (optional): :class:`schemas.wire.ProfileSnapshot`;
- ``labels.jsonl``: :class:`Label`, one line per (account, label); an account may have several;
- ``verdicts.jsonl``: :class:`Verdict`, at most one line per account;
- ``pods.jsonl`` (optional, :func:`load_pods`): :class:`schemas.wire.PodRecord`, the pod groups a detector found.

Semantics of :func:`evaluate`, for each fraud kind ``K`` in :data:`FRAUD_KINDS`:

- **positive for K**: an account with at least one label line of kind ``K``. Its *variant classes* are
  the ``class`` values of those lines; its *attack start* is the earliest non-null ``start_ts`` of them.
- **clean organic**: a labelled account whose every label line is kind ``organic`` with class
  ``organic``.
- **hard negative of class c**: a labelled account with no fraud label and an ``organic`` line of class
  ``c != "organic"``; an account with two such classes counts in both.
- **predicted K at threshold t**: the account's verdict has a flag of kind ``K`` with ``score >= t``.
  When a verdict holds several flags of kind ``K``, the account counts if any does, and its detection
  time is the earliest ``first_ts`` among those that count.
- ``tp``: predicted and positive; ``fp``: predicted and not positive for ``K`` (this includes accounts
  positive only for another kind and flagged accounts that have no label at all); ``fn``: positive and
  not predicted.
- ``precision = tp / (tp + fp)``, ``None`` when nothing is predicted; ``recall = tp / n_pos``, ``None``
  when there are no positives (never 0, which would read as a miss); ``f1 = 2 tp / (2 tp + fp + fn)``,
  which equals the harmonic mean of precision and recall when both exist, is 0 when one of them is 0 or
  missing while the other side has accounts, and is ``None`` only with neither positives nor predictions.
- ``fpr``: share of clean organic accounts predicted ``K`` (``None`` without clean organic accounts);
  unlabelled accounts never enter it. ``fpr_by_class[c]``: share of hard negatives of class ``c``
  predicted ``K``.
- ``recall_by_class[c]``: recall over the positives for ``K`` that have variant class ``c``;
  ``latency_p95_s_by_class[c]``: the latency p95 over its true positives (``None`` without one).
- latency of a true positive: its detection time minus its attack start, in event-time seconds. It is
  signed (a flag raised before the labelled start is negative, not clipped), and true positives whose
  labels give no ``start_ts`` are left out (``n_latency`` says how many were used). ``latency_p50_s``
  and ``latency_p95_s`` are nearest-rank percentiles (:func:`percentile_nearest_rank`), ``None`` when
  no true positive has a latency.
- ``thresholds``: for ``t`` in :data:`THRESHOLD_GRID`, precision and recall when only flags with
  ``score >= t`` count. The table always spans the whole grid, whatever the ``threshold`` argument,
  which applies to every other figure.

Semantics of :func:`evaluate_pods` (pod *groups*, beside the per-account figures of :func:`evaluate`):

- **true group**: the accounts of the ``pod`` label lines sharing one ``group`` (an account in two pods has
  two lines, so it is in two groups); its class is the ``class`` of its first line. Pod lines without a
  ``group`` are members of no true group (they still get a latency).
- **found pod**: the last record of each ``pod_id`` in the pods file (later records replace earlier ones, as
  on the compacted ``pods`` topic) that is ``active``; superseded records are left out of every figure.
- **Jaccard** of a found pod with a true group: ``|members & group| / |members | group|``. Each found pod's
  *best match* is the true group of highest Jaccard (ties: the group name first in sort order); ``None`` and
  0 when it shares no account with any true group.
- ``share_jaccard_ge_0_9``: found pods whose best Jaccard is at least :data:`POD_MATCH_JACCARD` (0.9) over
  the found pods, ``None`` without found pods; ``jaccard_min`` / ``jaccard_median`` (nearest-rank p50) over
  the found pods' best Jaccards; ``true_matched``: true groups with a Jaccard of at least 0.9 with some
  found pod; ``spurious``: found pods whose best Jaccard is below :data:`POD_SPURIOUS_JACCARD` (0.5).
- **latency** of a true pod member (an account with a ``pod`` line) that is in a found pod: the earliest
  ``member_stats[].first_ts`` given for it by the found pods it is in (the pod's ``first_ts`` when a pod gives
  no stats for it), minus the ``start_ts`` of its pod line with the earliest start (ties: the group name
  first). In hours, and in posting rounds: divided by that line's ``round_s`` (lines without ``round_s``
  give no latency in rounds). Signed, like :func:`evaluate`'s; ``p50``/``p95`` are nearest-rank percentiles.
- ``by_class[c]``: the same counts over true groups of class ``c``; a member's latency goes to the class of
  the line it is measured from.

Example
-------
>>> labels = [Label.model_validate({"account_id": "a", "kind": "bot", "class": "naive", "role": "bot",
...                                 "start_ts": 100.0})]
>>> verdicts = [Verdict.model_validate({"account_id": "a", "authenticity": 10, "flags": [
...     {"kind": "bot", "score": 0.9, "first_ts": 160.0, "reasons": ["r"], "evidence": {}}]})]
>>> to_json_summary(evaluate(labels, verdicts))["bot"]
{'precision': 1.0, 'recall': 1.0, 'f1': 1.0, 'fpr': None, 'latency_p50_s': 60.0, 'latency_p95_s': 60.0}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from schemas.wire import MAX_ID_LEN, EngagementEvent, EpochSeconds, PodRecord, ProfileSnapshot, int_as_float

FraudKind = Literal["pod", "bot", "purchased_engagement", "purchased_followers"]
LabelKind = Literal["pod", "bot", "purchased_engagement", "purchased_followers", "organic"]

#: The kinds of fraud scored, in report order.
FRAUD_KINDS: tuple[FraudKind, ...] = ("pod", "bot", "purchased_engagement", "purchased_followers")
#: ``class`` of a plain organic account; any other class on an ``organic`` label is a hard negative.
ORGANIC_CLASS = "organic"
#: Score thresholds of the calibration table (rounded so that 0.3 is the float ``0.3``, not 0.30000000000000004).
THRESHOLD_GRID: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(10))
#: Keys of each kind in :func:`to_json_summary`, in order.
SUMMARY_KEYS: tuple[str, ...] = ("precision", "recall", "f1", "fpr", "latency_p50_s", "latency_p95_s")
#: A found pod *matches* a true group when their Jaccard is at least this.
POD_MATCH_JACCARD = 0.9
#: A found pod is *spurious* when its best Jaccard with any true group is below this.
POD_SPURIOUS_JACCARD = 0.5


UnitScore = Annotated[float, BeforeValidator(int_as_float), Field(ge=0.0, le=1.0)]
Authenticity = Annotated[float, BeforeValidator(int_as_float), Field(ge=0.0, le=100.0)]


class _Record(BaseModel):
    # Same stance as the wire contract: unknown fields ignored, no coercion from strings.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class Label(_Record):
    """One label line: ``account_id`` has label ``kind`` with variant ``class`` (``cls`` in Python).

    ``role`` is carried for reports; ``group`` (a pod's id) defines the true groups of
    :func:`evaluate_pods`. ``start_ts`` is the attack start for fraud kinds, the origin of detection latency.
    ``round_s`` (pod members) is the pod's posting round in seconds, the unit of :func:`evaluate_pods`'
    latency in rounds.
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    account_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    kind: LabelKind
    cls: str = Field(alias="class", min_length=1, max_length=MAX_ID_LEN)
    role: str = Field(max_length=MAX_ID_LEN)
    group: str | None = Field(default=None, max_length=MAX_ID_LEN)
    start_ts: EpochSeconds | None = None
    end_ts: EpochSeconds | None = None
    round_s: Annotated[float, BeforeValidator(int_as_float), Field(gt=0.0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Label:
        if self.start_ts is not None and self.end_ts is not None and self.end_ts < self.start_ts:
            raise ValueError("end_ts is before start_ts")
        return self


class VerdictFlag(_Record):
    """One flag of a verdict; ``first_ts`` is the event time at which the detector first raised it."""

    kind: FraudKind
    score: UnitScore
    first_ts: EpochSeconds
    reasons: list[str]
    evidence: dict[str, Any]


class Verdict(_Record):
    """What a detector says about one account: an authenticity score (0..100) and its flags."""

    account_id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    authenticity: Authenticity
    flags: list[VerdictFlag]


class ThresholdRow(TypedDict):
    """One row of the calibration table: figures when only flags with ``score >= threshold`` count."""

    threshold: float
    precision: float | None
    recall: float | None
    tp: int
    fp: int


class KindMetrics(TypedDict):
    """Every figure :func:`evaluate` gives for one fraud kind (see the module docstring)."""

    precision: float | None
    recall: float | None
    f1: float | None
    fpr: float | None
    n_organic: int
    fpr_by_class: dict[str, float]
    n_by_hard_negative_class: dict[str, int]
    tp: int
    fp: int
    fn: int
    n_pos: int
    n_pred: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    n_latency: int
    recall_by_class: dict[str, float]
    n_pos_by_class: dict[str, int]
    latency_p95_s_by_class: dict[str, float | None]
    thresholds: list[ThresholdRow]


#: The output of :func:`evaluate`: one :class:`KindMetrics` per fraud kind.
Evaluation = dict[str, KindMetrics]


class FoundPodMatch(TypedDict):
    """One found pod of :func:`evaluate_pods` and the true group it matches best."""

    pod_id: str
    size: int
    first_ts: float
    best_group: str | None
    best_class: str | None
    jaccard: float


class PodClassMetrics(TypedDict):
    """:func:`evaluate_pods` figures over the true groups of one pod class."""

    n_true: int
    true_matched: int
    n_found: int
    n_members: int
    n_members_found: int
    n_latency_rounds: int
    latency_p50_rounds: float | None
    latency_p95_rounds: float | None


class PodGroupMetrics(TypedDict):
    """Every figure :func:`evaluate_pods` gives (see the module docstring)."""

    n_true: int
    n_found: int
    n_inactive: int
    found: list[FoundPodMatch]
    share_jaccard_ge_0_9: float | None
    jaccard_min: float | None
    jaccard_median: float | None
    true_matched: int
    spurious: int
    n_members: int
    n_members_found: int
    n_latency: int
    latency_p50_h: float | None
    latency_p95_h: float | None
    n_latency_rounds: int
    latency_p50_rounds: float | None
    latency_p95_rounds: float | None
    by_class: dict[str, PodClassMetrics]

_M = TypeVar("_M", bound=BaseModel)


# --- loading ------------------------------------------------------------------------------------

def _error_text(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    return "; ".join(parts)


def _read_jsonl(path: str | Path, model: type[_M]) -> Iterator[tuple[int, _M]]:
    """Yield ``(line number, record)``; raise ValueError ``"<path>:<line>: <what is wrong>"``."""
    with Path(path).open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield n, model.model_validate_json(raw)
            except ValidationError as e:
                raise ValueError(f"{path}:{n}: {_error_text(e)}") from None


def iter_events(path: str | Path) -> Iterator[EngagementEvent]:
    """Stream the events of ``path``, checking that event time never goes backwards.

    Raises
    ------
    ValueError
        On the first line that is not a valid event or whose ``ts`` is before the previous event's.
    """
    last = -math.inf
    for n, ev in _read_jsonl(path, EngagementEvent):
        if ev.ts < last:
            raise ValueError(f"{path}:{n}: ts {ev.ts} is before the previous event's {last}; "
                             "events must be in event-time order")
        last = ev.ts
        yield ev


def load_profiles(path: str | Path) -> list[ProfileSnapshot]:
    """All profile snapshots of ``path``, in file order (ValueError naming file and line on bad input)."""
    return [p for _, p in _read_jsonl(path, ProfileSnapshot)]


def load_labels(path: str | Path) -> list[Label]:
    """All label lines of ``path`` (ValueError naming file and line on bad input)."""
    return [lab for _, lab in _read_jsonl(path, Label)]


def load_verdicts(path: str | Path) -> list[Verdict]:
    """All verdicts of ``path``; an account appearing on two lines is an error.

    Raises
    ------
    ValueError
        On the first invalid line, or the second line of an account.
    """
    seen: dict[str, int] = {}
    out = []
    for n, v in _read_jsonl(path, Verdict):
        if v.account_id in seen:
            raise ValueError(f"{path}:{n}: account {v.account_id!r} already has a verdict on line "
                             f"{seen[v.account_id]}")
        seen[v.account_id] = n
        out.append(v)
    return out


def load_pods(path: str | Path) -> list[PodRecord]:
    """All pod records of ``path``, in file order; ``[]`` when the file does not exist.

    Raises
    ------
    ValueError
        ``"<path>:<line>: <what is wrong>"`` on the first line that is not a valid :class:`PodRecord`.
    """
    if not Path(path).exists():
        return []
    return [p for _, p in _read_jsonl(path, PodRecord)]


def write_verdicts(path: str | Path, verdicts: Iterable[Verdict]) -> int:
    """Write ``verdicts`` as JSONL in the format :func:`load_verdicts` reads; return the line count."""
    n = 0
    with Path(path).open("wb") as f:
        for v in verdicts:
            f.write(orjson.dumps(v.model_dump(mode="json")) + b"\n")
            n += 1
    return n


# --- metrics ------------------------------------------------------------------------------------

def percentile_nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile by the nearest-rank method: the ``ceil(p/100 * n)``-th smallest value.

    Always one of the values (no interpolation); ``None`` for no values.

    >>> percentile_nearest_rank([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    >>> percentile_nearest_rank(list(map(float, range(1, 21))), 95)
    19.0
    """
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return None
    ordered = sorted(values)
    # the float product can land a hair above an integer (e.g. 0.95 * 20 = 19.000000000000004)
    rank = max(1, math.ceil(round(p / 100 * len(ordered), 9)))
    return ordered[rank - 1]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


class _Truth:
    """Labels grouped per account, in the shape the metrics need."""

    def __init__(self, labels: Iterable[Label]) -> None:
        by_account: dict[str, list[Label]] = defaultdict(list)
        for lab in labels:
            by_account[lab.account_id].append(lab)
        self.positives: dict[str, set[str]] = {k: set() for k in FRAUD_KINDS}
        self.classes: dict[str, dict[str, set[str]]] = {k: {} for k in FRAUD_KINDS}
        self.start: dict[str, dict[str, float]] = {k: {} for k in FRAUD_KINDS}
        self.clean_organic: set[str] = set()
        self.hard_negatives: dict[str, set[str]] = defaultdict(set)
        for acc, labs in by_account.items():
            fraud = [lab for lab in labs if lab.kind != "organic"]
            for lab in fraud:
                self.positives[lab.kind].add(acc)
                self.classes[lab.kind].setdefault(acc, set()).add(lab.cls)
                if lab.start_ts is not None:
                    prev = self.start[lab.kind].get(acc)
                    self.start[lab.kind][acc] = lab.start_ts if prev is None else min(prev, lab.start_ts)
            if fraud:
                continue
            hard = {lab.cls for lab in labs if lab.cls != ORGANIC_CLASS}
            if hard:
                for c in hard:
                    self.hard_negatives[c].add(acc)
            else:
                self.clean_organic.add(acc)


def _flags_by_kind(verdicts: Iterable[Verdict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """kind -> account -> [(score, first_ts)], refusing a second verdict for the same account."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {k: {} for k in FRAUD_KINDS}
    seen: set[str] = set()
    for v in verdicts:
        if v.account_id in seen:
            raise ValueError(f"account {v.account_id!r} has more than one verdict")
        seen.add(v.account_id)
        for f in v.flags:
            out[f.kind].setdefault(v.account_id, []).append((f.score, f.first_ts))
    return out


def _predicted(flags: Mapping[str, list[tuple[float, float]]], t: float) -> dict[str, float]:
    """Accounts with a flag scoring at least ``t``, with the earliest ``first_ts`` of those flags."""
    out = {}
    for acc, fl in flags.items():
        times = [ts for score, ts in fl if score >= t]
        if times:
            out[acc] = min(times)
    return out


def _kind_metrics(truth: _Truth, kind: str, flags: Mapping[str, list[tuple[float, float]]],
                  threshold: float) -> KindMetrics:
    pos = truth.positives[kind]
    pred = _predicted(flags, threshold)
    tp_accounts = pos.intersection(pred)
    tp, fp, fn = len(tp_accounts), len(pred) - len(tp_accounts), len(pos) - len(tp_accounts)
    den_f1 = 2 * tp + fp + fn

    starts = truth.start[kind]
    latencies = [pred[a] - starts[a] for a in tp_accounts if a in starts]

    n_pos_by_class: dict[str, int] = defaultdict(int)
    tp_by_class: dict[str, int] = defaultdict(int)
    latency_by_class: dict[str, list[float]] = defaultdict(list)
    for acc, classes in truth.classes[kind].items():
        for c in classes:
            n_pos_by_class[c] += 1
            tp_by_class[c] += acc in pred
            if acc in pred and acc in starts:
                latency_by_class[c].append(pred[acc] - starts[acc])

    thresholds: list[ThresholdRow] = []
    for t in THRESHOLD_GRID:
        p_t = _predicted(flags, t)
        tp_t = len(pos.intersection(p_t))
        thresholds.append({"threshold": t, "precision": _ratio(tp_t, len(p_t)), "recall": _ratio(tp_t, len(pos)),
                           "tp": tp_t, "fp": len(p_t) - tp_t})

    return {
        "precision": _ratio(tp, len(pred)),
        "recall": _ratio(tp, len(pos)),
        "f1": _ratio(2 * tp, den_f1),
        "fpr": _ratio(len(truth.clean_organic.intersection(pred)), len(truth.clean_organic)),
        "n_organic": len(truth.clean_organic),
        "fpr_by_class": {c: len(accs.intersection(pred)) / len(accs)
                         for c, accs in sorted(truth.hard_negatives.items())},
        "n_by_hard_negative_class": {c: len(accs) for c, accs in sorted(truth.hard_negatives.items())},
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_pos": len(pos),
        "n_pred": len(pred),
        "latency_p50_s": percentile_nearest_rank(latencies, 50),
        "latency_p95_s": percentile_nearest_rank(latencies, 95),
        "n_latency": len(latencies),
        "recall_by_class": {c: tp_by_class[c] / n for c, n in sorted(n_pos_by_class.items())},
        "n_pos_by_class": dict(sorted(n_pos_by_class.items())),
        "latency_p95_s_by_class": {c: percentile_nearest_rank(latency_by_class[c], 95)
                                   for c in sorted(n_pos_by_class)},
        "thresholds": thresholds,
    }


def evaluate(labels: Iterable[Label], verdicts: Iterable[Verdict], threshold: float = 0.0) -> Evaluation:
    """Score ``verdicts`` against ``labels``, one :class:`KindMetrics` per kind of :data:`FRAUD_KINDS`.

    Parameters
    ----------
    labels
        Label lines; an account may have several (several kinds, or a kind and its classes).
    verdicts
        At most one verdict per account. Accounts without a verdict are not flagged.
    threshold
        A flag counts only if its ``score >= threshold`` (the calibration table ignores this).

    Returns
    -------
    Evaluation
        ``{kind: KindMetrics}`` for every fraud kind, also those with no positives and no flags.

    Raises
    ------
    ValueError
        If ``threshold`` is outside [0, 1] or an account has two verdicts.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    truth = _Truth(labels)
    flags = _flags_by_kind(verdicts)
    return {k: _kind_metrics(truth, k, flags[k], threshold) for k in FRAUD_KINDS}


def evaluate_files(labels_path: str | Path, verdicts_path: str | Path, threshold: float = 0.0) -> Evaluation:
    """:func:`evaluate` on a ``labels.jsonl`` and a ``verdicts.jsonl``."""
    return evaluate(load_labels(labels_path), load_verdicts(verdicts_path), threshold)


def _jaccard(a: set[str], b: set[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def evaluate_pods(labels: Iterable[Label], pods: Iterable[PodRecord]) -> PodGroupMetrics:
    """Score the pod groups a detector found against the labelled pods (see the module docstring).

    Parameters
    ----------
    labels
        Label lines; only those of kind ``pod`` are used.
    pods
        Pod records in publication order; the last record of a ``pod_id`` is its state.

    Returns
    -------
    PodGroupMetrics
        Group counts, each active found pod with its best-matching true group and Jaccard, the Jaccard
        summary, latency in hours and posting rounds, and the counts per pod class.
    """
    groups: dict[str, set[str]] = defaultdict(set)
    group_class: dict[str, str] = {}
    origin: dict[str, Label] = {}  # member -> its pod line with the earliest start
    for lab in labels:
        if lab.kind != "pod":
            continue
        if lab.group is not None:
            groups[lab.group].add(lab.account_id)
            group_class.setdefault(lab.group, lab.cls)
        prev = origin.get(lab.account_id)
        if prev is None or _earlier(lab, prev):
            origin[lab.account_id] = lab

    last: dict[str, PodRecord] = {}
    for pod in pods:
        last.pop(pod.pod_id, None)  # keep the order of the latest records
        last[pod.pod_id] = pod
    active = [p for p in last.values() if p.active]

    found: list[FoundPodMatch] = []
    matched: set[str] = set()
    for pod in active:
        members = set(pod.members)
        best_group, best_j = None, 0.0
        for g in sorted(groups):
            j = _jaccard(members, groups[g])
            if j >= POD_MATCH_JACCARD:
                matched.add(g)
            if j > best_j:
                best_group, best_j = g, j
        found.append({"pod_id": pod.pod_id, "size": len(members), "first_ts": pod.first_ts,
                      "best_group": best_group, "best_class": None if best_group is None else group_class[best_group],
                      "jaccard": best_j})
    jaccards = [f["jaccard"] for f in found]

    detected: dict[str, float] = {}  # account -> earliest time a found pod gives for it
    for pod in active:
        stats = {m.account_id: m.first_ts for m in pod.member_stats}
        for acc in pod.members:
            t = stats.get(acc, pod.first_ts)
            detected[acc] = min(t, detected.get(acc, t))
    hours: list[float] = []
    rounds: dict[str, list[float]] = defaultdict(list)  # class -> latencies in rounds
    for acc, lab in origin.items():
        if acc not in detected or lab.start_ts is None:
            continue
        latency = detected[acc] - lab.start_ts
        hours.append(latency / 3_600)
        if lab.round_s is not None:
            rounds[lab.cls].append(latency / lab.round_s)
    all_rounds = [r for rs in rounds.values() for r in rs]

    classes = sorted({*group_class.values(), *(lab.cls for lab in origin.values())})
    by_class: dict[str, PodClassMetrics] = {}
    for c in classes:
        gs = [g for g, gc in group_class.items() if gc == c]
        members_c = set().union(*(groups[g] for g in gs)) if gs else set()
        by_class[c] = {
            "n_true": len(gs),
            "true_matched": sum(g in matched for g in gs),
            "n_found": sum(f["best_class"] == c for f in found),
            "n_members": len(members_c),
            "n_members_found": len(members_c & detected.keys()),
            "n_latency_rounds": len(rounds[c]),
            "latency_p50_rounds": percentile_nearest_rank(rounds[c], 50),
            "latency_p95_rounds": percentile_nearest_rank(rounds[c], 95),
        }

    return {
        "n_true": len(groups),
        "n_found": len(active),
        "n_inactive": len(last) - len(active),
        "found": found,
        "share_jaccard_ge_0_9": _ratio(sum(j >= POD_MATCH_JACCARD for j in jaccards), len(found)),
        "jaccard_min": min(jaccards) if jaccards else None,
        "jaccard_median": percentile_nearest_rank(jaccards, 50),
        "true_matched": len(matched),
        "spurious": sum(j < POD_SPURIOUS_JACCARD for j in jaccards),
        "n_members": len(origin),
        "n_members_found": len(origin.keys() & detected.keys()),
        "n_latency": len(hours),
        "latency_p50_h": percentile_nearest_rank(hours, 50),
        "latency_p95_h": percentile_nearest_rank(hours, 95),
        "n_latency_rounds": len(all_rounds),
        "latency_p50_rounds": percentile_nearest_rank(all_rounds, 50),
        "latency_p95_rounds": percentile_nearest_rank(all_rounds, 95),
        "by_class": by_class,
    }


def _earlier(a: Label, b: Label) -> bool:
    """Whether pod line ``a`` is the latency origin rather than ``b``: earlier start (a start beats none),
    then the group name first."""
    ka = (a.start_ts is None, a.start_ts or 0.0, a.group or "")
    kb = (b.start_ts is None, b.start_ts or 0.0, b.group or "")
    return ka < kb


def evaluate_pods_files(labels_path: str | Path, pods_path: str | Path) -> PodGroupMetrics:
    """:func:`evaluate_pods` on a ``labels.jsonl`` and a ``pods.jsonl`` (a missing pods file finds nothing)."""
    return evaluate_pods(load_labels(labels_path), load_pods(pods_path))


def to_json_summary(result: Mapping[str, KindMetrics]) -> dict[str, dict[str, float | None]]:
    """The headline figures: exactly ``{kind: {precision, recall, f1, fpr, latency_p50_s, latency_p95_s}}``."""
    return {kind: {
        "precision": m["precision"],
        "recall": m["recall"],
        "f1": m["f1"],
        "fpr": m["fpr"],
        "latency_p50_s": m["latency_p50_s"],
        "latency_p95_s": m["latency_p95_s"],
    } for kind, m in result.items()}


#: Alert thresholds of the authenticity calibration: an account alerts when its authenticity is below ``t``.
AUTHENTICITY_GRID: tuple[int, ...] = tuple(range(10, 101, 10))
#: Label kinds that make a creator inauthentic (bots are actors, not creators).
CREATOR_FRAUD: tuple[str, ...] = ("pod", "purchased_engagement", "purchased_followers")
#: Label roles of creators (an actor's label has role ``actor``).
CREATOR_ROLES: tuple[str, ...] = ("creator", "member", "buyer")


class AuthenticityRow(TypedDict):
    """Figures over creators when those with authenticity below ``threshold`` alert."""

    threshold: int
    tp: int
    fp: int
    fn: int
    fp_organic: int
    fp_hard: int
    n_pos: int
    n_organic: int
    n_hard: int


def evaluate_authenticity(labels: Iterable[Label], verdicts: Iterable[Verdict]) -> list[AuthenticityRow]:
    """The calibration of the authenticity score over the *creators* of the labels (lines of a role in
    :data:`CREATOR_ROLES`): for each threshold ``t`` of :data:`AUTHENTICITY_GRID`, a creator *alerts* when its
    verdict's authenticity is below ``t`` (no verdict: 100). Positive: a creator with a label of a kind in
    :data:`CREATOR_FRAUD`; ``fp_organic`` counts clean organic creators that alert, ``fp_hard`` hard-negative ones
    (viral, giveaway, featured, friend circles, fast growers). Counts, so that scenarios can be pooled."""
    by_account: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        by_account[lab.account_id].append(lab)
    score = {v.account_id: v.authenticity for v in verdicts}
    pos, organic, hard = set(), set(), set()
    for acc, labs in by_account.items():
        if not any(lab.role in CREATOR_ROLES for lab in labs):
            continue
        if any(lab.kind in CREATOR_FRAUD for lab in labs):
            pos.add(acc)
        elif all(lab.kind == "organic" and lab.cls == ORGANIC_CLASS for lab in labs):
            organic.add(acc)
        elif all(lab.kind == "organic" for lab in labs):
            hard.add(acc)
    rows: list[AuthenticityRow] = []
    for t in AUTHENTICITY_GRID:
        alert = {a for a in pos | organic | hard if score.get(a, 100.0) < t}
        tp = len(alert & pos)
        rows.append({"threshold": t, "tp": tp, "fp": len(alert - pos), "fn": len(pos) - tp,
                     "fp_organic": len(alert & organic), "fp_hard": len(alert & hard), "n_pos": len(pos),
                     "n_organic": len(organic), "n_hard": len(hard)})
    return rows
