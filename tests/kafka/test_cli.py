"""`dlrw topics create` and the one-line failures of `dlrw broker`."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.kafka.client import admin_client
from dlrw.ingest.kafka.topics import create_topics, delete_topics, topic_names
from tests.cli import env_for, run_dlrw


@pytest.mark.broker
def test_topics_create_is_idempotent(settings: Settings) -> None:
    env = env_for(settings)
    first = run_dlrw(["topics", "create", "--partitions", "2"], env)
    second = run_dlrw(["topics", "create"], env)
    names = topic_names(settings)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"{name}: created" for name in names]
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [f"{name}: exists" for name in names]


@pytest.mark.broker
def test_delete_topics_deletes_only_those_under_the_prefix(broker_settings: Settings) -> None:
    neighbour = broker_settings.model_copy(
        update={"topic_prefix": broker_settings.topic_prefix.rstrip(".") + "x."}
    )
    create_topics(neighbour, partitions=1)

    deleted = delete_topics(broker_settings)

    assert deleted == sorted(topic_names(broker_settings))
    admin = admin_client(broker_settings)
    try:
        # Another client's view of the topics catches up with a deletion within moments.
        deadline = time.monotonic() + 30
        while (remaining := set(admin.list_topics())) & set(deleted):
            assert time.monotonic() < deadline, f"still listed: {remaining & set(deleted)}"
            time.sleep(0.2)
    finally:
        admin.close()
    assert set(topic_names(neighbour)) <= remaining


def test_delete_topics_refuses_an_empty_prefix(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="empty prefix"):
        delete_topics(settings, prefix="")


def test_broker_status_without_broker_exits_1_with_one_line(
    settings: Settings, free_port_pair: int
) -> None:
    env = env_for(settings, DLRW_KAFKA_BOOTSTRAP=f"localhost:{free_port_pair}")
    result = run_dlrw(["broker", "status"], env)
    assert result.returncode == 1
    assert result.stdout.strip() == f"not running: nothing answers at localhost:{free_port_pair}"


def test_broker_start_without_java_is_one_readable_line(
    settings: Settings, free_port_pair: int, tmp_path: Path
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = env_for(settings, DLRW_KAFKA_BOOTSTRAP=f"localhost:{free_port_pair}")
    env["PATH"] = str(empty_bin)
    env.pop("JAVA_HOME", None)
    result = run_dlrw(["broker", "start"], env)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "`java` is not on PATH and JAVA_HOME is not set" in lines[0]


def test_broker_start_refuses_a_port_held_by_something_else(settings: Settings) -> None:
    with socket.socket() as holder:
        holder.bind(("localhost", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = env_for(settings, DLRW_KAFKA_BOOTSTRAP=f"localhost:{port}")
        result = run_dlrw(["broker", "start", "--timeout", "10"], env)
    assert result.returncode == 3
    assert f"port {port} is in use by something that is not a Kafka broker" in result.stderr


def test_broker_start_rejects_a_remote_bootstrap(settings: Settings) -> None:
    env = env_for(settings, DLRW_KAFKA_BOOTSTRAP="kafka.example.com:9092")
    result = run_dlrw(["broker", "start"], env)
    assert result.returncode == 2
    assert "only runs a local broker" in result.stderr
