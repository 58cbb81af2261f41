"""Test support: run worker and API processes against a real broker, produce, read topics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.brokers.base import BrokerProcess, free_port
from services.settings import Settings
from services.topics import ensure_topics, partitions_of

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """Worker(s) and an API for one test, isolated by a unique topic prefix and group id."""

    def __init__(self, broker: BrokerProcess, tmp: Path, partitions: int = 4, **extra_env: str) -> None:
        self.broker = broker
        self.tmp = tmp
        tag = uuid.uuid4().hex[:8]
        self.env = {
            **os.environ,
            "TRUSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap,
            "TRUSTREAM_BROKER_FLAVOR": broker.flavor,
            "TRUSTREAM_TOPIC_PREFIX": f"t{tag}.",
            "TRUSTREAM_APP_ID": f"trustream-{tag}",
            "TRUSTREAM_PARTITIONS": str(partitions),
            "TRUSTREAM_SESSION_TIMEOUT_S": "6",
            "TRUSTREAM_CHECKPOINT_INTERVAL_S": "0.5",
            # the production size of the first-seen table: smaller ones made restarted workers diverge (issue 6 note)
            "TRUSTREAM_PURCHASE_SEEN_CAPACITY": str(1 << 19),
            "TRUSTREAM_API_PORT": str(free_port()),
            "TRUSTREAM_WARMUP_WINDOWS": "6",
            "TRUSTREAM_LOG_LEVEL": "info",
            "TRUSTREAM_DATA_DIR": str(tmp),
            **extra_env,
        }
        self.settings = Settings(
            kafka_bootstrap=broker.bootstrap, broker_flavor=broker.flavor,
            topic_prefix=self.env["TRUSTREAM_TOPIC_PREFIX"], app_id=self.env["TRUSTREAM_APP_ID"],
            partitions=partitions, api_port=int(self.env["TRUSTREAM_API_PORT"]),
            warmup_windows=int(self.env["TRUSTREAM_WARMUP_WINDOWS"]),
            purchase_seen_capacity=int(self.env["TRUSTREAM_PURCHASE_SEEN_CAPACITY"]))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(timeout=5)  # one connection pool: tests poll the API thousands of times
        self.metrics_ports: dict[str, int] = {}
        self._logs: list[Any] = []
        asyncio.run(ensure_topics(self.settings))

    # --- processes ---------------------------------------------------------------------------
    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop_all
        self._logs.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                                env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        env.setdefault("TRUSTREAM_WORKER_METRICS_PORT", str(free_port()))
        self.metrics_ports[name] = int(env["TRUSTREAM_WORKER_METRICS_PORT"])
        return self.start(name, "worker", **env)

    def worker_metrics(self, name: str = "worker") -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=5).text

    def start_api(self) -> None:
        self.start("api", "api")
        self.wait(lambda: self.get("/healthz").status_code == 200, 30, "API up")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(30)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        for log in self._logs:
            log.close()
        self.http.close()

    # --- HTTP --------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.env['TRUSTREAM_API_PORT']}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        try:
            return self.http.get(self.base + path, params=params)
        except httpx.TransportError:
            return httpx.Response(599)

    def wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None and name.startswith(("worker", "api")):
                    raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-4000:]}")
            if cond():
                return
            time.sleep(0.25)
        for name, proc in self.procs.items():  # where each live worker is (services.worker.app: diagnostics)
            if name.startswith("worker") and proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        logs = "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in self.procs)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")

    # --- Kafka -------------------------------------------------------------------------------
    def produce(self, topic: str, messages: Iterable[tuple[bytes | None, bytes]], pause_s: float = 0.0) -> None:
        async def go() -> None:
            p = AIOKafkaProducer(**self.settings.kafka_client_kwargs(), linger_ms=5)
            await p.start()
            try:
                for key, value in messages:
                    await p.send(self.settings.topic_prefix + topic, value, key=key)
                    if pause_s:
                        await p.flush()
                        await asyncio.sleep(pause_s)
                await p.flush()
            finally:
                await p.stop()
        asyncio.run(go())

    def produce_events(self, batches: Iterable[list[dict[str, Any]]], pause_s: float = 0.0) -> None:
        """Each batch goes as one JSON-array message keyed by its (single) target account."""
        self.produce("events", ((b[0]["target_id"].encode(), orjson.dumps(b)) for b in batches), pause_s)

    def stream_world(self, workers: int, profiles: Iterable[dict[str, Any]],
                     messages: Iterable[list[dict[str, Any]]]) -> None:
        """Start ``workers`` workers and the API, then produce the profile snapshots and the event messages."""
        for i in range(workers):
            self.start_worker(f"worker{i}")
        self.start_api()
        self.produce("profiles", ((p["account_id"].encode(), orjson.dumps(p)) for p in profiles))
        self.produce_events(messages)

    def read_topic(self, name: str, timeout: float = 20.0) -> list[Any]:
        """Every record of a topic (full name), read to the Fetch high watermark."""
        async def go() -> list[Any]:
            c = AIOKafkaConsumer(**self.settings.kafka_client_kwargs(), group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest")
            await c.start()
            try:
                tps = [TopicPartition(name, p) for p in await partitions_of(self.settings, name)]
                if not tps:
                    return []
                c.assign(tps)
                await c.seek_to_beginning(*tps)
                out: list[Any] = []
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    batch = await c.getmany(timeout_ms=300)
                    for recs in batch.values():
                        out.extend(recs)
                    done = True
                    for tp in tps:
                        hw = c.highwater(tp)
                        if hw is None or await c.position(tp) < hw:
                            done = False
                    if done:
                        return out
                raise TimeoutError(f"{name} not read to its end")
            finally:
                await c.stop()
        return asyncio.run(go())
