"""The API's routes over a view fed directly (the view's Kafka side is covered by integration tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from detectors.pods import pod_id_of
from detectors.scoring import authenticity, authenticity_of, deductions
from schemas.wire import FlagRecord, PodMember, PodRecord, ScoreRecord
from services.api.main import create_api
from services.api.routes.accounts import to_public
from services.api.view import ScoresView
from services.settings import Settings


def record(account: str, flagged: bool, ts: float = 1.0) -> ScoreRecord:
    flags = [FlagRecord(kind="purchased_engagement", score=0.8, first_ts=ts, last_ts=ts, reasons=["r"],
                        evidence={"count": 99})] if flagged else []
    lost = deductions(flags)
    return ScoreRecord(account_id=account, authenticity=authenticity_of(lost), flags=flags, deductions=lost,
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
    assert body["flagged"] and body["authenticity"] == 32 and body["flags"][0]["reasons"] == ["r"]
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


# --- pods ------------------------------------------------------------------------------------------


def pod(members: list[str], score: float = 0.7, ts: float = 1_700_000_000.0, active: bool = True,
        superseded_by: list[str] | None = None) -> PodRecord:
    """A pod as the detector publishes it: id from the sorted members, stats for every member."""
    members = sorted(members)
    n = len(members)
    stats = [PodMember(account_id=m, engaged=2 * (n - 1) + i, received=2 * (n - 1), partners=n - 1,
                       reciprocal=n - 1, first_ts=ts + 60.0 * i) for i, m in enumerate(members)]
    return PodRecord(pod_id=pod_id_of(members), active=active, superseded_by=superseded_by or [], members=members,
                     score=score, first_ts=ts, last_ts=ts + 7_200.0, reciprocal_pairs=n * (n - 1) // 2,
                     directed_pairs=n * (n - 1), early_engagements=2 * n * (n - 1), median_delay_s=95.0,
                     posts=[f"{m}/p{k}" for m in members for k in range(2)][:20],
                     member_stats=stats, reasons=[f"{n} creators engage each other's posts within minutes"])


def publish(view: ScoresView, p: PodRecord) -> None:
    """What the view's consumer does with one message of the pods topic."""
    view.apply_pod_value(p.model_dump_json().encode(), p.pod_id.encode())


def pod_pages(c: TestClient, **params: object) -> tuple[list[list[str]], int]:
    out, cursor, total = [], None, -1
    while True:
        q = {**params, **({"cursor": cursor} if cursor else {})}
        body = c.get("/v1/pods", params=q).json()
        out.append([p["pod_id"] for p in body["data"]])
        assert body["count"] == len(body["data"])
        total = body["total"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out, total


def test_pods_pages_by_id_active_by_default(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    assert c.get("/v1/pods").json() == {"data": [], "count": 0, "total": 0, "next_cursor": None}
    groups = [pod([f"acct{i:02d}", f"acct{i + 1:02d}", f"acct{i + 2:02d}"]) for i in range(7)]
    for p in groups:
        publish(view, p)
    ids = sorted(p.pod_id for p in groups)
    got, total = pod_pages(c, limit=3)
    assert [len(p) for p in got] == [3, 3, 1] and sum(got, []) == ids and total == 7
    assert sum(pod_pages(c, limit=100)[0], []) == ids  # capped at api_page_max=4: 4 + 3
    assert c.get("/v1/pods", params={"cursor": ids[4]}).json()["data"][0]["pod_id"] == ids[5]
    assert c.get("/v1/pods", params={"limit": 0}).status_code == 422
    # retire two: they move from the default listing to active=false
    for p in groups[:2]:
        publish(view, p.model_copy(update={"active": False, "superseded_by": [groups[2].pod_id]}))
    assert sum(pod_pages(c)[0], []) == sorted(p.pod_id for p in groups[2:])
    retired, total = pod_pages(c, active="false", limit=1)
    assert retired == [[i] for i in sorted(p.pod_id for p in groups[:2])] and total == 2
    assert pod_pages(c, active="true")[1] == 5


def test_pod_by_id_and_unknown(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    p = pod(["acct01", "acct02", "acct04", "acct05"])
    publish(view, p)
    body = c.get(f"/v1/pods/{p.pod_id}").json()
    assert body["pod_id"] == p.pod_id and body["active"] and body["superseded_by"] == []
    assert body["members"] == ["acct01", "acct02", "acct04", "acct05"] and body["score"] == 0.7
    assert body["member_stats"][0] == {"account_id": "acct01", "engaged": 6, "received": 6, "partners": 3,
                                       "reciprocal": 3, "first_ts": 1_700_000_000.0}
    assert body["median_delay_s"] == 95.0 and body["reasons"] == p.reasons and len(body["posts"]) == 8
    r = c.get("/v1/pods/pod-000000000000")
    assert r.status_code == 404 and "pod-000000000000" in r.json()["detail"]
    assert status(view)["pods"] == 1


def status(view: ScoresView) -> dict[str, Any]:
    return asyncio.run(view.status())


def test_account_shows_pods_flag_and_lowered_authenticity(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    big = pod(["acct01", "acct02", "acct03", "acct04"], score=0.9)
    small = pod(["acct03", "acct07", "acct08"], score=0.6)
    publish(view, small)
    publish(view, big)
    # acct03 already had a purchase flag (32): the strongest pod adds its flag, both pods are listed
    body = c.get("/v1/accounts/acct03").json()
    assert body["pods"] == sorted([big.pod_id, small.pod_id])
    kinds = [f["kind"] for f in body["flags"]]
    assert kinds == ["purchased_engagement", "pod"] and body["flagged"]
    flag = body["flags"][1]
    assert flag["score"] == 0.9 and flag["evidence"]["pod_id"] == big.pod_id
    assert sorted(flag["evidence"]["pod_ids"]) == sorted([big.pod_id, small.pod_id])
    assert flag["evidence"]["members"] == ["acct01", "acct02", "acct04"]
    assert any(small.pod_id in r for r in flag["reasons"])
    flags = [FlagRecord(**f) for f in body["flags"]]
    assert body["authenticity"] == authenticity(flags) == max(0, 100 - round(85 * 0.8) - round(85 * 0.9)) == 0
    # every point lost has its reason code; the sum is capped at 100
    assert [(d["code"], d["points"]) for d in body["deductions"]] == [("purchased_engagement", 68), ("pod", 76)]
    assert body["alert"] and body["alert_below"] == 60
    # acct01 had no flag of its own: the pod alone flags it
    one = c.get("/v1/accounts/acct01").json()
    assert one["flagged"] and [f["kind"] for f in one["flags"]] == ["pod"] and one["pods"] == [big.pod_id]
    assert one["authenticity"] == authenticity([FlagRecord(**one["flags"][0])]) == 100 - round(85 * 0.9) == 24
    # an account outside every pod is unchanged
    assert c.get("/v1/accounts/acct05").json() == to_public(view.accounts["acct05"], [], 60).model_dump()
    # the list endpoint serves the same merged records
    listed = {a["account_id"]: a for a in c.get("/v1/accounts", params={"limit": 4}).json()["data"]}
    assert listed["acct03"] == body and listed["acct01"] == one


def test_flagged_listing_includes_pod_members_with_a_score(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    own = ["acct00", "acct03", "acct06", "acct09"]
    assert sum(pages(c, flagged="true", limit=3), []) == own
    p = pod(["acct01", "acct02", "acct03", "newcomer"])
    publish(view, p)
    # "newcomer" is known from the pods topic only: listed once its score record arrives, not before
    assert sum(pages(c, flagged="true", limit=3), []) == sorted([*own, "acct01", "acct02"])
    assert "newcomer" not in sum(pages(c, limit=4), [])
    r = c.get("/v1/accounts/newcomer")
    assert r.status_code == 404 and p.pod_id in r.json()["detail"]
    unflagged = sum(pages(c, flagged="false", limit=4), [])
    assert unflagged == ["acct04", "acct05", "acct07", "acct08"]
    assert c.get("/v1/accounts", params={"flagged": "false"}).json()["total"] == 4
    assert c.get("/v1/accounts", params={"flagged": "true"}).json()["total"] == 6
    view.apply(record("newcomer", flagged=False))
    assert "newcomer" in sum(pages(c, flagged="true", limit=3), [])
    new = c.get("/v1/accounts/newcomer").json()
    assert new["flagged"] and new["pods"] == [p.pod_id] and new["authenticity"] == 100 - round(85 * 0.7)
    assert status(view)["flagged"] == 7


def test_retired_pod_ends_membership_and_flag(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    old = pod(["acct01", "acct02", "acct04"])
    publish(view, old)
    assert c.get("/v1/accounts/acct04").json()["flagged"]
    # acct04 leaves, acct05 joins: a new id, and the old one published again as retired
    new = pod(["acct01", "acct02", "acct05"], ts=1_700_003_600.0)
    publish(view, new)
    publish(view, old.model_copy(update={"active": False, "superseded_by": [new.pod_id]}))
    gone = c.get("/v1/accounts/acct04").json()
    assert not gone["flagged"] and gone["flags"] == [] and gone["authenticity"] == 100 and gone["pods"] == []
    assert "acct04" not in view.pods_of and "acct04" not in view.flagged
    assert c.get("/v1/accounts/acct01").json()["pods"] == [new.pod_id]
    assert c.get("/v1/accounts/acct05").json()["pods"] == [new.pod_id]
    retired = c.get(f"/v1/pods/{old.pod_id}").json()
    assert retired["active"] is False and retired["superseded_by"] == [new.pod_id]
    assert sum(pod_pages(c)[0], []) == [new.pod_id]
    assert sum(pod_pages(c, active="false")[0], []) == [old.pod_id]
    # a group that comes back gets its old (content-addressed) id back, active again
    publish(view, old)
    assert c.get("/v1/accounts/acct04").json()["pods"] == [old.pod_id]
    assert sum(pod_pages(c, active="false")[0], []) == []
    # a tombstone on the compacted topic forgets the pod
    view.apply_pod_value(None, old.pod_id.encode())
    assert old.pod_id not in view.pods and c.get(f"/v1/pods/{old.pod_id}").status_code == 404
    assert not c.get("/v1/accounts/acct04").json()["flagged"]
    assert view.bad_records == 0


def test_bad_pods_records_are_counted_and_skipped(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    good = pod(["acct01", "acct02", "acct04"])
    publish(view, good)
    doc = orjson.loads(good.model_dump_json())
    bad_values: list[bytes | None] = [
        b"{not json",
        None,  # no key: not a tombstone
        b"[]",
        orjson.dumps({**doc, "score": 1.5}),
        orjson.dumps({k: v for k, v in doc.items() if k != "members"}),
        orjson.dumps({**doc, "members": ["acct01", "acct02", "acct04", "acct05"]}),  # acct05 has no stats
        orjson.dumps({**doc, "reciprocal_pairs": "3"}),  # no coercion from strings
    ]
    for value in bad_values:
        view.apply_pod_value(value, None)
    assert view.bad_records == len(bad_values)
    assert list(view.pods) == [good.pod_id] and view.pods[good.pod_id] == good
    assert "acct05" not in view.pods_of and not c.get("/v1/accounts/acct05").json()["flagged"]
    assert c.get("/v1/accounts/acct04").json()["pods"] == [good.pod_id]
    assert status(view)["unreadable_records"] == len(bad_values)
    # a retired record needs no member stats (nobody gets a flag from it)
    publish(view, good.model_copy(update={"active": False, "member_stats": []}))
    assert view.bad_records == len(bad_values) and view.pods_of == {}


def test_account_shows_its_audience_and_the_points_it_costs(client: tuple[TestClient, ScoresView]) -> None:
    c, view = client
    from schemas.wire import Audience, AudienceMix

    mix = AudienceMix(sampled=16, real=0.25, mass_follower=0.0, influencer=0.0, suspicious=0.625, unknown=0.125)
    aud = Audience(engagers=mix, followers=mix, suspicious_engagers=0.714, suspicious_followers=None,
                   non_follower_engagers=0.9, points=31, reasons=["71% of a sample of 14 likers and commenters ..."])
    rec = record("buyer", flagged=False).model_copy(update={"audience": aud, "authenticity": 100 - 31})
    view.apply(rec)
    body = c.get("/v1/accounts/buyer").json()
    assert body["authenticity"] == 69 and body["audience"]["points"] == 31
    assert body["audience"]["engagers"]["suspicious"] == 0.625 and body["audience"]["reasons"] == aud.reasons
    assert c.get("/v1/accounts/acct01").json()["audience"] is None


def test_alert_threshold_is_the_callers_choice(client: tuple[TestClient, ScoresView]) -> None:
    """?alert_below= picks the threshold; ?alerting=true lists exactly the accounts below it, paged."""
    c, view = client
    flagged = ["acct00", "acct03", "acct06", "acct09"]  # purchase flag of score 0.8: authenticity 32
    assert all(view.accounts[a].authenticity == 32 for a in flagged)
    assert sum(pages(c, alerting="true", limit=3), []) == flagged  # default threshold 60
    assert sum(pages(c, alerting="true", alert_below=32, limit=3), []) == []  # strictly below
    assert sum(pages(c, alerting="true", alert_below=33, limit=3), []) == flagged
    body = c.get("/v1/accounts", params={"alerting": "true", "alert_below": 33}).json()
    assert body["total"] == 4 and all(a["alert"] and a["alert_below"] == 33 for a in body["data"])
    one = c.get("/v1/accounts/acct01", params={"alert_below": 100}).json()
    assert one["authenticity"] == 100 and not one["alert"] and one["deductions"] == []
    assert c.get("/v1/accounts/acct00", params={"alert_below": 20}).json()["alert"] is False
    p = pod(["acct01", "acct02"], score=0.5)  # a pod at its threshold: 42 points, below 60
    publish(view, p)
    assert sum(pages(c, alerting="true", limit=10), []) == sorted([*flagged, "acct01", "acct02"])
    for bad in (0, 101, "x"):
        assert c.get("/v1/accounts", params={"alerting": "true", "alert_below": bad}).status_code == 422
