"""Apache Kafka 4.x in KRaft mode from Maven Central artifacts (``make kafka``, integration tests).

``deploy/kafka/provision.sh`` resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies
into a git-ignored cache (``.cache/kafka``); ``deploy/kafka/start.sh`` formats storage and runs the
broker on loopback with a 512 MB heap.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from services.brokers.base import BrokerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kafka"
CACHE = ROOT / ".cache" / "kafka"


def missing_tools() -> list[str]:
    """Tools needed to provision and run Apache Kafka that are not on PATH."""
    return [t for t in ("java", "mvn") if shutil.which(t) is None]


def provision(cache: Path = CACHE) -> Path:
    """Fetch the broker jars from Maven Central once; later calls return at once."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"Apache Kafka needs {' and '.join(missing)} on PATH "
                           "(install a JDK 17+ and Maven 3.8+, e.g. `apt-get install openjdk-17-jdk maven`)")
    subprocess.run(["bash", str(DEPLOY / "provision.sh"), str(cache)], check=True)
    return cache


def start_kafka(data_dir: Path | None = None, port: int | None = None, cache: Path = CACHE,
                ready_timeout: float = 90.0) -> BrokerProcess:
    """Provision if needed, then start a single-node KRaft broker on 127.0.0.1 and wait until ready."""
    provision(cache)
    data = data_dir or Path(tempfile.mkdtemp(prefix="trustream-kafka-"))
    port = port or free_port()
    broker = BrokerProcess(["bash", str(DEPLOY / "start.sh"), str(cache), str(data), str(port),
                            str(free_port())], port, "kafka", data / "start.log")
    broker.wait_ready(ready_timeout)
    return broker
