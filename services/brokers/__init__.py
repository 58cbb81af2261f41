"""Kafka-protocol brokers trustream can start on this machine (for `make run` and the tests).

Production points ``TRUSTREAM_KAFKA_BOOTSTRAP`` at its own cluster and starts none of these.
"""

from services.brokers.base import BrokerProcess, free_port

__all__ = ["BrokerProcess", "free_port"]
