"""Bots across partitions: every actor's actions reach its own partition through the ``actions`` topic, are put
back in event-time order behind the sources' watermarks, and give the bot scores of offline replay, through 1
partition and 1 worker and through 4 partitions and 2 workers, on the real broker, served by the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.brokers.base import BrokerProcess
from services.evaluation.replay import replay
from services.evaluation.simulate import World, simulate, write_world
from tests.integration.stack import Stack

#: Event time one message spans: producers send in near event-time order, well within the actors' partitions'
#: lateness (BotParams.lateness_s, 10 minutes), so every action is applied in event-time order, as in replay.
WINDOW_S = 120.0


def _messages(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Batch messages keyed by target, each of the events of one target within a window of event time."""
    out: list[list[dict[str, Any]]] = []
    by_target: dict[str, list[dict[str, Any]]] = {}
    start = events[0]["ts"] if events else 0.0
    for e in events:
        if e["ts"] >= start + WINDOW_S:
            out.extend(by_target.values())
            by_target, start = {}, e["ts"]
        by_target.setdefault(e["target_id"], []).append(e)
    out.extend(by_target.values())
    return out


@pytest.fixture(scope="module")
def bot_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, dict[str, dict[str, Any]]]:
    world = simulate("bots", seed=1, scale=0.1, days=2.0)
    d = tmp_path_factory.mktemp("botworld")
    write_world(world, d)
    replay(d / "events.jsonl", d / "profiles.jsonl", d / "out")
    lines = (d / "out" / "verdicts.jsonl").read_bytes().splitlines()
    verdicts = {v["account_id"]: v for v in map(orjson.loads, lines)}
    bots = [lb["account_id"] for lb in world.labels if lb["kind"] == "bot"]
    flagged = {a: v for a, v in verdicts.items() if any(f["kind"] == "bot" for f in v["flags"])}
    # a small world: the naive bots are evident, the sophisticated ones may not be yet (the eval judges that)
    assert len(set(bots) & set(flagged)) >= 3, "replay must flag bots for the comparison to mean anything"
    return world, flagged


def _bot_flag(acct: dict[str, Any]) -> dict[str, Any] | None:
    return next((f for f in acct["flags"] if f["kind"] == "bot"), None)


def _flagged_bots(stack: Stack) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        r = stack.get("/v1/accounts", flagged="true", limit=500, **({"cursor": cursor} if cursor else {}))
        if r.status_code != 200:
            return {}
        page = r.json()
        out.update({a["account_id"]: a for a in page["data"] if _bot_flag(a)})
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def _run(broker: BrokerProcess, tmp: Path, world: World, expected: dict[str, dict[str, Any]], partitions: int,
         workers: int) -> dict[str, dict[str, Any]]:
    tmp.mkdir()
    stack = Stack(broker, tmp, partitions=partitions)
    try:
        stack.stream_world(workers, world.profiles, _messages(world.events))

        def caught_up() -> bool:
            got = _flagged_bots(stack)
            return set(got) == set(expected) and all(
                _bot_flag(got[a])["evidence"]["actions"] == _bot_flag(v)["evidence"]["actions"]  # type: ignore[index]
                for a, v in expected.items())

        stack.wait(caught_up, 240, f"{len(expected)} bots through {partitions} partitions and {workers} workers")
        creator = next(lb["account_id"] for lb in world.labels if lb["kind"] == "organic" and lb["role"] == "creator")
        audience = stack.get(f"/v1/accounts/{creator}").json()["audience"]
        assert audience is not None and audience["engagers"]["sampled"] > 0, creator
        return _flagged_bots(stack)
    finally:
        stack.stop_all()


def test_one_and_four_partitions_give_the_bot_scores_of_replay(
        broker: BrokerProcess, tmp_path: Path, bot_world: tuple[World, dict[str, dict[str, Any]]]) -> None:
    world, expected = bot_world
    one = _run(broker, tmp_path / "p1", world, expected, partitions=1, workers=1)
    four = _run(broker, tmp_path / "p4", world, expected, partitions=4, workers=2)

    def view(flag: dict[str, Any] | None) -> tuple[Any, ...]:
        assert flag is not None
        evidence = {k: x for k, x in flag["evidence"].items() if k != "signal"}  # replay names the signal
        return flag["score"], flag["reasons"], evidence

    for account, v in expected.items():
        want = view(_bot_flag(v))
        for run in (one, four):
            got = view(_bot_flag(run[account]))
            diff = {k: (got[2].get(k), want[2].get(k)) for k in got[2].keys() | want[2].keys()
                    if got[2].get(k) != want[2].get(k)}
            assert got == want, (account, got[:2], want[:2], diff)
