"""A private three-broker cluster (`dlrw broker start --brokers 3`, one per session): its CLI,
topics replicated three times, and ingest staying up, the same process, through a broker killed
mid-run, a rolling restart of every broker and a PostgreSQL restart, with every event in the raw
tables exactly once on both warehouses.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice

import pytest
from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.structs import TopicPartition
from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import admin_client
from dlrw.ingest.kafka.topics import create_topics, topic_names
from dlrw.ingest.local.broker import BrokerNode, broker_status, start_broker, stop_broker
from dlrw.ingest.local.processes import port_open
from dlrw.ingest.pipeline.ingest import EVENT_KINDS
from dlrw.ingest.simulate.cli import publish_events
from dlrw.ingest.simulate.engine import SimulationConfig, Simulator
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.models.events import Event
from tests.cli import env_for, run_dlrw, start_dlrw
from tests.pipeline.conftest import counts
from tests.reliability.conftest import (
    Cluster,
    PrivatePostgres,
    committed_total,
    outage_lines,
    wait_committed,
)

pytestmark = pytest.mark.broker

EVENTS = 200_000
# Where the run halts for a fault: a broker is killed after this many events are published...
KILL_AT = 30_000
# ...and PostgreSQL is down while the last ones are published.
POSTGRES_DOWN_AT = 190_000
_RAW = {"send": "raw_sends", "receipt": "raw_receipts", "conversion": "raw_conversions"}


def _replicas(settings: Settings) -> dict[str, tuple[set[int], str]]:
    """Per topic of ``settings``: its partitions' replica counts and its min.insync.replicas."""
    admin = admin_client(settings)
    try:
        names = topic_names(settings)
        topics = {t["name"]: t for t in admin.describe_topics(names)}
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names],
            config_filter="all",
        )["topic"]
    finally:
        admin.close()
    return {
        name: (
            {len(p["replica_nodes"]) for p in topics[name]["partitions"]},
            configs[name]["min.insync.replicas"]["value"],
        )
        for name in names
    }


def test_the_cluster_is_started_inspected_and_restarted_through_the_cli(
    cluster: Cluster, settings: Settings
) -> None:
    admin_env = env_for(cluster.admin)
    data = cluster.admin.data_dir / "kafka"
    started = re.fullmatch(
        rf"3 brokers ready at {cluster.bootstrap} in [\d.]+s \(started nodes 1, 2, 3; "
        rf"pids (\d+), (\d+), (\d+); data {data}\)\n"
        rf"set DLRW_KAFKA_BOOTSTRAP={cluster.bootstrap} so that clients reach the cluster "
        r"while any one broker is down\n",
        cluster.started.stdout,
    )
    assert started, cluster.started.stdout
    node_1, _, node_3 = started.groups()

    created = run_dlrw(["topics", "create", "--partitions", "2"], env_for(cluster.on(settings)))
    assert created.returncode == 0, created.stderr
    assert _replicas(cluster.on(settings)) == {name: ({3}, "2") for name in topic_names(settings)}

    resized = run_dlrw(["broker", "start", "--brokers", "1"], admin_env)
    assert resized.returncode == 2
    assert resized.stderr.startswith(
        f"dlrw broker: error: {data} holds the data of a cluster of 3 brokers, not 1; "
    ), resized.stderr

    stopped = run_dlrw(["broker", "stop", "--node", "2"], admin_env, check=True)
    assert re.fullmatch(r"stopped node 2 \(pid \d+\)\n", stopped.stdout), stopped.stdout
    degraded = run_dlrw(["broker", "status"], admin_env)
    assert degraded.returncode == 1
    assert degraded.stdout.startswith("degraded: 2 of 3 brokers run (not node 2), "), degraded
    restarted = run_dlrw(["broker", "start"], admin_env, check=True)
    assert re.match(
        rf"3 brokers ready at {cluster.bootstrap} in [\d.]+s \(started node 2; "
        rf"pids {node_1}, \d+, {node_3}; ",
        restarted.stdout,
    ), restarted.stdout
    status = run_dlrw(["broker", "status"], admin_env)
    assert status.returncode == 0, status.stdout
    assert status.stdout.startswith(f"running: 3 brokers (pids {node_1}, "), status.stdout

    nowhere = run_dlrw(["broker", "stop", "--node", "4"], admin_env)
    assert nowhere.returncode == 2
    assert (
        nowhere.stderr.strip()
        == f"dlrw broker: error: --node 4: the cluster in {data} has nodes 1-3"
    )


def test_topics_on_one_broker_keep_one_replica(broker_settings: Settings) -> None:
    assert _replicas(broker_settings) == {name: ({1}, "1") for name in topic_names(broker_settings)}


def _on_topics(settings: Settings) -> int:
    """How many records the event topics hold."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in (settings.topic(kind) for kind in EVENT_KINDS)
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _event_ids(url: str) -> Counter[str]:
    """How many times each event id is in the raw tables."""
    engine = connect_engine(url)
    try:
        with engine.connect() as conn:
            return Counter(
                event_id
                for table in _RAW.values()
                for (event_id,) in conn.execute(text(f"SELECT event_id FROM {table}"))
            )
    finally:
        engine.dispose()


class _Run:
    """The simulated run, published on a thread of its own; it halts at ``KILL_AT`` events
    until the test has killed a broker, and at ``POSTGRES_DOWN_AT`` until PostgreSQL is down
    (and the brokers' restarts, which go on while it publishes, are over)."""

    def __init__(self, settings: Settings, events: list[Event], config: SimulationConfig):
        self.gates = {KILL_AT: threading.Event(), POSTGRES_DOWN_AT: threading.Event()}
        self.reached = {at: threading.Event() for at in self.gates}
        self._pool = ThreadPoolExecutor(1)
        self.done = self._pool.submit(publish_events, settings, self._halting(events), config)

    def _halting(self, events: list[Event]) -> Iterator[Event]:
        for i, event in enumerate(events):
            if i in self.gates:
                self.reached[i].set()
                assert self.gates[i].wait(600), f"the test never opened the gate at {i}"
            yield event

    def at(self, position: int) -> None:
        """Wait until the run halts at ``position``."""
        while not self.reached[position].wait(1):
            if self.done.done():
                self.done.result()  # raises why it ended early

    def resume(self, position: int) -> None:
        self.gates[position].set()

    def close(self) -> None:
        for gate in self.gates.values():
            gate.set()
        self._pool.shutdown()


def _wait_closed(node: BrokerNode, timeout_s: float = 60) -> None:
    """Until a killed node's port stops answering: the kernel closes a JVM's sockets only once
    the process is torn down, and a start before that finds the port taken."""
    deadline = time.monotonic() + timeout_s
    while port_open(node.host, node.port):
        assert time.monotonic() < deadline, f"node {node.node_id} still answers after SIGKILL"
        time.sleep(0.1)


def test_ingest_stays_up_through_a_killed_broker_a_rolling_restart_and_postgres(
    cluster: Cluster, settings: Settings, own_postgres: PrivatePostgres
) -> None:
    on_duckdb = cluster.on(settings)
    on_postgres = on_duckdb.model_copy(
        update={"warehouse_url": own_postgres.url, "store_dir": settings.data_dir / "store-pg"}
    )
    create_topics(on_duckdb, partitions=3)
    config = SimulationConfig(
        messages=90_000, days=1, seed=19, start=datetime(2026, 3, 1, tzinfo=UTC)
    )
    events = list(islice(Simulator(config, on_duckdb.hash_secret()).events(), EVENTS))
    assert len(events) == EVENTS
    groups = {
        "duckdb": f"stay-up-{settings.topic_prefix}duckdb",
        "postgres": f"stay-up-{settings.topic_prefix}pg",
    }
    ingests = {
        name: start_dlrw(["ingest", "--group", groups[name], "--batch-size", "5000"], env_for(s))
        for name, s in (("duckdb", on_duckdb), ("postgres", on_postgres))
    }
    pids = {name: process.pid for name, process in ingests.items()}
    run = _Run(on_duckdb, events, config)
    try:
        run.at(KILL_AT)
        victim = broker_status(cluster.admin).pids[1]
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _wait_closed(broker_status(cluster.admin).cluster.nodes[0])
        run.resume(KILL_AT)

        # While the run goes on: node 1 back (all replicas in sync), then each node in turn.
        start_broker(cluster.admin, log=lambda _line: None)
        for node in (1, 2, 3):
            stop_broker(cluster.admin, node=node)
            start_broker(cluster.admin, log=lambda _line: None)

        run.at(POSTGRES_DOWN_AT)
        own_postgres.stop()
        run.resume(POSTGRES_DOWN_AT)
        run.done.result(timeout=300)
        total = _on_topics(on_duckdb)
        # DuckDB's ingest writes everything; PostgreSQL's holds its last batches, uncommitted.
        wait_committed(on_duckdb, total, list(ingests.values()), [groups["duckdb"]])
        held = committed_total(on_duckdb, groups["postgres"])
        assert held is not None and held < total, "offsets were committed with PostgreSQL down"
        own_postgres.start()
        wait_committed(on_duckdb, total, list(ingests.values()), list(groups.values()))
    finally:
        run.close()
        errors = {}
        for name, process in ingests.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            _out, errors[name] = process.communicate(timeout=120)
    for name, process in ingests.items():
        assert process.returncode == 0, errors[name]
        assert process.pid == pids[name]
        assert "Traceback" not in errors[name], errors[name]

    expected = Counter(event.event_id for event in events)
    for s in (on_duckdb, on_postgres):
        assert _event_ids(s.warehouse_url) == expected
        for table, (rows, keys) in counts(s.warehouse_url).items():
            assert rows == keys, f"{table} holds a record twice"
    # Each outage is said once when it begins and once when it ends, never once per attempt.
    warehouse = outage_lines(errors["postgres"], "warehouse")
    assert len(warehouse) == 2, warehouse
    assert "unavailable" in warehouse[0] and "offsets not committed" in warehouse[0]
    assert "answers again" in warehouse[1]
    for name in ingests:
        kafka = outage_lines(errors[name], "Kafka at")
        assert len(kafka) <= 10, kafka
