"""A Markdown report comparing systems (detectors, baselines) on the same labelled scenarios.

The input is ``{system: {scenario: evaluate() output}}`` (:func:`services.evaluation.metrics.evaluate`,
or the same structure loaded back from JSON). A figure that does not exist (no positives, no predictions,
no true positive with a start time), and a system, scenario or kind with no result at all, show as
``n/a``: a miss is never left out of a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.evaluation.metrics import FRAUD_KINDS, THRESHOLD_GRID

#: Text shown for a missing figure.
NA = "n/a"

Results = Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]

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

    Three parts: per fraud kind and scenario, the headline figures with the systems side by side
    (precision, recall, F1, FPR on organic accounts, the worst hard-negative FPR with its class, latency
    p50/p95 in event-time minutes, TP/FP/FN); per scenario, the FPR of every hard-negative class for
    every kind and system; per kind and system, the calibration table (precision and recall when only
    flags scoring at least each threshold count) over the scenarios.

    Parameters
    ----------
    results
        System name -> scenario name -> kind -> figures, as :func:`~services.evaluation.metrics.evaluate`
        gives them. Every system, scenario and kind present anywhere appears in every table.

    Returns
    -------
    str
        The report, ending with a newline.
    """
    systems = list(results)
    scenarios = _unique(sc for per_sys in results.values() for sc in per_sys)
    kinds = _unique([*FRAUD_KINDS, *(k for per_sys in results.values() for ev in per_sys.values() for k in ev)])

    def get(system: str, scenario: str, kind: str) -> Mapping[str, Any]:
        per_scenario = results.get(system)
        per_kind = per_scenario.get(scenario) if per_scenario is not None else None
        figures = per_kind.get(kind) if per_kind is not None else None
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

    return "\n".join(out).rstrip("\n") + "\n"
