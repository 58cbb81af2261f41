"""Decoding of message values into wire objects: dead-letter reasons, batches, schema rules."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.codec import REASONS, DecodeResult, decode_events, decode_profiles
from schemas.export import WIRE_MODELS, json_schemas
from schemas.wire import EVENT_KINDS, MAX_ID_LEN, EngagementEvent, ProfileSnapshot


def event(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"event_id": "e1", "kind": "like", "ts": 1_700_000_000.5, "actor_id": "fan",
                         "target_id": "creator", "post_id": "p1"}
    d.update(over)
    return d


def profile(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"account_id": "creator", "ts": 1_700_000_000.0, "followers": 10, "following": 2,
                         "posts": 3}
    d.update(over)
    return d


def one_error(res: DecodeResult[Any]) -> tuple[str, str, int | None, bytes]:
    assert len(res.errors) == 1, res.errors
    e = res.errors[0]
    assert e.reason in REASONS and e.detail
    return e.reason, e.detail, e.index, e.original


# ---------------------------------------------------------------------------------------------------
# valid input


def test_single_object() -> None:
    res = decode_events(orjson.dumps(event()))
    assert res.errors == []
    assert res.items == [EngagementEvent(**event())]


def test_batch_array_and_empty_array() -> None:
    items = [event(event_id=f"e{j}", kind=kind) for j, kind in enumerate(["like", "comment", "follow"])]
    res = decode_events(orjson.dumps(items))
    assert res.errors == [] and [e.event_id for e in res.items] == ["e0", "e1", "e2"]
    assert [e.kind for e in res.items] == ["like", "comment", "follow"]
    empty = decode_events(b"[]")
    assert empty.items == [] and empty.errors == []


def test_unknown_extra_fields_are_ignored() -> None:
    res = decode_events(orjson.dumps(event(extra_field={"nested": [1, 2]}, another=None)))
    assert res.errors == []
    (e,) = res.items
    assert not hasattr(e, "extra_field") and "another" not in e.model_dump()
    assert e == EngagementEvent(**event())


def test_int_ts_is_accepted_as_float() -> None:
    res = decode_events(orjson.dumps(event(ts=1_700_000_000)))
    assert res.errors == []
    assert isinstance(res.items[0].ts, float) and res.items[0].ts == 1_700_000_000.0
    pres = decode_profiles(orjson.dumps(profile(ts=5, created_at=3)))
    assert pres.errors == [] and pres.items[0].ts == 5.0 and pres.items[0].created_at == 3.0
    assert isinstance(pres.items[0].created_at, float)


def test_post_by_its_creator_is_valid() -> None:
    res = decode_events(orjson.dumps(event(kind="post", actor_id="creator", target_id="creator")))
    assert res.errors == [] and res.items[0].kind == "post"


def test_message_at_the_size_limit_is_decoded() -> None:
    raw = orjson.dumps(event())
    res = decode_events(raw, max_bytes=len(raw))
    assert res.errors == [] and len(res.items) == 1


# ---------------------------------------------------------------------------------------------------
# every dead-letter reason keeps the original bytes


def test_too_large() -> None:
    raw = orjson.dumps([event(event_id=f"e{j}") for j in range(20)])
    res = decode_events(raw, max_bytes=len(raw) - 1)
    reason, detail, index, original = one_error(res)
    assert (reason, index, original) == ("too_large", None, raw)
    assert str(len(raw)) in detail
    assert res.items == []  # nothing of an oversize message is used


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"event_id": "caf\xe9"}', b'[{"a": "\xc3"}]'])
def test_not_utf8(raw: bytes) -> None:
    res = decode_events(raw)
    assert one_error(res)[0] == "not_utf8" and one_error(res)[2:] == (None, raw) and res.items == []


@pytest.mark.parametrize("raw", [b"", b"{", b'{"event_id": }', b"NaN", b'{"ts": NaN}', b'{"ts": Infinity}',
                                 b'{"ts": 1e400}', b"[1, 2,]", b'["\\ud800"]', b"\xef\xbb\xbf{}"])
def test_not_json(raw: bytes) -> None:
    res = decode_events(raw)
    reason, _, index, original = one_error(res)
    assert (reason, index, original) == ("not_json", None, raw) and res.items == []


def test_none_value_is_not_json() -> None:
    reason, _, index, original = one_error(decode_events(None))
    assert (reason, index, original) == ("not_json", None, b"")


@pytest.mark.parametrize("raw", [b"42", b'"a string"', b"null", b"true", b"1.5"])
def test_not_object(raw: bytes) -> None:
    res = decode_events(raw)
    reason, _, index, original = one_error(res)
    assert (reason, index, original) == ("not_object", None, raw) and res.items == []


@pytest.mark.parametrize("bad", [
    {k: v for k, v in event().items() if k != "ts"},  # missing field
    event(kind="share"),  # unknown kind
    event(ts="1700000000"),  # strings are never coerced
    event(ts=True),  # neither are booleans
    event(event_id=""),
    event(event_id="x" * (MAX_ID_LEN + 1)),
    event(actor_id=5),
    event(kind="post", actor_id="someone-else", target_id="creator"),  # a post names its creator
    event(text="t" * 10_000),
])
def test_schema(bad: dict[str, Any]) -> None:
    raw = orjson.dumps(bad)
    res = decode_events(raw)
    reason, _, index, original = one_error(res)
    assert (reason, index, original) == ("schema", None, raw)  # the exact bytes, not a re-encoding
    assert res.items == []


def test_schema_detail_names_the_field() -> None:
    _, detail, _, _ = one_error(decode_events(orjson.dumps(event(ts="soon"))))
    assert "ts" in detail
    _, detail, _, _ = one_error(decode_events(orjson.dumps(event(kind="post", actor_id="x"))))
    assert "actor_id == target_id" in detail


@pytest.mark.parametrize("bad", [profile(followers=-1), profile(followers=1.5), profile(posts=None),
                                 {k: v for k, v in profile().items() if k != "account_id"},
                                 profile(ts="x"), profile(followers=True)])
def test_profile_schema(bad: dict[str, Any]) -> None:
    raw = orjson.dumps(bad)
    assert one_error(decode_profiles(raw))[0::2] == ("schema", None)


# ---------------------------------------------------------------------------------------------------
# batches: one bad item does not cost the valid ones


def test_batch_with_bad_items_keeps_valid_ones() -> None:
    items: list[Any] = [event(event_id="ok-0"), event(event_id="bad-1", kind="share"), event(event_id="ok-2"),
                        17, event(event_id="ok-4", extra=1), ["nested"], event(event_id="ok-6", ts=3)]
    raw = orjson.dumps(items)
    res = decode_events(raw)
    assert [e.event_id for e in res.items] == ["ok-0", "ok-2", "ok-4", "ok-6"]
    assert [(e.reason, e.index) for e in res.errors] == [("schema", 1), ("not_object", 3), ("not_object", 5)]
    for err in res.errors:
        assert orjson.loads(err.original) == items[err.index]  # type: ignore[index]
        assert err.detail


def test_batch_of_only_bad_items() -> None:
    res = decode_events(orjson.dumps([event(ts=None), event(ts=None)]))
    assert res.items == [] and [(e.reason, e.index) for e in res.errors] == [("schema", 0), ("schema", 1)]


def test_every_reason_is_produced() -> None:
    produced = {
        one_error(decode_events(b"x" * 11, max_bytes=10))[0],
        one_error(decode_events(b"\xff"))[0],
        one_error(decode_events(b"{"))[0],
        one_error(decode_events(b"3"))[0],
        one_error(decode_events(b"{}"))[0],
        one_error(decode_events(orjson.dumps(event(ts=2e9)), max_ts=1e9))[0],
    }
    assert produced == set(REASONS)


def test_future_events_are_refused_one_by_one() -> None:
    batch = [event(event_id="a", ts=10.0), event(event_id="b", ts=1e12), event(event_id="c", ts=20.0)]
    res = decode_events(orjson.dumps(batch), max_ts=1e9)
    assert [e.event_id for e in res.items] == ["a", "c"]
    assert [(e.reason, e.index) for e in res.errors] == [("future_ts", 1)]
    assert orjson.loads(res.errors[0].original)["event_id"] == "b"
    assert len(decode_events(orjson.dumps(batch)).items) == 3  # no limit: all kept


# ---------------------------------------------------------------------------------------------------
# NaN and infinity (JSON cannot carry them through orjson, so the model is checked directly)


@pytest.mark.parametrize("ts", [math.nan, math.inf, -math.inf])
def test_non_finite_ts_rejected(ts: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        EngagementEvent.model_validate(event(ts=ts))
    with pytest.raises(ValidationError, match="finite"):
        ProfileSnapshot.model_validate(profile(ts=ts))


def test_finite_extremes_accepted() -> None:
    assert EngagementEvent.model_validate(event(ts=-1e300)).ts == -1e300
    assert EngagementEvent.model_validate(event(ts=0)).ts == 0.0


# ---------------------------------------------------------------------------------------------------
# properties


ident = st.text(min_size=1, max_size=20)
event_st = st.builds(
    lambda eid, kind, ts, actor, target, post: event(
        event_id=eid, kind=kind, ts=ts, actor_id=target if kind == "post" else actor, target_id=target,
        post_id=post),
    ident, st.sampled_from(EVENT_KINDS), st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                                   st.integers(-(2**53), 2**53)),
    ident, ident, st.none() | ident)


@settings(max_examples=100, deadline=None)
@given(st.lists(event_st, max_size=8))
def test_valid_batches_round_trip(items: list[dict[str, Any]]) -> None:
    res = decode_events(orjson.dumps(items))
    assert res.errors == []
    assert res.items == [EngagementEvent.model_validate(d) for d in items]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=64),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                                     allow_infinity=False)
                              | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                  max_size=4),
                              max_leaves=8).map(lambda d: json.dumps(d).encode())))
def test_decoding_never_raises(raw: bytes) -> None:
    res = decode_events(raw)
    for err in res.errors:
        assert err.reason in REASONS
        if err.index is None:
            assert err.original == raw
    if not res.items and not res.errors:
        assert orjson.loads(raw) == []  # only an empty batch yields nothing at all


# ---------------------------------------------------------------------------------------------------
# JSON Schema export


def test_json_schema_export() -> None:
    schemas = json_schemas()
    assert set(schemas) == set(WIRE_MODELS) == {"engagement_event", "profile_snapshot", "score", "alert",
                                                "dead_letter", "pair_summary", "pod"}
    required = {
        "engagement_event": {"event_id", "kind", "ts", "actor_id", "target_id"},
        "profile_snapshot": {"account_id", "ts", "followers", "following", "posts"},
        "score": {"account_id", "authenticity", "flags", "counts", "followers", "updated_at", "partition",
                  "offset"},
        "alert": {"alert_id", "account_id", "flag", "authenticity", "raised_at"},
        "dead_letter": {"reason", "detail", "source_topic", "source_partition", "source_offset", "index",
                        "original_b64", "original_size", "original_sha256", "truncated", "received_at"},
        "pair_summary": {"actor_id", "target_id", "count", "delay_hist", "t2", "last_ts", "last_post"},
        "pod": {"pod_id", "members", "score", "first_ts", "last_ts", "reciprocal_pairs", "directed_pairs",
                "early_engagements", "median_delay_s", "posts", "member_stats", "reasons"},
    }
    for name, req in required.items():
        assert set(schemas[name]["required"]) == req, name
        # unknown fields are ignored on the wire, so the schemas must not forbid them
        assert schemas[name].get("additionalProperties", True) is not False
    ee = schemas["engagement_event"]["properties"]
    assert set(ee["kind"]["enum"]) == set(EVENT_KINDS)
    assert {"post_id", "text"} <= set(ee) and "post_id" not in schemas["engagement_event"]["required"]
    json.dumps(schemas)  # plain JSON
