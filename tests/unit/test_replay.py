"""Offline replay: same code as the worker, output independent of the batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from services.cli import main
from services.demo import SLOT_S, fraud_profiles, make_creators, slot_events

T0 = 1_700_000_000.0 // SLOT_S * SLOT_S


def write_world(d: Path, hours: float = 30.0) -> tuple[Path, Path]:
    rng = np.random.default_rng(11)
    pop = make_creators(rng, 8)
    live = T0 + (hours - 2) * 3600
    lines: list[bytes] = []
    t = T0
    while t < T0 + hours * 3600:
        for _, evs in slot_events(rng, pop, t, live):
            lines += [orjson.dumps(e) for e in evs]
        t += SLOT_S
    lines.insert(100, b'{"kind":')  # malformed
    lines.insert(200, lines[150])  # a re-sent duplicate
    events = d / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    profiles = d / "profiles.jsonl"
    profiles.write_bytes(b"\n".join(orjson.dumps({"account_id": c.account_id, "ts": T0, "followers": c.followers,
                                                  "following": 10, "posts": 3}) for c in pop)
                           + b"".join(b"\n" + orjson.dumps(p) for p in fraud_profiles(T0)) + b"\n")
    return events, profiles


def run(events: Path, profiles: Path, out: Path, batch: int) -> int:
    return main(["replay", "--events", str(events), "--profiles", str(profiles), "--out", str(out),
                 "--batch-size", str(batch)])


def test_batch_size_does_not_change_a_byte(tmp_path: Path) -> None:
    events, profiles = write_world(tmp_path)
    assert run(events, profiles, tmp_path / "a", 1000) == 0
    assert run(events, profiles, tmp_path / "b", 7) == 0
    for name in ("verdicts.jsonl", "pods.jsonl", "rejected.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    verdicts = [orjson.loads(line) for line in (tmp_path / "a/verdicts.jsonl").read_bytes().splitlines()]
    assert [v["account_id"] for v in verdicts] == sorted(v["account_id"] for v in verdicts)
    flagged = {v["account_id"]: v["flags"] for v in verdicts if v["flags"]}
    pod = {f"pod_member_{k}" for k in range(5)}
    assert set(flagged) == {"creator_buys_likes", "creator_buys_followers", "bot_liker"} | pod
    (bot,) = flagged["bot_liker"]
    assert bot["kind"] == "bot" and "every 60 s" in bot["reasons"][0]
    assert all([f["kind"] for f in flagged[m]] == ["pod"] for m in pod)
    (found,) = [orjson.loads(line) for line in (tmp_path / "a/pods.jsonl").read_bytes().splitlines()]
    assert set(found["members"]) == pod and found["reciprocal_pairs"] == 10
    (likes,) = flagged["creator_buys_likes"]
    assert likes["kind"] == "purchased_engagement" and likes["evidence"]["signal"] == "purchased_engagement"
    assert likes["evidence"]["delivery"] == "burst" and likes["evidence"]["post_id"] is not None
    assert likes["evidence"]["post_id"] in likes["reasons"][0] and 0.5 <= likes["score"] <= 1
    (follows,) = flagged["creator_buys_followers"]
    assert follows["kind"] == "purchased_followers" and follows["evidence"]["delivery"] == "burst"
    rejected = [orjson.loads(line) for line in (tmp_path / "a/rejected.jsonl").read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejected] == [(101, "not_json")]


def test_duplicate_lines_count_once(tmp_path: Path) -> None:
    events, profiles = write_world(tmp_path, hours=3)
    lines = events.read_bytes().splitlines()
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_bytes(b"\n".join(lines + lines) + b"\n")
    run(events, profiles, tmp_path / "once", 50)
    run(doubled, profiles, tmp_path / "twice", 50)
    assert (tmp_path / "once/verdicts.jsonl").read_bytes() == (tmp_path / "twice/verdicts.jsonl").read_bytes()


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--events", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_eval_scores_the_pods_of_a_replay_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, profiles = write_world(tmp_path)
    assert run(events, profiles, tmp_path / "out", 1000) == 0
    labels = tmp_path / "labels.jsonl"
    rows = [{"account_id": f"pod_member_{k}", "kind": "pod", "class": "tight", "role": "member", "group": "g",
             "start_ts": T0, "round_s": 14_400.0} for k in range(4)]  # one member left out of the truth
    rows.append({"account_id": "creator_000", "kind": "organic", "class": "organic", "role": "creator"})
    labels.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    capsys.readouterr()
    assert main(["eval", "--labels", str(labels), "--verdicts", str(tmp_path / "out"), "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    groups = out["pod_groups"]
    assert groups["n_true"] == 1 and groups["n_found"] == 1 and groups["jaccard_min"] == 0.8
    assert out["pod"]["recall"] == 1.0 and out["pod"]["precision"] == 0.8  # pod_member_4 is unlabelled
