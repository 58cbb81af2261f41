"""Brokers for the integration suite: every test runs on Tansu and on Apache Kafka."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.brokers.base import BrokerProcess
from services.brokers.kafka import missing_tools, start_kafka
from services.brokers.tansu import start_tansu
from tests.integration.stack import Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", params=["tansu", "kafka"])
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    tmp = tmp_path_factory.mktemp(f"broker-{request.param}")
    if request.param == "kafka":
        missing = missing_tools()
        if missing:
            pytest.skip(f"Apache Kafka runs skipped: {' and '.join(missing)} not on PATH. Install a JDK 17+ "
                        "and Maven (e.g. `apt-get install openjdk-17-jdk maven`) to enable them.")
        b = start_kafka(tmp / "data")
    else:
        b = start_tansu(log_path=tmp / "tansu.log")
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def tansu_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = start_tansu(log_path=tmp_path_factory.mktemp("tansu-own") / "tansu.log")
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def stack(broker: BrokerProcess, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(broker, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()
