"""Fixtures for the fault tests: a private Kafka broker and a private PostgreSQL server (so they
can be stopped without touching the shared dev services), a tiny tmpfs for the store, and the
fuzzing budget. The pipeline tests' helpers and fixtures are reused, not copied."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka.structs import TopicPartition

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import admin_client
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.local.broker import start_broker, stop_broker
from tests.pipeline.conftest import any_warehouse, group_for

__all__ = ["any_warehouse"]

PG_BIN = Path(os.environ.get("DLRW_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def fuzz_examples(default: int) -> int:
    """Hypothesis examples per fuzz target: DLRW_FUZZ_EXAMPLES, else ``default``."""
    return int(os.environ.get("DLRW_FUZZ_EXAMPLES", default))


def free_port(pair: bool = False) -> int:
    """A free localhost port (with ``pair``, one whose next port is free too)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            port = probe.getsockname()[1]
        if not pair:
            return port
        try:
            with socket.socket() as nxt:
                nxt.bind(("localhost", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def committed(settings: Settings, group: str | None = None) -> dict[TopicPartition, int]:
    """The group's committed offsets on the event topics."""
    group = group or group_for(settings)
    admin = admin_client(settings)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


@pytest.fixture
def own_broker(settings: Settings) -> Iterator[Settings]:
    """``settings`` on a private broker (free ports, its own data dir) with the topics made;
    the test may stop and start it with ``start_broker``/``stop_broker``."""
    port = free_port(pair=True)
    mine = settings.model_copy(update={"kafka_bootstrap": f"localhost:{port}"})
    start_broker(mine, log=lambda _line: None)
    try:
        create_topics(mine, partitions=3)
        yield mine
    finally:
        stop_broker(mine)


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of the test's own, run as the ``postgres`` OS user."""

    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c fsync=off -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.data.parent / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    """A fresh PostgreSQL cluster in a temporary folder, started; stopped and removed after."""
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        pytest.skip("a private PostgreSQL needs root (to run as postgres) and initdb")
    root = Path(tempfile.mkdtemp(prefix="dlrw-pg-"))
    shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(root / "data", free_port())
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(server.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class SmallDisk:
    """A tmpfs mount whose size the test can change (``resize``) to fill or free the disk."""

    path: Path

    def resize(self, size: str) -> None:
        subprocess.run(
            ["mount", "-o", f"remount,size={size}", str(self.path)], check=True, timeout=30
        )


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    """A 1 MiB tmpfs (needs root and mount permission), unmounted afterwards."""
    path = Path(tempfile.mkdtemp(prefix="dlrw-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        path.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield SmallDisk(path)
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
                time.sleep(0.5)
            else:
                break
        shutil.rmtree(path, ignore_errors=True)
