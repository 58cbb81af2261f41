"""Evaluation metrics on small hand-built worlds: every expected figure is worked out in the comments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.wire import PodRecord
from services.evaluation.metrics import (
    FRAUD_KINDS,
    SUMMARY_KEYS,
    THRESHOLD_GRID,
    Label,
    Verdict,
    evaluate,
    evaluate_files,
    evaluate_pods,
    evaluate_pods_files,
    iter_events,
    load_labels,
    load_pods,
    load_profiles,
    load_verdicts,
    percentile_nearest_rank,
    to_json_summary,
    write_verdicts,
)
from services.evaluation.report import pod_groups_key, render_markdown


def lab(account: str, kind: str, cls: str, start: float | None = None, **over: Any) -> Label:
    d: dict[str, Any] = {"account_id": account, "kind": kind, "class": cls, "role": "member", "group": None,
                         "start_ts": start, "end_ts": None}
    d.update(over)
    return Label.model_validate(d)


def verdict(account: str, *flags: tuple[str, float, float]) -> Verdict:
    return Verdict.model_validate({
        "account_id": account, "authenticity": 50,
        "flags": [{"kind": k, "score": s, "first_ts": ts, "reasons": ["r"], "evidence": {}} for k, s, ts in flags]})


# The world used by most tests.
#   pod positives: a1 (loose, start 100), a2 (camouflaged, start 100), a3 (loose), a4 (loose, start 1000)
#   bot positives: a4 (naive, start 500; a4 is also a pod), a5 (sophisticated, no start_ts)
#   clean organic: o1..o4; hard negatives: h1, h2 (viral), h3 (giveaway); u1 has no label at all.
LABELS = [
    lab("a1", "pod", "loose", 100.0), lab("a2", "pod", "camouflaged", 100.0), lab("a3", "pod", "loose", 200.0),
    lab("a4", "pod", "loose", 1000.0), lab("a4", "bot", "naive", 500.0), lab("a5", "bot", "sophisticated"),
    *(lab(f"o{i}", "organic", "organic") for i in range(1, 5)),
    lab("h1", "organic", "viral"), lab("h2", "organic", "viral"), lab("h3", "organic", "giveaway"),
]
VERDICTS = [
    verdict("a1", ("pod", 0.9, 160.0)),                      # pod TP, latency 60
    verdict("a2", ("pod", 0.4, 400.0)),                      # pod TP, latency 300
    verdict("a4", ("bot", 0.7, 560.0)),                      # bot TP (latency 60), pod FN
    verdict("a5", ("bot", 0.8, 999.0)),                      # bot TP without a start time
    verdict("o1", ("pod", 0.2, 50.0)),                       # pod FP on a clean organic account
    verdict("o2"),                                           # a verdict without flags flags nothing
    verdict("o3", ("purchased_followers", 0.5, 70.0)),       # FP of a kind nobody has
    verdict("h1", ("pod", 0.6, 10.0), ("bot", 0.05, 10.0)),  # hard negative (viral) flagged twice
    verdict("u1", ("pod", 0.3, 20.0)),                       # unlabelled: FP, but outside every FPR
]


def test_pod_figures_with_multi_label_and_unlabelled_accounts() -> None:
    m = evaluate(LABELS, VERDICTS)["pod"]
    # predicted {a1, a2, o1, h1, u1}; positives {a1, a2, a3, a4}
    assert (m["tp"], m["fp"], m["fn"], m["n_pos"], m["n_pred"]) == (2, 3, 2, 4, 5)
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 0.4 * 0.5 / (0.4 + 0.5))
    # o1 of the four clean organic accounts; u1 is not in the denominator nor the numerator
    assert m["n_organic"] == 4
    assert m["fpr"] == pytest.approx(1 / 4)
    assert m["fpr_by_class"] == {"giveaway": 0.0, "viral": 0.5}
    assert m["n_by_hard_negative_class"] == {"giveaway": 1, "viral": 2}
    # loose: a1 found, a3 and a4 missed; camouflaged: a2 found
    assert m["recall_by_class"] == pytest.approx({"camouflaged": 1.0, "loose": 1 / 3})
    assert m["n_pos_by_class"] == {"camouflaged": 1, "loose": 3}
    # latencies 60 and 300: nearest rank p50 is the 1st value, p95 the 2nd
    assert (m["latency_p50_s"], m["latency_p95_s"], m["n_latency"]) == (60.0, 300.0, 2)


def test_bot_figures_for_an_account_with_two_fraud_labels() -> None:
    m = evaluate(LABELS, VERDICTS)["bot"]
    # predicted {a4, a5, h1}; positives {a4, a5}: a4's bot label counts although its pod label is missed
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 0)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == 1.0
    assert m["f1"] == pytest.approx(0.8)
    assert m["fpr"] == 0.0
    assert m["fpr_by_class"] == {"giveaway": 0.0, "viral": 0.5}
    assert m["recall_by_class"] == {"naive": 1.0, "sophisticated": 1.0}
    # a5 has no start_ts, so only a4's 560 - 500 = 60 s is a latency
    assert (m["latency_p50_s"], m["latency_p95_s"], m["n_latency"]) == (60.0, 60.0, 1)


def test_kind_without_positives_or_predictions_has_none_not_zero() -> None:
    m = evaluate(LABELS, VERDICTS)["purchased_engagement"]
    assert (m["precision"], m["recall"], m["f1"]) == (None, None, None)
    assert (m["latency_p50_s"], m["latency_p95_s"]) == (None, None)
    assert (m["tp"], m["fp"], m["fn"], m["n_pos"]) == (0, 0, 0, 0)
    assert m["fpr"] == 0.0
    assert m["recall_by_class"] == {}
    assert all(r["precision"] is None and r["recall"] is None for r in m["thresholds"])


def test_kind_with_predictions_but_no_positives() -> None:
    m = evaluate(LABELS, VERDICTS)["purchased_followers"]
    # one flag (o3), nothing to find: precision 0, recall undefined, F1 = 2*0 / (0 + 1 + 0) = 0
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, None, 0.0)
    assert m["fpr"] == pytest.approx(1 / 4)


def test_kind_with_positives_but_no_predictions() -> None:
    m = evaluate([lab("a", "bot", "naive", 0.0)], [])["bot"]
    # recall 0 (a miss), precision undefined, F1 = 0 / (0 + 0 + 1) = 0; no clean organic -> fpr None
    assert (m["precision"], m["recall"], m["f1"], m["fpr"]) == (None, 0.0, 0.0, None)
    assert m["recall_by_class"] == {"naive": 0.0}


def test_threshold_table_counts_flags_with_score_at_least_t() -> None:
    rows = {r["threshold"]: r for r in evaluate(LABELS, VERDICTS)["pod"]["thresholds"]}
    assert list(rows) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    # pod scores: a1 .9, a2 .4, h1 .6, u1 .3, o1 .2 (a1, a2 positive; 4 positives)
    expected = {0.0: (2, 3), 0.2: (2, 3), 0.3: (2, 2), 0.4: (2, 1), 0.5: (1, 1), 0.6: (1, 1), 0.7: (1, 0),
                0.9: (1, 0)}  # 0.9 keeps a1 (score 0.9 >= 0.9): the bound is inclusive
    for t, (tp, fp) in expected.items():
        assert (rows[t]["tp"], rows[t]["fp"]) == (tp, fp), t
        assert rows[t]["precision"] == pytest.approx(tp / (tp + fp))
        assert rows[t]["recall"] == pytest.approx(tp / 4)


def test_threshold_argument_drops_weak_flags_but_not_the_table() -> None:
    full = evaluate(LABELS, VERDICTS)["pod"]
    m = evaluate(LABELS, VERDICTS, threshold=0.5)["pod"]
    # only a1 (.9) and h1 (.6) remain
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 3)
    assert m["fpr"] == 0.0  # o1 (.2) no longer counts
    assert m["fpr_by_class"]["viral"] == 0.5
    assert (m["latency_p50_s"], m["latency_p95_s"]) == (60.0, 60.0)
    assert m["thresholds"] == full["thresholds"]
    with pytest.raises(ValueError, match="threshold"):
        evaluate(LABELS, VERDICTS, threshold=1.5)


def test_several_flags_of_one_kind_use_the_earliest_that_counts() -> None:
    labels = [lab("a", "pod", "loose", 0.0)]
    verdicts = [verdict("a", ("pod", 0.2, 100.0), ("pod", 0.8, 300.0))]
    assert evaluate(labels, verdicts)["pod"]["latency_p50_s"] == 100.0
    assert evaluate(labels, verdicts, threshold=0.5)["pod"]["latency_p50_s"] == 300.0
    assert evaluate(labels, verdicts)["pod"]["tp"] == 1


def test_latency_is_signed_when_flagged_before_the_labelled_start() -> None:
    m = evaluate([lab("a", "pod", "loose", 1000.0)], [verdict("a", ("pod", 1.0, 400.0))])["pod"]
    assert m["latency_p50_s"] == -600.0


def test_latency_uses_the_earliest_start_of_the_kind() -> None:
    labels = [lab("a", "bot", "naive", 500.0), lab("a", "bot", "drip", 200.0), lab("a", "pod", "loose", 0.0)]
    m = evaluate(labels, [verdict("a", ("bot", 1.0, 260.0))])["bot"]
    assert m["latency_p50_s"] == 60.0
    assert m["recall_by_class"] == {"drip": 1.0, "naive": 1.0}


def test_latency_percentiles_over_many_true_positives() -> None:
    # 20 true positives with latencies 10, 20, ..., 200: nearest rank p50 = 10th = 100, p95 = 19th = 190
    labels = [lab(f"a{i}", "pod", "loose", 0.0) for i in range(1, 21)]
    verdicts = [verdict(f"a{i}", ("pod", 1.0, 10.0 * i)) for i in range(1, 21)]
    m = evaluate(labels, verdicts)["pod"]
    assert (m["latency_p50_s"], m["latency_p95_s"]) == (100.0, 190.0)


def test_an_account_with_fraud_and_organic_lines_is_not_a_negative() -> None:
    labels = [lab("x", "bot", "naive", 0.0), lab("x", "organic", "viral"), lab("o", "organic", "organic")]
    m = evaluate(labels, [verdict("x", ("pod", 1.0, 5.0))])["pod"]
    assert m["fpr_by_class"] == {} and m["fpr"] == 0.0
    assert m["fp"] == 1


def test_hard_negative_with_an_organic_line_too_is_not_clean() -> None:
    labels = [lab("h", "organic", "organic"), lab("h", "organic", "night_owl")]
    m = evaluate(labels, [verdict("h", ("bot", 1.0, 5.0))])["bot"]
    assert m["fpr"] is None
    assert m["fpr_by_class"] == {"night_owl": 1.0}


def test_two_verdicts_for_one_account_are_refused() -> None:
    with pytest.raises(ValueError, match="more than one verdict"):
        evaluate([], [verdict("a"), verdict("a")])


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 50, 5.0),
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 95, 10.0),
    ([float(i) for i in range(20, 0, -1)], 95, 19.0),  # order of input does not matter
    ([float(i) for i in range(1, 21)], 5, 1.0),
    ([7.0], 50, 7.0),
    ([3.0, 1.0], 100, 3.0),
    ([], 50, None),
])
def test_percentile_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile_nearest_rank(values, p) == expected


def test_percentile_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile_nearest_rank([1.0], 0)
    with pytest.raises(ValueError):
        percentile_nearest_rank([1.0], 101)


def test_summary_has_exactly_the_headline_keys() -> None:
    summary = to_json_summary(evaluate(LABELS, VERDICTS))
    assert list(summary) == list(FRAUD_KINDS)
    assert all(tuple(v) == SUMMARY_KEYS for v in summary.values())
    assert summary["pod"] == {"precision": pytest.approx(0.4), "recall": 0.5, "f1": pytest.approx(4 / 9),
                              "fpr": 0.25, "latency_p50_s": 60.0, "latency_p95_s": 300.0}
    assert orjson.loads(orjson.dumps(summary)) == summary


def test_threshold_grid_values_are_exact() -> None:
    assert THRESHOLD_GRID == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# --- files ----------------------------------------------------------------------------------------

def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_files_round_trip(tmp_path: Path) -> None:
    labels = write_lines(tmp_path / "labels.jsonl", [
        orjson.dumps(lab.model_dump(by_alias=True)).decode() for lab in LABELS] + [""])
    verdicts = tmp_path / "verdicts.jsonl"
    assert write_verdicts(verdicts, VERDICTS) == len(VERDICTS)
    assert load_labels(labels) == LABELS
    assert load_verdicts(verdicts) == VERDICTS
    assert evaluate_files(labels, verdicts) == evaluate(LABELS, VERDICTS)


def test_labels_accept_whole_number_times_and_read_class(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "labels.jsonl", [
        '{"account_id": "a", "kind": "pod", "class": "loose", "role": "member", "group": "g1", '
        '"start_ts": 100, "end_ts": null, "extra": 1}'])
    [label] = load_labels(path)
    assert (label.cls, label.group, label.start_ts) == ("loose", "g1", 100.0)


@pytest.mark.parametrize(("line", "words"), [
    ('{"account_id": "a", "kind": "spam", "class": "x", "role": "r"}', "kind"),
    ('{"account_id": "a", "kind": "pod", "role": "r"}', "class"),
    ('{"account_id": "a", "kind": "pod", "class": "x", "role": "r", "start_ts": "5"}', "start_ts"),
    ('{"account_id": "a", "kind": "pod", "class": "x", "role": "r", "start_ts": 9, "end_ts": 5}', "end_ts"),
    ('{"account_id": "a", "kind": "pod", "class": "x", ', "JSON"),
])
def test_bad_label_lines_name_file_and_line(tmp_path: Path, line: str, words: str) -> None:
    good = '{"account_id": "b", "kind": "organic", "class": "organic", "role": "fan"}'
    path = write_lines(tmp_path / "labels.jsonl", [good, "", line])
    with pytest.raises(ValueError, match=rf"labels\.jsonl:3: .*{words}"):
        load_labels(path)


@pytest.mark.parametrize(("line", "words"), [
    ('{"account_id": "a", "authenticity": 50, "flags": [{"kind": "pod", "score": 1.5, "first_ts": 1, '
     '"reasons": [], "evidence": {}}]}', "score"),
    ('{"account_id": "a", "authenticity": 101, "flags": []}', "authenticity"),
    ('{"account_id": "a", "authenticity": 50, "flags": [{"kind": "spike", "score": 1, "first_ts": 1, '
     '"reasons": [], "evidence": {}}]}', "kind"),
    ('{"account_id": "a", "authenticity": 50, "flags": [{"kind": "bot", "score": 1, "reasons": [], '
     '"evidence": {}}]}', "first_ts"),
])
def test_bad_verdict_lines_name_file_and_line(tmp_path: Path, line: str, words: str) -> None:
    path = write_lines(tmp_path / "verdicts.jsonl", [line])
    with pytest.raises(ValueError, match=rf"verdicts\.jsonl:1: .*{words}"):
        load_verdicts(path)


def test_verdict_scores_may_be_whole_numbers(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "verdicts.jsonl", [
        '{"account_id": "a", "authenticity": 0, "flags": [{"kind": "bot", "score": 1, "first_ts": 7, '
        '"reasons": ["r"], "evidence": {}, "last_ts": 9}]}'])
    [v] = load_verdicts(path)
    assert (v.flags[0].score, v.flags[0].first_ts) == (1.0, 7.0)


def test_second_verdict_line_of_an_account_is_refused(tmp_path: Path) -> None:
    line = '{"account_id": "a", "authenticity": 50, "flags": []}'
    path = write_lines(tmp_path / "verdicts.jsonl", [line, line])
    with pytest.raises(ValueError, match=r"verdicts\.jsonl:2: .*line 1"):
        load_verdicts(path)


def test_events_must_be_valid_and_in_time_order(tmp_path: Path) -> None:
    def ev(i: int, ts: float, kind: str = "like") -> str:
        return orjson.dumps({"event_id": f"e{i}", "kind": kind, "ts": ts, "actor_id": "f", "target_id": "c",
                             "post_id": None, "text": None}).decode()

    ok = write_lines(tmp_path / "ok.jsonl", [ev(1, 1.0), ev(2, 1.0), ev(3, 2.0)])
    assert [e.event_id for e in iter_events(ok)] == ["e1", "e2", "e3"]
    late = write_lines(tmp_path / "late.jsonl", [ev(1, 5.0), ev(2, 4.0)])
    with pytest.raises(ValueError, match=r"late\.jsonl:2: .*event-time order"):
        list(iter_events(late))
    bad = write_lines(tmp_path / "bad.jsonl", [ev(1, 1.0), ev(2, 2.0, kind="share")])
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: kind"):
        list(iter_events(bad))


def test_profiles_load_and_refuse_negative_counts(tmp_path: Path) -> None:
    good = '{"account_id": "c", "ts": 1, "followers": 10, "following": 2, "posts": 3}'
    assert load_profiles(write_lines(tmp_path / "p.jsonl", [good]))[0].followers == 10
    bad = '{"account_id": "c", "ts": 1, "followers": -1, "following": 2, "posts": 3}'
    with pytest.raises(ValueError, match=r"q\.jsonl:2: followers"):
        load_profiles(write_lines(tmp_path / "q.jsonl", [good, bad]))


# --- Markdown report ------------------------------------------------------------------------------------

def report_results() -> dict[str, dict[str, Any]]:
    # "rules" has no result for scenario "s2" at all; "trustream" flags nothing in "s2"
    return {
        "trustream": {"s1": evaluate(LABELS, VERDICTS), "s2": evaluate(LABELS, [])},
        "rules": {"s1": evaluate(LABELS, VERDICTS, threshold=0.5)},
    }


def table_row(text: str, heading: str, first_cell: str) -> str:
    """The row starting with ``first_cell`` in the first table after ``heading``."""
    section = text.split(heading + "\n", 1)[1]
    return next(line for line in section.splitlines() if line.startswith(f"| {first_cell} |"))


def test_report_puts_systems_side_by_side() -> None:
    text = render_markdown(report_results())
    for name in ("trustream", "rules", "s1", "s2", *FRAUD_KINDS):
        assert name in text
    assert table_row(text, "### pod: scenario s1", "") == "|  | trustream | rules |"
    # trustream: 2/5, rules at threshold 0.5: a1 and h1 -> 1/2
    assert table_row(text, "### pod: scenario s1", "precision") == "| precision | 0.400 | 0.500 |"
    assert table_row(text, "### pod: scenario s1", "FPR organic") == "| FPR organic | 0.250 | 0.000 |"
    # latency 60 s / 300 s in minutes
    assert table_row(text, "### pod: scenario s1", "latency p95 (min)") == "| latency p95 (min) | 5.0 | 1.0 |"
    # viral 0.5 beats giveaway 0.0
    assert table_row(text, "### pod: scenario s1", "worst hard-negative FPR") == (
        "| worst hard-negative FPR | 0.500 (viral) | 0.500 (viral) |")
    assert table_row(text, "### pod: scenario s1", "TP / FP / FN") == "| TP / FP / FN | 2 / 3 / 2 | 1 / 1 / 3 |"


def test_report_shows_misses_as_na() -> None:
    text = render_markdown(report_results())
    # trustream flags nothing in s2: precision and latency n/a, recall 0; rules has no s2 at all
    assert table_row(text, "### pod: scenario s2", "precision") == "| precision | n/a | n/a |"
    assert table_row(text, "### pod: scenario s2", "recall") == "| recall | 0.000 | n/a |"
    assert table_row(text, "### pod: scenario s2", "latency p50 (min)") == "| latency p50 (min) | n/a | n/a |"
    # no positives for purchased_engagement: recall n/a, not 0
    assert table_row(text, "### purchased_engagement: scenario s1", "recall") == "| recall | n/a | n/a |"


def test_report_hard_negative_and_calibration_tables() -> None:
    text = render_markdown(report_results())
    assert table_row(text, "### scenario s1", "bot") == "| bot | giveaway | 1 | 0.000 | 0.000 |"
    assert "| bot | viral | 2 | 0.500 | 0.000 |" in text  # h1's bot flag scores 0.05 < 0.5
    assert "| pod | viral | 2 | 0.000 | n/a |" in text.split("### scenario s2\n", 1)[1]
    calib = "### pod: trustream"
    assert table_row(text, calib, "threshold") == (
        "| threshold | precision (s1) | recall (s1) | precision (s2) | recall (s2) |")
    # at 0.5: a1 and h1 flagged -> precision 0.5, recall 1/4; s2 flags nothing
    assert table_row(text, calib, "0.5") == "| 0.5 | 0.500 | 0.250 | n/a | 0.000 |"
    assert table_row(text, "### pod: rules", "0.9") == "| 0.9 | 1.000 | 0.250 | n/a | n/a |"
    for kind in FRAUD_KINDS:
        for system in ("trustream", "rules"):
            assert f"### {kind}: {system}\n" in text


def test_report_of_json_round_tripped_results() -> None:
    results = report_results()
    assert render_markdown(orjson.loads(orjson.dumps(results))) == render_markdown(results)


# --- pod groups -----------------------------------------------------------------------------------------

def pod(pod_id: str, members: list[str], first_ts: float, stats: dict[str, float] | None = None,
        active: bool = True) -> PodRecord:
    """A found pod; ``stats`` gives member_stats' first_ts (members without one have no stats)."""
    return PodRecord.model_validate({
        "pod_id": pod_id, "active": active, "members": sorted(members), "score": 0.8, "first_ts": first_ts,
        "last_ts": first_ts + 100, "reciprocal_pairs": 3, "directed_pairs": 6, "early_engagements": 9,
        "median_delay_s": 120.0, "posts": [], "reasons": ["r"],
        "member_stats": [{"account_id": a, "engaged": 2, "received": 2, "partners": 2, "reciprocal": 2,
                          "first_ts": t} for a, t in sorted((stats or {}).items())]})


# True groups: g1 (tight, start 1000, round 1000 s) = m1..m5; g2 (loose, start 500, round 2000 s) = m5..m9.
# m5 is in both pods: two label lines; its latency is measured from g2's line (earlier start).
POD_LABELS = [
    *(lab(f"m{i}", "pod", "tight", 1000.0, group="g1", round_s=1000.0) for i in range(1, 6)),
    *(lab(f"m{i}", "pod", "loose", 500.0, group="g2", round_s=2000) for i in range(5, 10)),
    lab("o1", "organic", "organic"),
]
POD_PODS = [
    pod("P2", ["m6", "m7"], 2400.0),                                         # replaced by the later P2 record
    pod("P1", ["m1", "m2", "m3", "m4", "m5"], 1200.0,                        # exactly g1: J = 1
        {"m1": 1500.0, "m2": 2000.0, "m3": 3000.0, "m4": 4000.0, "m5": 1200.0}),
    pod("P2", ["m5", "m6", "m7"], 2500.0, {"m5": 900.0, "m7": 1500.0}),      # g2: 3/5 = 0.6; m6 has no stats
    pod("P3", ["o1", "x1", "m8"], 8000.0, {"m8": 8500.0}),                   # g2: 1/7, spurious
    pod("P4", ["x2", "x3"], 9000.0),                                         # nobody's: J = 0, spurious
    pod("P5", ["m1", "m2", "m3", "m4", "m5", "o1"], 100.0, {"m1": 100.0}, active=False),  # superseded: ignored
]


def test_pod_groups_jaccard_and_counts() -> None:
    m = evaluate_pods(POD_LABELS, POD_PODS)
    assert (m["n_true"], m["n_found"], m["n_inactive"]) == (2, 4, 1)
    assert [(f["pod_id"], f["size"], f["best_group"], f["best_class"]) for f in m["found"]] == [
        ("P1", 5, "g1", "tight"), ("P2", 3, "g2", "loose"), ("P3", 3, "g2", "loose"), ("P4", 2, None, None)]
    assert [f["jaccard"] for f in m["found"]] == pytest.approx([1.0, 3 / 5, 1 / 7, 0.0])
    assert m["found"][1]["first_ts"] == 2500.0  # the last record of P2
    assert m["share_jaccard_ge_0_9"] == pytest.approx(1 / 4)
    assert m["jaccard_min"] == 0.0
    assert m["jaccard_median"] == pytest.approx(1 / 7)  # nearest rank: 2nd of [0, 1/7, 0.6, 1]
    assert (m["true_matched"], m["spurious"]) == (1, 2)
    # m1..m9 are members; all but m9 are in a found pod (o1, x1.. are not members)
    assert (m["n_members"], m["n_members_found"]) == (9, 8)


def test_pod_latency_in_rounds_and_hours() -> None:
    m = evaluate_pods(POD_LABELS, POD_PODS)
    # tight (g1 line, start 1000, round 1000): m1 500 s, m2 1000, m3 2000, m4 3000 -> 0.5, 1, 2, 3 rounds
    # loose (g2 line, start 500, round 2000): m5 min(1200, 900) -> 400 s, m6 P2's first_ts 2500 -> 2000 s,
    #   m7 1000 s, m8 8000 s -> 0.2, 1, 0.5, 4 rounds; m9 was never found
    assert m["n_latency"] == m["n_latency_rounds"] == 8
    # sorted rounds [0.2, 0.5, 0.5, 1, 1, 2, 3, 4]: p50 the 4th, p95 the 8th
    assert (m["latency_p50_rounds"], m["latency_p95_rounds"]) == pytest.approx((1.0, 4.0))
    # sorted seconds [400, 500, 1000, 1000, 2000, 2000, 3000, 8000]
    assert (m["latency_p50_h"], m["latency_p95_h"]) == pytest.approx((1000 / 3600, 8000 / 3600))
    tight, loose = m["by_class"]["tight"], m["by_class"]["loose"]
    assert (tight["n_true"], tight["true_matched"], tight["n_found"], tight["n_members"],
            tight["n_members_found"]) == (1, 1, 1, 5, 5)
    assert (loose["n_true"], loose["true_matched"], loose["n_found"], loose["n_members"],
            loose["n_members_found"]) == (1, 0, 2, 5, 4)
    assert (tight["n_latency_rounds"], tight["latency_p50_rounds"], tight["latency_p95_rounds"]) == (4, 1.0, 3.0)
    assert loose["n_latency_rounds"] == 4
    assert (loose["latency_p50_rounds"], loose["latency_p95_rounds"]) == pytest.approx((0.5, 4.0))


def test_pod_latency_without_round_or_start_and_signed() -> None:
    labels = [lab("a", "pod", "tight", 1000.0, group="g", round_s=500.0), lab("b", "pod", "tight", 1000.0, group="g"),
              lab("c", "pod", "tight", None, group="g")]
    m = evaluate_pods(labels, [pod("P", ["a", "b", "c"], 0.0, {"a": 750.0, "b": 4600.0, "c": 10.0})])
    # a: flagged 250 s before the start: -0.5 rounds; b has no round_s: hours only; c has no start: nothing
    assert (m["n_latency"], m["n_latency_rounds"]) == (2, 1)
    assert m["latency_p50_rounds"] == pytest.approx(-0.5)
    assert m["latency_p95_h"] == pytest.approx(1.0)
    assert m["found"][0]["jaccard"] == 1.0 and m["true_matched"] == 1


def test_pod_best_match_ties_go_to_the_first_group_name() -> None:
    labels = [lab("a", "pod", "round", 0.0, group="gB"), lab("b", "pod", "loose", 0.0, group="gA")]
    m = evaluate_pods(labels, [pod("P", ["a", "b"], 0.0)])
    assert (m["found"][0]["best_group"], m["found"][0]["jaccard"]) == ("gA", 0.5)
    assert m["spurious"] == 0 and m["by_class"]["loose"]["n_found"] == 1 and m["by_class"]["round"]["n_found"] == 0


def test_pod_groups_with_nothing_found() -> None:
    m = evaluate_pods(POD_LABELS, [])
    assert (m["n_true"], m["n_found"], m["found"], m["true_matched"], m["spurious"]) == (2, 0, [], 0, 0)
    for key in ("share_jaccard_ge_0_9", "jaccard_min", "jaccard_median", "latency_p95_rounds", "latency_p95_h"):
        assert m[key] is None, key
    empty = evaluate_pods([lab("o", "organic", "organic")], [pod("P", ["x", "y"], 0.0)])
    assert (empty["n_true"], empty["n_found"], empty["spurious"], empty["by_class"]) == (0, 1, 1, {})


def test_pods_file_round_trip_and_missing_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "pods.jsonl", [p.model_dump_json() for p in POD_PODS] + [""])
    assert load_pods(path) == POD_PODS
    assert load_pods(tmp_path / "none.jsonl") == []
    labels = write_lines(tmp_path / "labels.jsonl", [
        orjson.dumps(lb.model_dump(by_alias=True)).decode() for lb in POD_LABELS])
    assert evaluate_pods_files(labels, path) == evaluate_pods(POD_LABELS, POD_PODS)
    assert evaluate_pods_files(labels, tmp_path / "none.jsonl")["n_found"] == 0


@pytest.mark.parametrize(("line", "words"), [
    (pod("P", ["a"], 0.0).model_dump_json().replace('"score":0.8', '"score":1.5'), "score"),
    (pod("P", ["a"], 0.0).model_dump_json().replace('"members":["a"],', ""), "members"),
    (pod("P", ["a"], 0.0).model_dump_json().replace('"first_ts":0.0', '"first_ts":"0"'), "first_ts"),
    ('{"pod_id": "P", ', "JSON"),
])
def test_bad_pod_lines_name_file_and_line(tmp_path: Path, line: str, words: str) -> None:
    path = write_lines(tmp_path / "pods.jsonl", [pod("Q", ["b"], 0.0).model_dump_json(), "", line])
    with pytest.raises(ValueError, match=rf"pods\.jsonl:3: .*{words}"):
        load_pods(path)


@pytest.mark.parametrize("bad", [0, -5.0, "60"])
def test_label_round_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(ValueError, match="round_s"):
        lab("a", "pod", "tight", 0.0, round_s=bad)
    assert lab("a", "pod", "tight", 0.0, round_s=60).round_s == 60.0
    assert lab("a", "pod", "tight", 0.0).round_s is None


def test_report_pods_section_checks_the_targets() -> None:
    results = report_results()
    results[pod_groups_key("trustream")] = {"s1": evaluate_pods(POD_LABELS, POD_PODS)}
    text = render_markdown(results)
    # the pod groups are not a system of their own in the other tables
    assert table_row(text, "### pod: scenario s1", "") == "|  | trustream | rules |"
    assert "### pod: trustream pods" not in text
    head = "### pods: scenario s1"
    # trustream F1 = 4 / 9; rules (threshold 0.5): a1 and h1 flagged, F1 = 2 / (2 + 1 + 3)
    assert table_row(text, head, "member F1") == (
        "| member F1 | 0.444 ✗ (target >= 0.950) | 0.333 ✗ (target >= 0.950) |")
    assert table_row(text, head, "recall camouflaged") == "| recall camouflaged | 1.000 ✓ | 0.000 ✗ (target >= 0.850) |"
    assert table_row(text, head, "recall loose") == (
        "| recall loose | 0.333 ✗ (target >= 0.850) | 0.333 ✗ (target >= 0.850) |")
    assert table_row(text, head, "FPR friend_circle") == "| FPR friend_circle | n/a | n/a |"
    # trustream: o1 of 4 plain organic and h1 of 3 other hard negatives -> 2 / 7; rules: h1 only
    assert table_row(text, head, "FPR other organic") == (
        "| FPR other organic | 28.57% ✗ (target <= 0.20%) | 14.29% ✗ (target <= 0.20%) |")
    assert table_row(text, head, "found / true pods") == "| found / true pods | 4 / 2 | n/a |"
    assert table_row(text, head, "found pods with Jaccard >= 0.9") == (
        "| found pods with Jaccard >= 0.9 | 0.250 ✗ (target >= 1.000) | n/a |")
    assert table_row(text, head, "min Jaccard") == "| min Jaccard | 0.000 ✗ (target >= 0.900) | n/a |"
    assert table_row(text, head, "spurious pods (Jaccard < 0.5)") == "| spurious pods (Jaccard < 0.5) | 2 | n/a |"
    assert table_row(text, head, "latency p95 (rounds)") == "| latency p95 (rounds) | 4.00 ✗ (target <= 3.00) | n/a |"
    assert table_row(text, head, "latency p95 (h)") == "| latency p95 (h) | 2.22 | n/a |"
    assert table_row(text, "Pod groups by class, trustream:", "loose") == "| loose | 1 | 0 | 2 | 4 / 5 | 4.00 |"
    assert "- rules: member figures only, it reports no pod groups." in text
    # s2 has pod labels but no pod groups: member figures only
    assert table_row(text, "### pods: scenario s2", "found / true pods") == "| found / true pods | n/a | n/a |"
    assert render_markdown(orjson.loads(orjson.dumps(results))) == text


def test_report_has_no_pods_section_without_pod_labels() -> None:
    labels = [lab("b", "bot", "naive", 0.0), lab("o", "organic", "organic")]
    text = render_markdown({"trustream": {"s": evaluate(labels, [])},
                            pod_groups_key("trustream"): {"s": evaluate_pods(labels, [])}})
    assert "## Pods" not in text and "trustream pods" not in text


def test_report_pods_targets_met() -> None:
    labels = [*(lab(f"m{i}", "pod", "loose", 0.0, group="g", round_s=100.0) for i in range(4)),
              *(lab(f"o{i}", "organic", "organic") for i in range(3)), lab("f", "organic", "friend_circle")]
    verdicts = [verdict(f"m{i}", ("pod", 0.9, 50.0)) for i in range(4)]
    pods = [pod("P", [f"m{i}" for i in range(4)], 50.0, {f"m{i}": 50.0 + 100 * i for i in range(4)})]
    text = render_markdown({"trustream": {"s": evaluate(labels, verdicts)},
                            pod_groups_key("trustream"): {"s": evaluate_pods(labels, pods)}})
    head = "### pods: scenario s"
    assert table_row(text, head, "member F1") == "| member F1 | 1.000 ✓ |"
    assert table_row(text, head, "recall loose") == "| recall loose | 1.000 ✓ |"
    assert table_row(text, head, "recall camouflaged") == "| recall camouflaged | n/a |"
    assert table_row(text, head, "FPR friend_circle") == "| FPR friend_circle | 0.00% ✓ |"
    assert table_row(text, head, "FPR other organic") == "| FPR other organic | 0.00% ✓ |"
    assert table_row(text, head, "min Jaccard") == "| min Jaccard | 1.000 ✓ |"
    # latencies 0.5, 1.5, 2.5, 3.5 rounds: p95 is 3.5
    assert table_row(text, head, "latency p95 (rounds)") == "| latency p95 (rounds) | 3.50 ✗ (target <= 3.00) |"


def test_bots_section_checks_the_bot_targets_with_the_sophisticated_f1() -> None:
    from services.evaluation.report import class_f1

    labels = [lab("b1", "bot", "naive", 0.0), lab("b2", "bot", "sophisticated", 0.0),
              lab("b3", "bot", "sophisticated", 0.0), *(lab(f"l{i}", "organic", "liker") for i in range(300)),
              lab("n1", "organic", "night_owl")]
    verdicts = [verdict("b1", ("bot", 0.9, 10.0)), verdict("b2", ("bot", 0.9, 10.0)),
                verdict("l7", ("bot", 0.8, 10.0))]
    m = evaluate(labels, verdicts)["bot"]
    # sophisticated: 1 hit, 1 miss and the one false positive -> 2 / (2 + 1 + 1)
    assert class_f1(m, "sophisticated") == pytest.approx(0.5)
    assert class_f1(m, "naive") == pytest.approx(2 / 3)
    assert class_f1(m, "unknown") is None
    text = render_markdown({"trustream": {"w": evaluate(labels, verdicts)}})
    bots = text[text.index("## Bots"):]
    assert "| F1 sophisticated | 0.500 ✗ (target >= 0.850) |" in bots
    assert "| FPR organic actors | 0.33% ✓ (1 of 300) |" in bots
    assert "| FPR night owls | 0.00% ✓ (0 of 1) |" in bots
    assert "| FPR heavy likers | n/a |" in bots
