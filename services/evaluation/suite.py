"""``make eval``: every scenario x seed simulated, replayed through trustream and the marketer rules,
scored by the same metrics, and written to ``eval/REPORT.md``.

Suites: ``standard`` (6 scenarios x 3 seeds at full size, ``make eval``) and ``small`` (6 scenarios x 1
seed at a tenth of the size, run by CI through the tests), each followed by the real-data cases of
:mod:`services.evaluation.realdata` when ``../shared/data`` is present (the report says when it is not).
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from services.evaluation import realdata
from services.evaluation.baselines import run_baselines_files
from services.evaluation.metrics import (
    evaluate,
    evaluate_authenticity,
    evaluate_pods,
    load_labels,
    load_pods,
    load_verdicts,
    write_verdicts,
)
from services.evaluation.replay import replay
from services.evaluation.report import authenticity_key, pod_groups_key, render_markdown
from services.evaluation.simulate import SCENARIOS, World, simulate, write_world
from services.settings import Settings
from services.worker.processor import core_params

log = logging.getLogger("trustream.eval")


@dataclass(frozen=True)
class Suite:
    seeds: tuple[int, ...]
    scale: float
    days: float
    real_data: bool


SUITES = {"standard": Suite((1, 2, 3), 1.0, 5.0, True), "small": Suite((1,), 0.1, 3.0, True)}


def run_suite(name: str, out: Path, report: Path | None) -> dict[str, dict[str, Any]]:
    """Run suite ``name``; scenario worlds and verdicts go to ``out``, the Markdown report to ``report``."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    suite = SUITES[name]
    params = core_params(Settings())
    # results[system][scenario] = evaluate(...); trustream's pod groups (evaluate_pods) sit beside, under
    # "trustream pods": the marketer rules have no pod rule (baselines.RULE_KIND) and so no pod groups
    results: dict[str, dict[str, Any]] = {"trustream": {}, "marketer rules": {}, pod_groups_key("trustream"): {},
                                          authenticity_key("trustream"): {}, authenticity_key("marketer rules"): {}}
    sizes: list[str] = []
    real = True
    t_start = time.perf_counter()
    data_ok, data_note = realdata.available()
    runs: list[tuple[str, str, Callable[[], World]]] = [
        (f"{scenario} (seed {seed})", f"{scenario}-{seed}",
         partial(simulate, scenario, seed, scale=suite.scale, days=suite.days))
        for scenario in SCENARIOS for seed in suite.seeds]
    if data_ok and suite.real_data:
        runs += [(name, f"real-{i}", partial(realdata.build, name)) for i, name in enumerate(realdata.CASES)]
    for key, dirname, build in runs:
        d = out / dirname
        if d.exists():
            shutil.rmtree(d)
        t0 = time.perf_counter()
        world = build()
        real = real and world.real_sources
        write_world(world, d)
        replay(d / "events.jsonl", d / "profiles.jsonl", d / "trustream", 1000, params)
        (d / "marketer").mkdir()
        write_verdicts(d / "marketer" / "verdicts.jsonl",
                       run_baselines_files(d / "events.jsonl", d / "profiles.jsonl"))
        labels = load_labels(d / "labels.jsonl")
        for system, sub in (("trustream", "trustream"), ("marketer rules", "marketer")):
            verdicts = load_verdicts(d / sub / "verdicts.jsonl")
            results[system][key] = evaluate(labels, verdicts)
            results[authenticity_key(system)][key] = evaluate_authenticity(labels, verdicts)
        results[pod_groups_key("trustream")][key] = evaluate_pods(labels, load_pods(d / "trustream" / "pods.jsonl"))
        creators = sum(1 for lb in labels if lb.role in ("creator", "member", "buyer"))
        sizes.append(f"| {key} | {len(world.events):,} | {creators:,} | {len(labels):,} | "
                     f"{time.perf_counter() - t0:.1f} s |")
        log.info("%s: %d events, %.1fs", key, len(world.events), time.perf_counter() - t0)
    if report is not None:
        head = [
            "# Evaluation report", "",
            f"Suite `{name}` ({len(SCENARIOS)} scenarios x seeds {', '.join(map(str, suite.seeds))}, scale "
            f"{suite.scale}, {suite.days:g} days of event time), run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
            f"{platform.node()} ({platform.machine()}), {time.perf_counter() - t_start:.0f} s in all. "
            "Command: `make eval` (or `.venv/bin/trustream eval-suite --suite " + name + "`).", "",
            "Sources: " + ("real labelled profiles (instafake, insta-kaggle-fake-spammer, cresci2017-users) and "
                           "bot-market offers (botmarket-mk) from ../shared/data."
                           if real else "**../shared/data absent: parametric stand-ins for profiles and offers.**"),
            "",
            "**Real-data cases** (`services/evaluation/realdata.py`: real streams as organic background with "
            "purchases injected from real offers, and the labelled fake and genuine profiles): "
            + ("included below as the `real: ...` scenarios." if data_ok and suite.real_data else
               f"**skipped**: {data_note if not data_ok else 'not part of this suite'}."), "",
            "**Detectors**: the purchase detector (`detectors/purchases.py`: MIDAS-R bursts per creator and post, "
            "and the composition of every burst and of a slow window: engagements from accounts first seen on the "
            "partition with fake-looking profiles or bot flags, against the creator's usual share), the pod detector "
            "(`detectors/pods.py`: repeated early engagement between creators, grouped across partitions), "
            "and the bot detector (`detectors/bots.py`: each actor's pace, hours, comments and speed, read in "
            "event time on the actor's partition, with copies of other accounts' comments and the profile "
            "model of `eval/PROFILE_MODEL.md`; a profile alone never flags, so the labelled profiles of the "
            "real-data case, which have no behaviour, are not flagged: their classifier's AUC is in "
            "`eval/PROFILE_MODEL.md`). Organic people who act are labelled `organic`/`liker`; `heavy_liker` "
            "and `night_owl` are heavy human likers.", "",
            "| scenario | events | creators | labels | time |", "|---|---|---|---|---|", *sizes, "",
        ]
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("\n".join(head) + "\n" + render_markdown(results))
        (report.parent / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return results
