"""The eval harness end to end at its small size (what CI runs of `make eval`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main
from services.evaluation import realdata
from services.evaluation.metrics import FRAUD_KINDS


def test_small_suite_writes_a_report_with_every_kind_and_system(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "REPORT.md"
    assert main(["eval-suite", "--suite", "small", "--out", str(tmp_path / "out"), "--report", str(report)]) == 0
    text = report.read_text()
    assert text in capsys.readouterr().out
    for kind in FRAUD_KINDS:
        assert f"## {kind}" in text
    assert "marketer rules" in text and "trustream" in text and "FPR organic" in text
    results = json.loads((tmp_path / "results.json").read_text())
    if realdata.available()[0]:  # ../shared/data present: the real-data cases are in the report too
        for case in realdata.CASES:
            assert case in results["trustream"] and case in text
        profiles = results["marketer rules"]["real: fake and genuine profiles"]["bot"]
        assert profiles["n_pos"] > 5_000 and profiles["recall"] is not None
    else:
        assert "**skipped**" in text
    organic = results["trustream"]["organic (seed 1)"]
    assert all(organic[k]["tp"] == 0 and organic[k]["fpr"] is not None for k in FRAUD_KINDS)
    # eval on one replay output gives the documented JSON summary
    d = tmp_path / "out" / "purchased_engagement-1"
    capsys.readouterr()
    assert main(["eval", "--labels", str(d / "labels.jsonl"), "--verdicts", str(d / "trustream"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {*FRAUD_KINDS, "pod_groups"}  # a replay directory brings its pods.jsonl
    assert summary["pod_groups"]["n_found"] == 0 and summary["pod_groups"]["n_true"] == 0
    assert set(summary["purchased_engagement"]) == {"precision", "recall", "f1", "fpr", "latency_p50_s",
                                                    "latency_p95_s"}
    assert summary["purchased_engagement"]["recall"] is not None


def test_real_data_absence_is_reported(tmp_path: Path) -> None:
    ok, why = realdata.available(tmp_path)
    assert not ok and "snap-collegemsg" in why
