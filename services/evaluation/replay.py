"""Offline replay: the streaming worker's batch step over JSONL files, with no broker.

``trustream replay --events F [--profiles F] --out DIR [--batch-size N]`` runs exactly the detector
code of the worker (:class:`detectors.core.PartitionCore`: the same decoding, kernels and event time)
over one partition whose offsets are the line numbers, and writes

- ``DIR/verdicts.jsonl``: one line per account with any state, sorted by account id:
  ``{"account_id", "authenticity", "flags": [{"kind", "score", "first_ts", "reasons", "evidence"}]}``;
- ``DIR/pods.jsonl``: one line per pod found at the end of the stream, a :class:`schemas.wire.PodRecord`
  (members, evidence, and ``first_ts``, the event time from which the pod was evident), sorted by ``pod_id``;
- ``DIR/rejected.jsonl``: input lines that could not be used, with line number and reason.

Every event has its own offset (its line number), so the output does not depend on the batch size:
the same input gives byte-identical files for ``--batch-size 7`` and ``--batch-size 1000``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from detectors.core import CoreParams, PartitionCore
from detectors.pods import PodGraph, PodParams, with_pods
from schemas.codec import DecodeError, decode_events, decode_profiles
from schemas.wire import EngagementEvent, FlagRecord, PodRecord, ProfileSnapshot, ScoreRecord

#: Verdict kind of each streaming flag (the flag's own kind stays in ``evidence["signal"]``).
VERDICT_KIND = {
    "pod": "pod",
    "bot": "bot",
    "purchased_engagement": "purchased_engagement",
    "purchased_followers": "purchased_followers",
}


@dataclass
class ReplaySummary:
    events: int = 0
    profiles: int = 0
    rejected: int = 0
    duplicates: int = 0
    accounts: int = 0
    flagged: int = 0
    pods: int = 0


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        for n, line in enumerate(f, start=1):
            line = line.strip()
            if line:
                yield n, line


def _rejected(path: Path, n: int, err: DecodeError) -> bytes:
    return orjson.dumps({"file": path.name, "line": n, "reason": err.reason, "detail": err.detail,
                         "original": err.original.decode("utf-8", "replace")})


def verdict(rec: ScoreRecord) -> dict[str, Any]:
    merged: dict[str, FlagRecord] = {}
    for f in rec.flags:  # two signals of one verdict kind: keep the stronger, then the earlier
        kind = VERDICT_KIND[f.kind]
        best = merged.get(kind)
        if best is None or (f.score, -f.first_ts) > (best.score, -best.first_ts):
            merged[kind] = f
    flags = [{"kind": kind, "score": f.score, "first_ts": f.first_ts, "reasons": f.reasons,
              "evidence": {**f.evidence, "signal": f.kind}} for kind, f in sorted(merged.items())]
    out: dict[str, Any] = {"account_id": rec.account_id, "authenticity": rec.authenticity, "flags": flags}
    if rec.audience is not None:
        out["audience"] = rec.audience.model_dump(mode="json")
    return out


def replay(events: Path, profiles: Path | None, out: Path, batch_size: int = 1000,
           params: CoreParams | None = None) -> ReplaySummary:
    """Replay files through the batch step and write the verdicts (see the module docstring)."""
    if batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    for p in (events, profiles):
        if p is not None and not p.is_file():
            raise ValueError(f"no such file: {p}")
    out.mkdir(parents=True, exist_ok=True)
    core = PartitionCore(0, params)
    # the pod graph gets the pair summaries the worker would publish on the pod-edges topic
    graph = PodGraph(params.pods if params is not None else PodParams())
    summary = ReplaySummary()
    with (out / "rejected.jsonl").open("wb") as rej:
        # profiles are applied in event-time order ahead of the events of the same time
        prof: list[tuple[float, int, ProfileSnapshot]] = []
        if profiles is not None:
            for n, line in _lines(profiles):
                res_p = decode_profiles(line)
                for err in res_p.errors:
                    rej.write(_rejected(profiles, n, err) + b"\n")
                    summary.rejected += 1
                prof.extend((p.ts, n, p) for p in res_p.items)
        heapq.heapify(prof)
        summary.profiles = len(prof)
        batch: list[EngagementEvent] = []
        offsets: list[int] = []
        action_offset = [0]

        def flush() -> None:
            if not batch:
                return
            horizon = max(e.ts for e in batch)
            due: list[ProfileSnapshot] = []
            due_off: list[int] = []
            while prof and prof[0][0] <= horizon:
                _, n, p = heapq.heappop(prof)
                due.append(p)
                due_off.append(n)
            core.step_profiles(due, due_off)
            res = core.step_events(batch, offsets)
            graph.apply(res.pod_pairs)
            # one partition: the actions go straight back to this core, as the actions topic would bring them
            core.step_actions(res.actions, np.full(len(res.actions), action_offset[0], dtype=np.int64),
                              np.arange(len(res.actions)))
            action_offset[0] += 1
            summary.duplicates += res.duplicates
            batch.clear()
            offsets.clear()

        for n, line in _lines(events):
            res_e = decode_events(line)
            for err in res_e.errors:
                rej.write(_rejected(events, n, err) + b"\n")
                summary.rejected += 1
            for i, ev in enumerate(res_e.items):
                batch.append(ev)
                offsets.append((n << 8) | min(i, 255))  # one offset per event, batch-size independent
            summary.events += len(res_e.items)
            if len(batch) >= batch_size:
                flush()
        flush()
        core.flush_actions()
        rest = [heapq.heappop(prof) for _ in range(len(prof))]
        core.step_profiles([p for _, _, p in rest], [n for _, n, _ in rest])
    graph.refresh()
    pods = graph.all_pods()
    pods_of: dict[str, list[PodRecord]] = {}
    for pod in pods:
        for m in pod.members:
            pods_of.setdefault(m, []).append(pod)
    records = {core.table.ids[a]: core.score(a) for a in core.all_accounts()}
    for m in pods_of.keys() - records.keys():  # members seen only as actors
        records[m] = ScoreRecord(account_id=m, authenticity=100, flags=[], counts={}, followers=None,
                                 updated_at=0.0, partition=0, offset=-1)
    with (out / "verdicts.jsonl").open("wb") as f:
        for account in sorted(records):
            v = verdict(with_pods(records[account], pods_of.get(account, [])))
            summary.flagged += bool(v["flags"])
            f.write(orjson.dumps(v, option=orjson.OPT_SORT_KEYS) + b"\n")
    summary.accounts = len(records)
    with (out / "pods.jsonl").open("wb") as f:
        for pod in pods:
            f.write(orjson.dumps(pod.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) + b"\n")
    summary.pods = len(pods)
    return summary
