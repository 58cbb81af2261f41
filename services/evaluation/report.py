"""A Markdown report comparing systems (detectors, baselines) on the same labelled scenarios.

The input is ``{system: {scenario: evaluate() output}}`` (:func:`services.evaluation.metrics.evaluate`,
or the same structure loaded back from JSON). A figure that does not exist (no positives, no predictions,
no true positive with a start time), and a system, scenario or kind with no result at all, show as
``n/a``: a miss is never left out of a table.

Pod groups: an entry named ``"<system> pods"`` (:data:`POD_GROUPS_SUFFIX`) holds
``{scenario: evaluate_pods() output}`` (:func:`services.evaluation.metrics.evaluate_pods`) for ``<system>``.
It is not a system of its own: it feeds the "Pods" section, where every scenario with pod labels gets the
member figures of every system and the group figures of the systems that have them, each checked against
the targets of :data:`POD_TARGETS`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from services.evaluation.metrics import FRAUD_KINDS, ORGANIC_CLASS, POD_MATCH_JACCARD, THRESHOLD_GRID

#: Text shown for a missing figure.
NA = "n/a"
#: Suffix of the result entry holding a system's pod groups (:func:`~services.evaluation.metrics.evaluate_pods`).
POD_GROUPS_SUFFIX = " pods"
#: The hard-negative class of real friends engaging each other, held to its own FPR target.
FRIEND_CIRCLE = "friend_circle"
#: Pod targets, figure -> (comparison, bound): member F1, recall on the hard variants, FPR on friend circles
#: and on every other organic account, share and minimum of the found pods' Jaccard with their true pod,
#: and p95 detection latency in posting rounds.
POD_TARGETS: dict[str, tuple[Literal[">=", "<="], float]] = {
    "f1": (">=", 0.95),
    "recall_loose": (">=", 0.85),
    "recall_camouflaged": (">=", 0.85),
    "fpr_friend_circle": ("<=", 0.01),
    "fpr_other_organic": ("<=", 0.002),
    "share_jaccard_ge_0_9": (">=", 1.0),
    "jaccard_min": (">=", POD_MATCH_JACCARD),
    "latency_p95_rounds": ("<=", 3.0),
}

#: Bot targets (issue: bots and fake audiences): F1 overall and on the sophisticated bots, FPR among organic
#: actors (the people of the audiences, class ``liker``) and among heavy human likers and night owls.
BOT_TARGETS: dict[str, tuple[Literal[">=", "<="], float]] = {
    "f1": (">=", 0.95),
    "f1_sophisticated": (">=", 0.85),
    "fpr_liker": ("<=", 0.005),
    "fpr_heavy_liker": ("<=", 0.01),
    "fpr_night_owl": ("<=", 0.01),
}

#: Suffix of the result entry holding a system's authenticity calibration
#: (:func:`~services.evaluation.metrics.evaluate_authenticity`).
AUTHENTICITY_SUFFIX = " authenticity"
#: Purchase targets (issue: purchased engagement and followers), for ``purchased_engagement`` and
#: ``purchased_followers`` alike: recall, FPR on organic creators and on each of the viral, giveaway and
#: featured-creator hard negatives, and p95 detection latency in event-time seconds for bursts and drip-feeds.
PURCHASE_TARGETS: dict[str, tuple[Literal[">=", "<="], float]] = {
    "recall": (">=", 0.95),
    "fpr": ("<=", 0.005),
    "fpr_hard": ("<=", 0.02),
    "latency_burst": ("<=", 600.0),
    "latency_drip": ("<=", 86_400.0),
}
#: The hard negatives the purchase FPR target names.
PURCHASE_HARD = ("viral", "giveaway", "featured")

#: ``{system: {scenario: {kind: figures}}}``, and ``{"<system> pods": {scenario: pod-group figures}}``.
Results = Mapping[str, Mapping[str, Mapping[str, Any]]]

_EMPTY: Mapping[str, Any] = {}


def _cell(text: str) -> str:
    # a pipe inside a name would split the Markdown table cell
    return text.replace("|", "\\|")


def _ratio(v: Any) -> str:
    return NA if v is None else f"{float(v):.3f}"


def _minutes(seconds: Any) -> str:
    return NA if seconds is None else f"{float(seconds) / 60:.1f}"


def _count(v: Any) -> str:
    return NA if v is None else str(int(v))


def _percent(v: Any) -> str:
    return NA if v is None else f"{100 * float(v):.2f}%"


def _plain(v: Any) -> str:
    return NA if v is None else f"{float(v):.2f}"


def pod_groups_key(system: str) -> str:
    """Name of the result entry holding ``system``'s pod groups."""
    return system + POD_GROUPS_SUFFIX


def authenticity_key(system: str) -> str:
    """Name of the result entry holding ``system``'s authenticity calibration."""
    return system + AUTHENTICITY_SUFFIX


def _checked(figure: str, v: Any, fmt: Callable[[Any], str],
             targets: Mapping[str, tuple[Literal[">=", "<="], float]] = POD_TARGETS) -> str:
    """``v`` formatted and marked against ``targets`` (:data:`POD_TARGETS` unless given): ``"0.970 ✓"``,
    ``"0.800 ✗ (target >= 0.850)"``.

    A figure that does not exist is ``n/a``, unmarked: the target cannot be checked on that scenario.
    """
    if v is None:
        return NA
    op, bound = targets[figure]
    ok = float(v) >= bound if op == ">=" else float(v) <= bound
    return f"{fmt(v)} ✓" if ok else f"{fmt(v)} ✗ (target {op} {fmt(bound)})"


def _fpr_other_organic(m: Mapping[str, Any]) -> float | None:
    """Share of organic accounts other than friend circles flagged: plain organic and every other
    hard-negative class pooled (an account of two such classes counts twice)."""
    n_org = m.get("n_organic")
    if n_org is None:
        return None
    flagged = (m.get("fpr") or 0.0) * n_org
    n = n_org
    sizes: Mapping[str, int] = m.get("n_by_hard_negative_class") or {}
    for cls, rate in (m.get("fpr_by_class") or {}).items():
        if cls not in (FRIEND_CIRCLE, ORGANIC_CLASS):
            flagged += rate * sizes.get(cls, 0)
            n += sizes.get(cls, 0)
    return round(flagged) / n if n else None


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _worst_hard_negative(m: Mapping[str, Any]) -> str:
    by_class: Mapping[str, float] = m.get("fpr_by_class") or {}
    if not by_class:
        return NA
    # highest rate; ties go to the class name first in alphabetical order, so the report is stable
    cls, rate = min(by_class.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{rate:.3f} ({cls})"


def _threshold_row(m: Mapping[str, Any], t: float) -> Mapping[str, Any]:
    for row in m.get("thresholds") or ():
        if abs(float(row["threshold"]) - t) < 1e-9:
            return dict(row)
    return _EMPTY


def render_markdown(results: Results) -> str:
    """Render ``{system: {scenario: evaluate() output}}`` as Markdown.

    Four parts: per fraud kind and scenario, the headline figures with the systems side by side
    (precision, recall, F1, FPR on organic accounts, the worst hard-negative FPR with its class, latency
    p50/p95 in event-time minutes, TP/FP/FN); per scenario, the FPR of every hard-negative class for
    every kind and system; per kind and system, the calibration table (precision and recall when only
    flags scoring at least each threshold count) over the scenarios; and, when some scenario has pod
    labels, the Pods section (:func:`_pods_section`).

    Parameters
    ----------
    results
        System name -> scenario name -> kind -> figures, as :func:`~services.evaluation.metrics.evaluate`
        gives them. Every system, scenario and kind present anywhere appears in every table. Entries named
        ``"<system> pods"`` hold pod groups instead (see the module docstring).

    Returns
    -------
    str
        The report, ending with a newline.
    """
    pod_groups = {name[: -len(POD_GROUPS_SUFFIX)]: per_sc for name, per_sc in results.items()
                  if name.endswith(POD_GROUPS_SUFFIX)}
    calibration = {name[: -len(AUTHENTICITY_SUFFIX)]: per_sc for name, per_sc in results.items()
                   if name.endswith(AUTHENTICITY_SUFFIX)}
    results = {name: per_sc for name, per_sc in results.items()
               if not name.endswith(POD_GROUPS_SUFFIX) and not name.endswith(AUTHENTICITY_SUFFIX)}
    systems = list(results)
    scenarios = _unique(sc for per_sys in results.values() for sc in per_sys)
    kinds = _unique([*FRAUD_KINDS, *(k for per_sys in results.values() for ev in per_sys.values() for k in ev)])

    def get(system: str, scenario: str, kind: str) -> Mapping[str, Any]:
        per_scenario = results.get(system)
        per_kind = per_scenario.get(scenario) if per_scenario is not None else None
        figures: Mapping[str, Any] | None = per_kind.get(kind) if per_kind is not None else None
        return figures if figures is not None else _EMPTY

    out = ["# Detection evaluation", "",
           f"Systems: {', '.join(systems) or NA}. Scenarios: {', '.join(scenarios) or NA}.", "",
           f"`{NA}` marks a figure that does not exist (recall without positives, precision without "
           "predictions, latency without a timed true positive) or a result that is missing. FPR organic is "
           "the share of plain organic accounts flagged; hard negatives are organic accounts that look "
           "unusual (viral, giveaway, ...). Latency is event time from the labelled attack start to the "
           "flag, in minutes, nearest-rank percentiles over true positives.", ""]

    for kind in kinds:
        out += [f"## {kind}", ""]
        for sc in scenarios:
            cols = [(s, get(s, sc, kind)) for s in systems]
            rows = [
                ["precision", *(_ratio(m.get("precision")) for _, m in cols)],
                ["recall", *(_ratio(m.get("recall")) for _, m in cols)],
                ["F1", *(_ratio(m.get("f1")) for _, m in cols)],
                ["FPR organic", *(_ratio(m.get("fpr")) for _, m in cols)],
                ["worst hard-negative FPR", *(_worst_hard_negative(m) for _, m in cols)],
                ["latency p50 (min)", *(_minutes(m.get("latency_p50_s")) for _, m in cols)],
                ["latency p95 (min)", *(_minutes(m.get("latency_p95_s")) for _, m in cols)],
                ["TP / FP / FN", *(f"{_count(m.get('tp'))} / {_count(m.get('fp'))} / {_count(m.get('fn'))}"
                                   for _, m in cols)],
                ["positives", *(_count(m.get("n_pos")) for _, m in cols)],
            ]
            out += [f"### {kind}: scenario {sc}", ""] + _table(["", *systems], rows)

    out += ["## Hard negatives: FPR by class", ""]
    for sc in scenarios:
        rows = []
        for kind in kinds:
            classes = sorted({c for s in systems for c in (get(s, sc, kind).get("fpr_by_class") or {})})
            for c in classes:
                sizes = [get(s, sc, kind).get("n_by_hard_negative_class", _EMPTY).get(c) for s in systems]
                size = next((n for n in sizes if n is not None), None)
                rows.append([kind, c, _count(size),
                             *(_ratio((get(s, sc, kind).get("fpr_by_class") or {}).get(c)) for s in systems)])
        out += [f"### scenario {sc}", ""]
        out += _table(["kind", "class", "accounts", *systems], rows) if rows else [
            f"No hard-negative accounts in the labels ({NA}).", ""]

    out += ["## Calibration: precision and recall by score threshold", ""]
    for kind in kinds:
        for s in systems:
            header = ["threshold"]
            for sc in scenarios:
                header += [f"precision ({sc})", f"recall ({sc})"]
            rows = []
            for t in THRESHOLD_GRID:
                row = [f"{t:.1f}"]
                for sc in scenarios:
                    r = _threshold_row(get(s, sc, kind), t)
                    row += [_ratio(r.get("precision")), _ratio(r.get("recall"))]
                rows.append(row)
            out += [f"### {kind}: {s}", ""] + _table(header, rows)

    out += _pods_section(systems, scenarios, get, pod_groups)
    out += _bots_section(systems, scenarios, get)
    out += _purchases_section(systems, scenarios, get)
    out += _authenticity_section(calibration)
    return "\n".join(out).rstrip("\n") + "\n"


def _pods_section(systems: list[str], scenarios: list[str], get: Callable[[str, str, str], Mapping[str, Any]],
                  pod_groups: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """The Pods section: per scenario with pod labels, member and group figures against the targets.

    A scenario has pod labels when some system's ``pod`` figures count positives or some pod-group result
    counts true pods. Member figures come from each system's ``pod`` evaluation; group figures (found and
    true pods, Jaccard, latency in posting rounds) only exist for systems with a ``"<system> pods"`` entry.
    """
    def groups(system: str, scenario: str) -> Mapping[str, Any]:
        per_sc = pod_groups.get(system)
        figures = per_sc.get(scenario) if per_sc is not None else None
        return figures if figures is not None else _EMPTY

    pod_scenarios = [sc for sc in scenarios
                     if any((get(s, sc, "pod").get("n_pos") or 0) > 0 for s in systems)
                     or any((groups(s, sc).get("n_true") or 0) > 0 for s in pod_groups)]
    if not pod_scenarios:
        return []
    t = POD_TARGETS
    out = ["## Pods", "",
           "Targets: member F1 >= 0.95; recall >= 0.85 on loose and on camouflaged pods; FPR <= 1% on "
           "friend circles (real friends engaging each other) and <= 0.2% on every other organic account "
           "(plain organic and the other hard-negative classes pooled); every found pod matching its true "
           f"pod with Jaccard >= {POD_MATCH_JACCARD}; p95 detection latency within "
           f"{t['latency_p95_rounds'][1]:g} posting rounds of the pod (a round: the typical interval "
           "between one member's posts, or between the rounds of a round-based pod). ✓ meets the target, "
           f"✗ misses it; `{NA}` cannot be checked (no such accounts, or nothing found).", ""]
    for s in systems:
        if s not in pod_groups:
            never = all((get(s, sc, "pod").get("n_pred") or 0) == 0 for sc in pod_scenarios)
            out += [f"- {s}: member figures only, it reports no pod groups"
                    + ("; it flags no account as pod in any of these scenarios." if never else ".")]
    out += [""] if any(s not in pod_groups for s in systems) else []

    for sc in pod_scenarios:
        ms = [get(s, sc, "pod") for s in systems]
        gs = [groups(s, sc) for s in systems]

        def by_class(m: Mapping[str, Any], cls: str, key: str) -> Any:
            return (m.get(key) or {}).get(cls)

        rows = [
            ["member precision", *(_ratio(m.get("precision")) for m in ms)],
            ["member recall", *(_ratio(m.get("recall")) for m in ms)],
            ["member F1", *(_checked("f1", m.get("f1"), _ratio) for m in ms)],
            *([f"recall {c}", *(_ratio(by_class(m, c, "recall_by_class")) for m in ms)] for c in ("tight", "round")),
            ["recall loose", *(_checked("recall_loose", by_class(m, "loose", "recall_by_class"), _ratio) for m in ms)],
            ["recall camouflaged", *(_checked("recall_camouflaged", by_class(m, "camouflaged", "recall_by_class"),
                                              _ratio) for m in ms)],
            ["FPR friend_circle", *(_checked("fpr_friend_circle", by_class(m, FRIEND_CIRCLE, "fpr_by_class"), _percent)
                                    for m in ms)],
            ["FPR other organic", *(_checked("fpr_other_organic", _fpr_other_organic(m), _percent) for m in ms)],
            ["found / true pods", *(f"{_count(g.get('n_found'))} / {_count(g.get('n_true'))}" if g else NA
                                    for g in gs)],
            ["true pods matched (Jaccard >= 0.9)",
             *(f"{_count(g.get('true_matched'))} / {_count(g.get('n_true'))}" if g else NA for g in gs)],
            ["found pods with Jaccard >= 0.9", *(_checked("share_jaccard_ge_0_9", g.get("share_jaccard_ge_0_9"), _ratio)
                                                 for g in gs)],
            ["min Jaccard", *(_checked("jaccard_min", g.get("jaccard_min"), _ratio) for g in gs)],
            ["median Jaccard", *(_ratio(g.get("jaccard_median")) for g in gs)],
            ["spurious pods (Jaccard < 0.5)", *(_count(g.get("spurious")) for g in gs)],
            ["latency p50 (rounds)", *(_plain(g.get("latency_p50_rounds")) for g in gs)],
            ["latency p95 (rounds)", *(_checked("latency_p95_rounds", g.get("latency_p95_rounds"), _plain)
                                       for g in gs)],
            ["latency p50 (h)", *(_plain(g.get("latency_p50_h")) for g in gs)],
            ["latency p95 (h)", *(_plain(g.get("latency_p95_h")) for g in gs)],
        ]
        out += [f"### pods: scenario {sc}", ""] + _table(["", *systems], rows)
        for s in systems:
            per_class: Mapping[str, Mapping[str, Any]] = groups(s, sc).get("by_class") or {}
            if not per_class:
                continue
            class_rows = [[c, _count(f.get("n_true")), _count(f.get("true_matched")), _count(f.get("n_found")),
                           f"{_count(f.get('n_members_found'))} / {_count(f.get('n_members'))}",
                           _plain(f.get("latency_p95_rounds"))] for c, f in per_class.items()]
            out += [f"Pod groups by class, {s}:", ""] + _table(
                ["class", "true pods", "matched (J >= 0.9)", "found (best match)", "members in a found pod",
                 "latency p95 (rounds)"], class_rows)
    return out


def class_f1(m: Mapping[str, Any], cls: str) -> float | None:
    """F1 over the positives of variant ``cls`` alone: its true positives and misses, and every false positive
    (positives of other variants count neither way)."""
    n = (m.get("n_pos_by_class") or {}).get(cls)
    if not n:
        return None
    tp = round((m.get("recall_by_class") or {}).get(cls, 0.0) * n)
    den = 2 * tp + int(m.get("fp") or 0) + (n - tp)
    return 2 * tp / den if den else None


def _bots_section(systems: list[str], scenarios: list[str], get: Callable[[str, str, str], Mapping[str, Any]]
                  ) -> list[str]:
    """The Bots section: per scenario with bot labels, the figures against :data:`BOT_TARGETS`."""
    bot_scenarios = [sc for sc in scenarios if any((get(s, sc, "bot").get("n_pos") or 0) > 0 for s in systems)]
    if not bot_scenarios:
        return []
    t = BOT_TARGETS
    out = ["## Bots", "",
           f"Targets: F1 >= {t['f1'][1]:g} over every bot and >= {t['f1_sophisticated'][1]:g} on the sophisticated "
           "ones (their hits and misses, and every false positive); FPR <= 0.5% among organic actors (the people "
           "of the audiences) and <= 1% among heavy human likers and among night owls. ✓ meets the target, ✗ "
           f"misses it; `{NA}` cannot be checked (no such accounts).", ""]

    def fpr(m: Mapping[str, Any], cls: str) -> tuple[float | None, str]:
        rate = (m.get("fpr_by_class") or {}).get(cls)
        n = (m.get("n_by_hard_negative_class") or {}).get(cls)
        return rate, "" if rate is None or n is None else f" ({round(rate * n):,} of {n:,})"

    for sc in bot_scenarios:
        ms = [get(s, sc, "bot") for s in systems]

        def row(label: str, figure: str, cls: str, ms: list[Mapping[str, Any]] = ms) -> list[str]:
            return [label, *(_checked(figure, fpr(m, cls)[0], _percent, t) + fpr(m, cls)[1] for m in ms)]

        rows = [
            ["precision", *(_ratio(m.get("precision")) for m in ms)],
            ["recall", *(_ratio(m.get("recall")) for m in ms)],
            ["F1", *(_checked("f1", m.get("f1"), _ratio, t) for m in ms)],
            ["recall naive", *(_ratio((m.get("recall_by_class") or {}).get("naive")) for m in ms)],
            ["recall sophisticated", *(_ratio((m.get("recall_by_class") or {}).get("sophisticated")) for m in ms)],
            ["F1 sophisticated", *(_checked("f1_sophisticated", class_f1(m, "sophisticated"), _ratio, t) for m in ms)],
            row("FPR organic actors", "fpr_liker", "liker"),
            row("FPR heavy likers", "fpr_heavy_liker", "heavy_liker"),
            row("FPR night owls", "fpr_night_owl", "night_owl"),
            ["FPR organic creators", *(_percent(m.get("fpr")) for m in ms)],
            ["TP / FP / FN", *(f"{_count(m.get('tp'))} / {_count(m.get('fp'))} / {_count(m.get('fn'))}" for m in ms)],
            ["latency p50 (min)", *(_minutes(m.get("latency_p50_s")) for m in ms)],
            ["latency p95 (min)", *(_minutes(m.get("latency_p95_s")) for m in ms)],
        ]
        out += [f"### bots: scenario {sc}", ""] + _table(["", *systems], rows)
    return out


def _purchases_section(systems: list[str], scenarios: list[str],
                       get: Callable[[str, str, str], Mapping[str, Any]]) -> list[str]:
    """The Purchases section: per purchase kind and scenario with its labels, the figures against
    :data:`PURCHASE_TARGETS`, every system side by side."""
    t = PURCHASE_TARGETS
    out = ["## Purchases", "",
           f"Targets, for bought engagement and bought followers alike: recall >= {t['recall'][1]:g}; FPR <= "
           f"{100 * t['fpr'][1]:g}% on organic creators and <= {100 * t['fpr_hard'][1]:g}% on each of the "
           f"{', '.join(PURCHASE_HARD)} hard negatives; p95 detection latency <= {t['latency_burst'][1] / 60:g} min "
           f"of event time after delivery starts for bursts and <= {t['latency_drip'][1] / 3600:g} h for "
           f"drip-feeds. ✓ meets the target, ✗ misses it; `{NA}` cannot be checked (no such accounts).", ""]
    found = False
    for kind in ("purchased_engagement", "purchased_followers"):
        for sc in scenarios:
            ms = [get(s, sc, kind) for s in systems]
            if not any((m.get("n_pos") or 0) > 0 for m in ms):
                continue
            found = True

            def hard(m: Mapping[str, Any], cls: str) -> str:
                rate = (m.get("fpr_by_class") or {}).get(cls)
                n = (m.get("n_by_hard_negative_class") or {}).get(cls)
                extra = "" if rate is None or n is None else f" ({round(rate * n):,} of {n:,})"
                return _checked("fpr_hard", rate, _percent, t) + extra

            def lat(m: Mapping[str, Any], cls: str, figure: str) -> str:
                v = (m.get("latency_p95_s_by_class") or {}).get(cls)
                return _checked(figure, v, _minutes, {figure: (t[figure][0], t[figure][1])}) if v is not None else NA

            def rec(m: Mapping[str, Any], cls: str) -> str:
                return _ratio((m.get("recall_by_class") or {}).get(cls))

            n_org = [m.get("n_organic") for m in ms]
            rows = [
                ["recall", *(_checked("recall", m.get("recall"), _ratio, t) for m in ms)],
                ["recall burst / drip", *(f"{rec(m, 'burst')} / {rec(m, 'drip')}" for m in ms)],
                ["precision", *(_ratio(m.get("precision")) for m in ms)],
                ["FPR organic creators", *(_checked("fpr", m.get("fpr"), _percent, t)
                                           + ("" if m.get("fpr") is None or n is None
                                              else f" ({round(m['fpr'] * n):,} of {n:,})")
                                           for m, n in zip(ms, n_org, strict=True))],
                *([f"FPR {cls}", *(hard(m, cls) for m in ms)] for cls in PURCHASE_HARD),
                ["latency p95 burst (min)", *(lat(m, "burst", "latency_burst") for m in ms)],
                ["latency p95 drip (min)", *(lat(m, "drip", "latency_drip") for m in ms)],
                ["latency p50 (min)", *(_minutes(m.get("latency_p50_s")) for m in ms)],
                ["TP / FP / FN", *(f"{_count(m.get('tp'))} / {_count(m.get('fp'))} / {_count(m.get('fn'))}"
                                   for m in ms)],
            ]
            out += [f"### {kind}: scenario {sc}", ""] + _table(["", *systems], rows)
    return out if found else []


def _authenticity_section(calibration: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Authenticity calibration: per system, pooled over every scenario, precision and recall over creators when
    those below each threshold alert (:func:`~services.evaluation.metrics.evaluate_authenticity`)."""
    if not calibration:
        return []
    out = ["## Authenticity: precision and recall by alert threshold", "",
           "Over creators (actors excluded), pooled over every scenario: a creator *alerts* when its authenticity is "
           "below the threshold (the API's `alert_below`, default `TRUSTREAM_ALERT_BELOW` = 60). Positives: "
           "creators labelled pod member or buyer. FP organic: plain organic creators that alert; FP hard: viral, "
           "giveaway, featured, friend-circle and fast-growing creators that alert. The weights are in "
           "`detectors/scoring.py`.", ""]
    for system, per_sc in calibration.items():
        pooled: dict[int, dict[str, int]] = {}
        for rows in per_sc.values():
            for row in rows:
                acc = pooled.setdefault(int(row["threshold"]), defaultdict(int))
                for key, v in row.items():
                    if key != "threshold":
                        acc[key] += int(v)
        table = []
        for thr, r in sorted(pooled.items()):
            pred = r["tp"] + r["fp"]
            table.append([f"< {thr}", _ratio(r["tp"] / pred if pred else None),
                          _ratio(r["tp"] / r["n_pos"] if r["n_pos"] else None),
                          f"{r['fp_organic']:,} of {r['n_organic']:,}", f"{r['fp_hard']:,} of {r['n_hard']:,}",
                          f"{r['tp']:,} / {r['fp']:,} / {r['fn']:,}"])
        out += [f"### {system}", ""] + _table(
            ["alert when authenticity", "precision", "recall", "FP organic", "FP hard", "TP / FP / FN"], table)
    return out
