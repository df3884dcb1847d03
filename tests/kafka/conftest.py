"""Helpers for the Kafka tests: running `dlrw` as users do, and reading topics back."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable

import pytest
from kafka import KafkaConsumer, TopicPartition

from dlrw.ingest.config import Settings
from tests import cli
from tests.cli import ROOT as ROOT  # re-exported: the produce and reliability tests import it


@pytest.fixture
def dlrw_env() -> Callable[..., dict[str, str]]:
    """``tests.cli.env_for``, for the tests that take it as a fixture."""
    return cli.env_for


@pytest.fixture
def run_dlrw() -> Callable[..., object]:
    """``tests.cli.run_dlrw``, for the tests that take it as a fixture."""
    return cli.run_dlrw


@pytest.fixture
def free_port_pair() -> int:
    """A port P such that P and P+1 (the controller port) are both free right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            port = probe.getsockname()[1]
        if port >= 65534:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("localhost", port))
                b.bind(("localhost", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture
def read_topics() -> Callable[..., dict[str, list[tuple[bytes, bytes]]]]:
    """``read_topics(settings, topics)``: see ``read_records``."""
    return read_records


def read_records(
    settings: Settings, topics: Iterable[str], timeout_s: float = 60
) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every (key, value) on ``topics`` from the beginning to the current end, by topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out: dict[str, list[tuple[bytes, bytes]]] = {topic: [] for topic in topics}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, "timed out reading the topics back"
            for tp, records in consumer.poll(timeout_ms=500).items():
                out[tp.topic].extend((r.key, r.value) for r in records)
        return out
    finally:
        consumer.close()
