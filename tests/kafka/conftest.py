"""Helpers for the Kafka tests: running `dlrw` as users do, and reading topics back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from dlrw.ingest.config import Settings

ROOT = Path(__file__).resolve().parents[2]

RunDlrw = Callable[..., subprocess.CompletedProcess[str]]


def _dlrw_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRW_")}
    env.update(
        DLRW_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        DLRW_TOPIC_PREFIX=settings.topic_prefix,
        DLRW_DATA_DIR=str(settings.data_dir),
        DLRW_HASH_KEY="test-hash-key",
    )
    env.update(overrides)
    return env


@pytest.fixture
def dlrw_env() -> Callable[..., dict[str, str]]:
    """``dlrw_env(settings, **overrides)``: the environment of a `dlrw` subprocess that uses
    ``settings`` (and DLRW_HASH_KEY=test-hash-key)."""
    return _dlrw_env


@pytest.fixture
def run_dlrw() -> RunDlrw:
    """Run ``python -m ingest.cli ARGS`` from the project root; returns the completed process."""

    def run(
        args: Iterable[str], env: dict[str, str], timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dlrw.ingest.cli", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


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
