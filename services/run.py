"""``trustream run``: the whole system on one machine, stopped cleanly by Ctrl-C.

Starts the embedded broker unless ``TRUSTREAM_KAFKA_BOOTSTRAP`` is set, then the worker, the API
and (unless ``--no-demo``) the demo producer as child processes, each in its own session so that
only this process decides how they stop: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.brokers.base import BrokerProcess
from services.settings import Settings

GRACE_S = 15.0


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", *args], env=env, start_new_session=True)


def _stop_all(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + GRACE_S
    for _, proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:  # the child's own children too (its whole process group)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_all(demo: bool = True, speed: float = 60.0) -> int:
    env = dict(os.environ)
    broker: BrokerProcess | None = None
    s = Settings()  # the children read the same environment
    logdir = Path(s.data_dir)
    logdir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        if not env.get("TRUSTREAM_KAFKA_BOOTSTRAP"):
            from services.brokers.tansu import start_tansu

            broker = start_tansu(log_path=logdir / "tansu.log")
            env["TRUSTREAM_KAFKA_BOOTSTRAP"] = broker.bootstrap
            env["TRUSTREAM_BROKER_FLAVOR"] = "tansu"
            print(f"embedded Tansu broker on {broker.bootstrap} (log: {logdir / 'tansu.log'})", flush=True)
        settings = Settings(kafka_bootstrap=env["TRUSTREAM_KAFKA_BOOTSTRAP"],
                            broker_flavor=env.get("TRUSTREAM_BROKER_FLAVOR", "kafka"))
        from services.topics import ensure_topics

        asyncio.run(ensure_topics(settings))
        children.append(("worker", _spawn(["worker"], env)))
        children.append(("api", _spawn(["api"], env)))
        if demo:
            children.append(("demo", _spawn(["produce-demo", "--speed", str(speed)], env)))
        base = f"http://{s.api_host}:{s.api_port}"
        print(f"\ntrustream is running:\n  API        {base}/v1/accounts?flagged=true\n"
              f"  API docs   {base}/docs\n  API metrics {base}/metrics\n"
              f"  worker metrics http://127.0.0.1:{s.worker_metrics_port}/metrics\n"
              f"  broker     {settings.bootstrap}\nCtrl-C stops everything.\n", flush=True)
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None and not (name == "demo" and proc.returncode == 0):
                    print(f"trustream: {name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.2)
        return 0
    finally:
        print("stopping...", flush=True)
        _stop_all(children)
        if broker is not None:
            broker.stop()
        print("stopped.", flush=True)
