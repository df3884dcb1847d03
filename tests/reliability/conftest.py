"""Fixtures for the fault tests: a private Kafka broker, a private three-broker cluster (one per
session) and a private PostgreSQL server (so they can be stopped without touching the shared dev
services), a tiny tmpfs for the store, and the fuzzing budget. The pipeline tests' helpers and
fixtures are reused, not copied."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import admin_client
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.local.broker import start_broker, stop_broker
from tests.cli import env_for, run_dlrw
from tests.pipeline.conftest import any_warehouse, group_for

__all__ = ["any_warehouse"]

PG_BIN = Path(os.environ.get("DLRW_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def fuzz_examples(default: int) -> int:
    """Hypothesis examples per fuzz target: DLRW_FUZZ_EXAMPLES, else ``default``."""
    return int(os.environ.get("DLRW_FUZZ_EXAMPLES", default))


_PORT_SLICES = 4


def _ephemeral_ports_start() -> int:
    """Where the ports the kernel gives outgoing connections begin (Linux; else its default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(span: int = 1) -> int:
    """A localhost port P such that P .. P+span-1 are all free right now, below the ephemeral
    range: a client retrying a stopped broker's port from an ephemeral one could otherwise
    connect to itself there, and hold the port the broker restarts on."""
    # Each test worker draws from its own slice: a port a test frees for a while (a killed
    # broker's) must not be handed to another worker's server meanwhile.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    width = (_ephemeral_ports_start() - 20000) // _PORT_SLICES
    low = 20000 + width * (worker % _PORT_SLICES)
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, low + width - span)
        try:
            with contextlib.ExitStack() as held:
                for taken in range(port, port + span):
                    held.enter_context(socket.socket()).bind(("localhost", taken))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {span} consecutive free ports")


def committed(settings: Settings, group: str | None = None) -> dict[TopicPartition, int]:
    """The group's committed offsets on the event topics."""
    group = group or group_for(settings)
    admin = admin_client(settings)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def committed_total(settings: Settings, group: str | None = None) -> int | None:
    """How many records the group has committed; None while Kafka cannot say."""
    try:
        return sum(committed(settings, group).values())
    except KafkaError:
        return None


def wait_committed(
    settings: Settings,
    total: int,
    processes: list[subprocess.Popen[str]],
    groups: list[str | None] | None = None,
    timeout_s: float = 300,
) -> None:
    """Wait until each group (default: the test's own) has committed ``total`` records; every
    one of ``processes`` must keep running meanwhile."""
    groups = groups or [None]
    deadline = time.monotonic() + timeout_s
    while any((committed_total(settings, group) or 0) < total for group in groups):
        for process in processes:
            assert process.poll() is None, process.communicate()
        progress = [committed_total(settings, group) for group in groups]
        assert time.monotonic() < deadline, f"committed {progress} of {total}"
        time.sleep(0.5)


def outage_lines(err: str, service: str) -> list[str]:
    """The lines in which ingest says ``service`` went away or answers again."""
    return [
        line
        for line in err.splitlines()
        if service in line and ("unavailable" in line or "answers again" in line)
    ]


@pytest.fixture
def own_broker(settings: Settings) -> Iterator[Settings]:
    """``settings`` on a private broker (free ports, its own data dir) with the topics made;
    the test may stop and start it with ``start_broker``/``stop_broker``."""
    port = free_port(span=2)
    mine = settings.model_copy(update={"kafka_bootstrap": f"localhost:{port}"})
    start_broker(mine, log=lambda _line: None)
    try:
        create_topics(mine, partitions=3)
        yield mine
    finally:
        stop_broker(mine)


@dataclass(frozen=True)
class Cluster:
    """A private three-broker cluster: ``admin`` holds its data dir (for ``dlrw broker`` and
    ``start_broker``/``stop_broker``) and the first broker's address, as a user who started it
    would; ``bootstrap`` lists every broker; ``started`` is `dlrw broker start --brokers 3`."""

    admin: Settings
    bootstrap: str
    started: subprocess.CompletedProcess[str]

    def on(self, settings: Settings) -> Settings:
        """``settings`` (its own data dir, topics and warehouse) on this cluster."""
        return settings.model_copy(update={"kafka_bootstrap": self.bootstrap})


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three brokers on six free ports, started once per session through the CLI; each test
    leaves every broker running (``start_broker`` waits until all replicas are in sync)."""
    port = free_port(span=6)
    admin = Settings(
        data_dir=tmp_path_factory.mktemp("cluster"),
        kafka_bootstrap=f"localhost:{port}",
        hash_key="test-hash-key",
    )
    started = run_dlrw(["broker", "start", "--brokers", "3"], env_for(admin), timeout=300)
    try:
        if started.returncode != 0:
            pytest.fail(f"the cluster did not start: {started.stderr}")
        bootstrap = ",".join(f"localhost:{port + i}" for i in range(3))
        yield Cluster(admin, bootstrap, started)
    finally:
        stop_broker(admin)


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
