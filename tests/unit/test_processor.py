"""The worker's message step without a broker: dead letters, future events, outputs; and ops files."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY

import services.metrics  # noqa: F401 - registers every metric
from services.cli import main
from services.settings import Settings, get_settings
from services.worker.processor import BatchProcessor, InMessage

ROOT = Path(__file__).resolve().parents[2]
EVENTS = "trustream.events"


def processor(**kw: object) -> BatchProcessor:
    p = BatchProcessor(Settings(kafka_bootstrap="127.0.0.1:1", **kw))  # type: ignore[arg-type]
    p.install(0, {})
    return p


def ev(i: int, ts: float) -> dict[str, object]:
    return {"event_id": f"e{i}", "kind": "like", "ts": ts, "actor_id": f"u{i}", "target_id": "c"}


def test_oversized_message_dead_letter_keeps_a_bounded_prefix_and_a_digest() -> None:
    p = processor(max_message_bytes=4096, dlq_max_original_bytes=1024)
    big = orjson.dumps([ev(i, 1.0) for i in range(100)])
    assert len(big) > 4096
    out = p.process([InMessage(EVENTS, 0, 7, big)])
    (dead,) = out.dead
    assert dead.reason == "too_large" and dead.truncated and dead.original_size == len(big)
    assert base64.b64decode(dead.original_b64) == big[:1024]
    assert dead.original_sha256 == hashlib.sha256(big).hexdigest()
    assert (dead.source_topic, dead.source_partition, dead.source_offset) == (EVENTS, 0, 7)


def test_future_event_is_dead_lettered_and_the_rest_of_its_batch_applied() -> None:
    p = processor()
    now = time.time()
    batch = [ev(1, now - 10), ev(2, now + 10 * 86_400), ev(3, now - 5)]
    out = p.process([InMessage(EVENTS, 0, 0, orjson.dumps(batch))])
    assert [(d.reason, d.index, d.truncated) for d in out.dead] == [("future_ts", 1, False)]
    (score,) = out.scores[0]
    assert score.counts["likes"] == 2
    # the future event did not move the account's window: a later in-time event still counts in-window
    out = p.process([InMessage(EVENTS, 0, 1, orjson.dumps([ev(4, now)]))])
    assert out.scores[0][0].counts["late_events"] == 0


def test_heartbeats_state_the_position_past_unreadable_messages_and_go_idle_when_quiet() -> None:
    """A partition whose last message went to the DLQ is still at its end (else it would hold the others'
    actions back for ever); it says it is idle only after ``idle_after_s`` without events."""
    p = processor(partitions=2, stream_actions=True)
    now = time.time()
    p.process([InMessage(EVENTS, 0, 0, orjson.dumps([ev(1, now - 10)]))])
    out = p.process([InMessage(EVENTS, 0, 1, b"not json")])
    assert len(out.dead) == 1
    beats = p.heartbeats([0], idle_after_s=3_600.0)
    assert sorted(beats) == [0, 1]  # to every partition
    (b,) = beats[1]
    assert (b.source, b.position, b.idle, b.watermark) == (0, 2, False, now - 10)
    assert all(x.idle for x in p.heartbeats([0], idle_after_s=0.0)[0])
    # a partition just restored states where its checkpoint left it
    p.install(1, {})
    assert p.heartbeats([1], idle_after_s=3_600.0)[0][0].position == 0


def test_dashboard_charts_only_metrics_that_exist() -> None:
    dash = json.loads((ROOT / "deploy/grafana/trustream-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dash["panels"] for t in panel["targets"]]
    used = {m for e in exprs for m in re.findall(r"trustream_[a-z_]+", e)}
    # families with labels have no samples until first used: compare with family names and their suffixes
    registered = {metric.name + suffix for metric in REGISTRY.collect()
                  for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    assert used and used <= registered, used - registered


def test_cli_without_a_bootstrap_says_what_to_set(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TRUSTREAM_KAFKA_BOOTSTRAP", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["worker"]) == 2
    finally:
        get_settings.cache_clear()
    assert "TRUSTREAM_KAFKA_BOOTSTRAP is not set" in capsys.readouterr().err


def test_placeholder_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(sasl_mechanism="PLAIN", sasl_username="u",
                 sasl_password="changeme")  # type: ignore[arg-type]  # noqa: S106 - the placeholder under test


def test_creators_are_rescored_when_their_audience_changes_category() -> None:
    """A creator's likers turn out to be fake accounts (their profiles arrive after the likes, on their own
    partitions): the refresh re-scores the creator, and only it, with the new audience mix."""
    from detectors.bots import partitions_of

    p = BatchProcessor(Settings(kafka_bootstrap="127.0.0.1:1", partitions=2))
    for q in (0, 1):
        p.install(q, {})
    likers = [f"fan{j}" for j in range(12)]
    creator_p = int(partitions_of(["star"], 2)[0])
    likes = [{"event_id": f"l{j}", "kind": "like", "ts": 1.7e9 + j, "actor_id": a, "target_id": "star"}
             for j, a in enumerate(likers)]
    p.process([InMessage(EVENTS, creator_p, 0, orjson.dumps(likes))])
    assert len(p.refresh_audience().scores) == 0  # nothing changed yet
    fake = {"ts": 1.7e9, "followers": 2, "following": 7_500, "posts": 0, "has_avatar": False, "bio_len": 0}
    msgs = [InMessage("trustream.profiles", int(q), j, orjson.dumps({"account_id": a, **fake}))
            for j, (a, q) in enumerate(zip(likers, partitions_of(likers, 2), strict=True))]
    p.process(msgs)
    out = p.refresh_audience()
    (rec,) = out.scores[creator_p]
    assert rec.account_id == "star" and rec.audience is not None
    assert rec.audience.engagers.sampled == 12 and rec.audience.engagers.unknown == 0
    assert rec.audience.suspicious_engagers is not None and rec.audience.suspicious_engagers > 0.5
    assert len(p.refresh_audience().scores) == 0  # each change once
