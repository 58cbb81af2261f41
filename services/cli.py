"""The ``trustream`` command line: run, worker, api, broker, produce-demo, schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from services.settings import Settings, get_settings


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def warm_up_kernels() -> None:
    """Compile (or load from cache) every kernel before joining the group, not on the first batch."""
    from detectors.core import PartitionCore
    from schemas.wire import EngagementEvent, ProfileSnapshot

    core = PartitionCore(0)
    core.step_events([EngagementEvent(event_id="w", kind="like", ts=0.0, actor_id="a", target_id="b")], [0])
    core.step_profiles([ProfileSnapshot(account_id="b", ts=0.0, followers=1, following=1, posts=1)], [0])


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    _logging(settings)
    from faust.worker import Worker
    from prometheus_client import start_http_server

    from services.topics import ensure_topics
    from services.worker.app import create_app

    warm_up_kernels()
    asyncio.run(ensure_topics(settings))
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    app, _ = create_app(settings)
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                    override_logging=False)
    worker.execute_from_commandline()
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    settings = get_settings()
    _logging(settings)
    import uvicorn

    from services.api.main import create_api

    uvicorn.run(create_api(settings), host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level, access_log=False)
    return 0


def cmd_produce_demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    _logging(settings)
    from services.demo import run_demo
    from services.topics import ensure_topics

    async def main() -> None:
        await ensure_topics(settings)
        await run_demo(settings, speed=args.speed, history_hours=args.history_hours, seed=args.seed,
                       duration_s=args.duration)

    asyncio.run(main())
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from services.brokers.base import BrokerProcess

    broker: BrokerProcess
    if args.kind == "kafka":
        from services.brokers.kafka import start_kafka

        broker = start_kafka(Path(args.data_dir) if args.data_dir else None, args.port)
    else:
        from services.brokers.tansu import start_tansu

        broker = start_tansu(args.port)
    print(f"{broker.flavor} broker ready on {broker.bootstrap}; in another shell:")
    print(f"  export TRUSTREAM_KAFKA_BOOTSTRAP={broker.bootstrap} TRUSTREAM_BROKER_FLAVOR={broker.flavor}")
    print("Ctrl-C stops it.", flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop and broker.proc.poll() is None:
            signal.sigtimedwait([signal.SIGINT, signal.SIGTERM], 0.5)
    finally:
        broker.stop()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from services.run import run_all

    return run_all(demo=not args.no_demo, speed=args.speed)


def cmd_simulate(args: argparse.Namespace) -> int:
    from services.evaluation.simulate import simulate, stream_world, write_world

    world = simulate(args.scenario, args.seed, scale=args.scale, days=args.days)
    if not world.real_sources:
        print("note: ../shared/data not found; follower/bot profiles and bot-market offers are parametric",
              file=sys.stderr)
    if args.out:
        write_world(world, Path(args.out))
        print(f"{len(world.events)} events, {len(world.profiles)} profiles, {len(world.labels)} labels "
              f"written to {args.out}", file=sys.stderr)
    if args.kafka:
        settings = get_settings()
        from services.topics import ensure_topics

        async def go() -> int:
            await ensure_topics(settings)
            return await stream_world(world, settings, args.speed)

        n = asyncio.run(go())
        print(f"{n} events streamed to {settings.topic('events')}", file=sys.stderr)
    if not args.out and not args.kafka:
        raise ValueError("give --out DIR, --kafka, or both")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from services.evaluation.metrics import evaluate_files, evaluate_pods_files, to_json_summary
    from services.evaluation.report import pod_groups_key, render_markdown

    verdicts = Path(args.verdicts)
    result = evaluate_files(args.labels, verdicts / "verdicts.jsonl" if verdicts.is_dir() else verdicts,
                            args.threshold)
    # pod groups are scored when the verdicts come with their pods.jsonl (a replay output directory)
    pods_file = verdicts / "pods.jsonl" if verdicts.is_dir() else verdicts.with_name("pods.jsonl")
    pods = evaluate_pods_files(args.labels, pods_file) if pods_file.is_file() else None
    if args.json:
        summary: dict[str, Any] = dict(to_json_summary(result))
        if pods is not None:
            summary["pod_groups"] = {k: v for k, v in pods.items() if k != "found"}
        print(json.dumps(summary))
    else:
        name = Path(args.labels).parent.name or "scenario"
        results: dict[str, Any] = {"detector": {name: result}}
        if pods is not None:
            results[pod_groups_key("detector")] = {name: pods}
        print(render_markdown(results))
    return 0


def cmd_eval_suite(args: argparse.Namespace) -> int:
    settings = get_settings()
    _logging(settings)
    from services.evaluation.suite import run_suite

    report = Path(args.report)
    run_suite(args.suite, Path(args.out), report)
    print(report.read_text())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    settings = get_settings()
    from services.evaluation.replay import replay
    from services.worker.processor import core_params

    s = replay(Path(args.events), Path(args.profiles) if args.profiles else None, Path(args.out),
               args.batch_size, core_params(settings))
    print(f"replayed {s.events} events and {s.profiles} profiles: {s.accounts} accounts, {s.flagged} flagged, "
          f"{s.pods} pods, "
          f"{s.duplicates} duplicates dropped, {s.rejected} lines rejected (see {args.out}/rejected.jsonl)",
          file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from schemas.export import json_schemas

    schemas = json_schemas()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    else:
        print(json.dumps(schemas, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trustream", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="broker (embedded unless TRUSTREAM_KAFKA_BOOTSTRAP), worker, API, demo")
    r.add_argument("--no-demo", action="store_true", help="do not start the demo producer")
    r.add_argument("--speed", type=float, default=60.0, help="demo event time per wall second")
    r.set_defaults(fn=cmd_run)
    sub.add_parser("worker", help="the Faust worker (needs TRUSTREAM_KAFKA_BOOTSTRAP)").set_defaults(fn=cmd_worker)
    sub.add_parser("api", help="the scores API on TRUSTREAM_API_HOST:TRUSTREAM_API_PORT").set_defaults(fn=cmd_api)
    b = sub.add_parser("broker", help="start a broker on loopback in the foreground")
    b.add_argument("--kind", choices=("tansu", "kafka"), default="tansu")
    b.add_argument("--port", type=int, default=None)
    b.add_argument("--data-dir", default=None, help="Apache Kafka log dir (default: a temp dir)")
    b.set_defaults(fn=cmd_broker)
    d = sub.add_parser("produce-demo", help="stream the demo world into the events topic")
    d.add_argument("--speed", type=float, default=60.0)
    d.add_argument("--history-hours", type=float, default=72.0)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--duration", type=float, default=None, help="stop after this many wall seconds")
    d.set_defaults(fn=cmd_produce_demo)
    sm = sub.add_parser("simulate", help="a labelled world of creators and fraud (files and/or Kafka)")
    sm.add_argument("--scenario", required=True, help="organic, pods, bots, purchased_engagement, "
                    "purchased_followers or mixed")
    sm.add_argument("--seed", type=int, default=1)
    sm.add_argument("--out", default=None, help="write events.jsonl, profiles.jsonl, labels.jsonl here")
    sm.add_argument("--scale", type=float, default=1.0, help="creators relative to the standard size")
    sm.add_argument("--days", type=float, default=5.0, help="event-time length of the world")
    sm.add_argument("--kafka", action="store_true", help="stream into the events topic (TRUSTREAM_KAFKA_BOOTSTRAP)")
    sm.add_argument("--speed", type=float, default=60.0, help="with --kafka: event time per wall second")
    sm.set_defaults(fn=cmd_simulate)
    rp = sub.add_parser("replay", help="run the detectors over JSONL files, no broker; writes verdicts.jsonl")
    rp.add_argument("--events", required=True, help="events.jsonl (wire contract, event-time order)")
    rp.add_argument("--profiles", default=None, help="profiles.jsonl (optional)")
    rp.add_argument("--out", required=True, help="output directory")
    rp.add_argument("--batch-size", type=int, default=1000, help="events per batch step (output does not change)")
    rp.set_defaults(fn=cmd_replay)
    ev = sub.add_parser("eval", help="score verdicts against labels (precision, recall, FPR, latency)")
    ev.add_argument("--labels", required=True, help="labels.jsonl")
    ev.add_argument("--verdicts", required=True, help="a replay output directory or a verdicts.jsonl")
    ev.add_argument("--threshold", type=float, default=0.0, help="flags count only from this score on")
    ev.add_argument("--json", action="store_true",
                    help="one JSON object {kind: {precision, recall, ...}}, plus pod_groups when the verdicts "
                         "directory has a pods.jsonl")
    ev.set_defaults(fn=cmd_eval)
    es = sub.add_parser("eval-suite", help="simulate, replay and score the standard scenarios (make eval)")
    es.add_argument("--suite", choices=("standard", "small"), default="standard")
    es.add_argument("--out", default="eval/out", help="worlds and verdicts (git-ignored)")
    es.add_argument("--report", default="eval/REPORT.md")
    es.set_defaults(fn=cmd_eval_suite)
    s = sub.add_parser("schema", help="print (or write) the JSON Schemas of the wire contract")
    s.add_argument("--out", default=None)
    s.set_defaults(fn=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error for configuration problems
        if isinstance(exc, RuntimeError | ValueError) and not os.environ.get("TRUSTREAM_DEBUG"):
            print(f"trustream: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
