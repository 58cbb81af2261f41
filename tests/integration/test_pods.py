"""Pods across partitions: the same stream through 1 partition and 1 worker, and through 4 partitions and 2
workers, gives the same pods, equal to offline replay's, on the real broker, served by the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.brokers.base import BrokerProcess
from services.evaluation.replay import replay
from services.evaluation.simulate import World, simulate, write_world
from tests.integration.stack import Stack


@pytest.fixture(scope="module")
def pod_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, list[dict[str, Any]]]:
    world = simulate("pods", seed=1, scale=0.1, days=3.0)
    d = tmp_path_factory.mktemp("podworld")
    write_world(world, d)
    replay(d / "events.jsonl", d / "profiles.jsonl", d / "out")
    expected = [orjson.loads(line) for line in (d / "out" / "pods.jsonl").read_bytes().splitlines()]
    assert len(expected) >= 2, "the world must hold pods for the comparison to mean anything"
    return world, expected


def _messages(events: list[dict[str, Any]], window: int = 2_000) -> list[list[dict[str, Any]]]:
    """Batch messages keyed by target; each target's events keep their order."""
    out = []
    for i in range(0, len(events), window):
        by_target: dict[str, list[dict[str, Any]]] = {}
        for e in events[i : i + window]:
            by_target.setdefault(e["target_id"], []).append(e)
        out.extend(by_target.values())
    return out


def _pods(stack: Stack) -> list[dict[str, Any]]:
    r = stack.get("/v1/pods", limit=500)
    return r.json()["data"] if r.status_code == 200 else []


def _run(broker: BrokerProcess, tmp: Path, world: World, expected: list[dict[str, Any]], partitions: int,
         workers: int) -> list[dict[str, Any]]:
    tmp.mkdir()
    stack = Stack(broker, tmp, partitions=partitions)
    try:
        stack.stream_world(workers, world.profiles, _messages(world.events))
        want = sorted(tuple(p["members"]) for p in expected)
        stack.wait(lambda: sorted(tuple(p["members"]) for p in _pods(stack)) == want, 240,
                   f"{len(want)} pods through {partitions} partitions and {workers} workers")
        member = expected[0]["members"][0]
        acct = stack.get(f"/v1/accounts/{member}").json()
        assert expected[0]["pod_id"] in acct["pods"]
        flag = next(f for f in acct["flags"] if f["kind"] == "pod")
        assert flag["reasons"] and flag["evidence"]["pod_id"] in acct["pods"] and acct["authenticity"] < 100
        one = stack.get(f"/v1/pods/{expected[0]['pod_id']}").json()
        assert one["members"] == expected[0]["members"]
        return sorted(_pods(stack), key=lambda p: p["pod_id"])
    finally:
        stack.stop_all()


_FIELDS = ("pod_id", "members", "score", "first_ts", "reciprocal_pairs", "directed_pairs", "early_engagements",
           "median_delay_s", "member_stats")


def test_one_and_four_partitions_give_the_same_pods(broker: BrokerProcess, tmp_path: Path,
                                                    pod_world: tuple[World, list[dict[str, Any]]]) -> None:
    world, expected = pod_world
    one = _run(broker, tmp_path / "p1", world, expected, partitions=1, workers=1)
    four = _run(broker, tmp_path / "p4", world, expected, partitions=4, workers=2)

    def view(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: p[k] for k in _FIELDS} for p in sorted(pods, key=lambda p: p["pod_id"])]

    assert view(one) == view(four) == view(expected)
