"""The API's routes over a view fed directly (the view's Kafka side is covered by integration tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from schemas.wire import FlagRecord, ScoreRecord
from services.api.main import create_api
from services.api.view import ScoresView
from services.settings import Settings


def record(account: str, flagged: bool, ts: float = 1.0) -> ScoreRecord:
    flags = [FlagRecord(kind="engagement_spike", score=0.8, first_ts=ts, last_ts=ts, reasons=["r"],
                        evidence={"count": 99})] if flagged else []
    return ScoreRecord(account_id=account, authenticity=68 if flagged else 100, flags=flags,
                       counts={"likes": 3}, followers=None, updated_at=ts, partition=0, offset=0)


@pytest.fixture
def client() -> Iterator[tuple[TestClient, ScoresView]]:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", api_page_max=4)
    view = ScoresView(settings)
    for i in range(10):
        view.apply(record(f"acct{i:02d}", flagged=i % 3 == 0))
    with TestClient(create_api(settings, view)) as c:
        yield c, view


def pages(c: TestClient, **params: object) -> list[list[str]]:
    out, cursor = [], None
    while True:
        q = {**params, **({"cursor": cursor} if cursor else {})}
        body = c.get("/v1/accounts", params=q).json()
        out.append([a["account_id"] for a in body["data"]])
        assert body["count"] == len(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out


def test_pages_cover_each_account_once(client: tuple[TestClient, ScoresView]) -> None:
    c, _ = client
    got = pages(c, limit=3)
    assert [len(p) for p in got] == [3, 3, 3, 1]
    assert sum(got, []) == [f"acct{i:02d}" for i in range(10)]
    assert sum(pages(c, flagged="true", limit=2), []) == ["acct00", "acct03", "acct06", "acct09"]
    assert sum(pages(c, flagged="false", limit=4), []) == [f"acct{i:02d}" for i in range(10) if i % 3]


def test_limit_is_capped_and_validated(client: tuple[TestClient, ScoresView]) -> None:
    c, _ = client
    assert len(c.get("/v1/accounts", params={"limit": 1000}).json()["data"]) == 4  # api_page_max
    assert c.get("/v1/accounts", params={"limit": 0}).status_code == 422


def test_account_detail_and_unknown(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    body = c.get("/v1/accounts/acct03").json()
    assert body["flagged"] and body["authenticity"] == 68 and body["flags"][0]["reasons"] == ["r"]
    assert c.get("/v1/accounts/nope").status_code == 404
    view.apply(record("acct03", flagged=False, ts=2.0))  # a newer record clears the flag
    assert not c.get("/v1/accounts/acct03").json()["flagged"]
    assert "acct03" not in sum(pages(c, flagged="true", limit=4), [])


def test_readyz_is_503_without_a_broker(client: tuple[TestClient, ScoresView]) -> None:
    c, _ = client
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["detail"]["caught_up"] is False
    assert c.get("/healthz").status_code == 200
    assert "trustream_api_request_seconds" in c.get("/metrics").text
