"""``dlrw ingest --metrics-port``: what a scrape of the running process shows, and when
``/readyz`` says it cannot ingest (its worker killed, its warehouse stopped, Kafka away, no
partitions)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.local.broker import start_broker, stop_broker
from dlrw.ingest.pipeline.batch import EVENT_DATE_FIELD
from dlrw.models.events import Event
from dlrw.models.wire import encode
from tests.cli import stop
from tests.pipeline.conftest import publish, send, start_ingest, traffic
from tests.reliability.conftest import PrivatePostgres, free_port
from tests.service.conftest import get, scrape, wait_for

pytestmark = pytest.mark.broker

_RECORDS = "dlrw_ingest_records_total"


def _by_kind(samples: dict, name: str, label: str = "event_type") -> dict[str, float]:
    return {
        dict(labels)[label]: value for (sample, labels), value in samples.items() if sample == name
    }


def _lags(samples: dict) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["topic"], dict(labels)["partition"]): value
        for (sample, labels), value in samples.items()
        if sample == "dlrw_ingest_consumer_lag_records"
    }


def _worker_pid(ingest: subprocess.Popen[str]) -> int:
    """The ingest worker: the child spawned by multiprocessing (not its resource tracker)."""
    children = Path(f"/proc/{ingest.pid}/task/{ingest.pid}/children").read_text().split()
    for pid in children:
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError(f"no worker among the children {children} of ingest")


def test_a_scrape_follows_the_run_and_readyz_fails_when_the_worker_dies(
    broker_settings: Settings,
) -> None:
    settings = broker_settings
    events: list[Event] = list(traffic(3000))
    publish(settings, events)
    with EventPublisher(settings) as publisher:
        # 0xFF first: random bytes starting 0x00 would read as registry-framed
        publisher.publish_bytes("send", b"k1", b"\xff" + os.urandom(39))
        publisher.publish_bytes("send", b"k2", b"\xff" + os.urandom(39))
        publisher.publish_bytes(
            "send", b"k3", encode("send", send(1).to_dict() | {"route_tier": 9})
        )
    produced = Counter(event.event_type for event in events)
    newest = {
        kind: max(getattr(e, EVENT_DATE_FIELD[kind]) for e in events if e.event_type == kind)
        for kind in produced
    }
    port = free_port()
    ingest = start_ingest(settings, "--metrics-port", str(port), "--batch-size", "500")
    try:
        samples = wait_for(
            "records counted",
            lambda: scrape(port),
            lambda s: _by_kind(s, _RECORDS) == dict(produced),
            ingest,
        )
        assert _by_kind(samples, "dlrw_ingest_dead_letters_total", "error_class") == {
            "UndecodableRecord": 2,
            "InvalidEvent": 1,
        }
        assert _by_kind(samples, "dlrw_ingest_newest_event_timestamp_seconds") == {
            kind: at.timestamp() for kind, at in newest.items()
        }
        # One observation a batch; producers batch records their own way, so at least two here.
        assert samples[("dlrw_ingest_batch_duration_seconds_count", ())] >= 2
        assert time.time() - samples[("dlrw_ingest_last_commit_timestamp_seconds", ())] < 60

        # Three topics of three partitions, all read and committed: no lag anywhere.
        lags = wait_for(
            "lag at 0",
            lambda: _lags(scrape(port)),
            lambda lags: len(lags) == 9 and not any(lags.values()),
            ingest,
        )
        assert {topic for topic, _ in lags} == {
            settings.topic(kind) for kind in ("send", "receipt", "conversion")
        }
        assert get(f"http://127.0.0.1:{port}/readyz") == (200, {"status": "ready"})
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok"})

        os.kill(_worker_pid(ingest), signal.SIGKILL)
        _, body = wait_for(
            "readyz after the worker died",
            lambda: get(f"http://127.0.0.1:{port}/readyz"),
            lambda answer: answer[0] == 503,
            ingest,
            timeout=30,
        )
        assert body == {
            "status": "unavailable",
            "error": "the ingest worker process is not running",
        }
    finally:
        stop(ingest)


def test_while_the_warehouse_is_down_readyz_fails_and_the_lag_holds_what_is_unwritten(
    broker_settings: Settings, own_postgres: PrivatePostgres
) -> None:
    settings = broker_settings.model_copy(update={"warehouse_url": own_postgres.url})
    port = free_port()
    ingest = start_ingest(settings, "--metrics-port", str(port))
    readyz = f"http://127.0.0.1:{port}/readyz"
    try:
        wait_for("ready", lambda: get(readyz)[0], lambda status: status == 200, ingest)
        own_postgres.stop()
        _, body = wait_for(
            "not ready", lambda: get(readyz), lambda answer: answer[0] == 503, ingest, timeout=30
        )
        assert body["error"] == (
            "the ingest worker has not reached the warehouse "
            f"postgresql+psycopg2://postgres@127.0.0.1:{own_postgres.port}/postgres"
        )
        publish(settings, traffic(900))
        # Read but not loaded, so not committed: all of it is lag.
        wait_for("lag", lambda: sum(_lags(scrape(port)).values()), lambda n: n == 900, ingest)
        assert sum(_by_kind(scrape(port), _RECORDS).values()) == 0

        own_postgres.start()
        wait_for(
            "lag drained",
            lambda: _lags(scrape(port)),
            lambda lags: len(lags) == 9 and not any(lags.values()),
            ingest,
        )
        assert sum(_by_kind(scrape(port), _RECORDS).values()) == 900
        assert get(readyz) == (200, {"status": "ready"})
    finally:
        stop(ingest)


def test_readyz_fails_in_a_member_that_holds_no_partitions(settings: Settings) -> None:
    """One partition per topic and two members: the second holds nothing to ingest."""
    settings = settings.model_copy(update={"warehouse_url": "duckdb:///:memory:"})
    create_topics(settings, partitions=1)
    ports = [free_port(), free_port()]
    members = [start_ingest(settings, "--metrics-port", str(port)) for port in ports]
    try:
        idle = {
            "status": "unavailable",
            "error": "this process holds no partitions of the event topics",
        }
        wait_for(
            "one member ready, the other idle",
            lambda: sorted(
                (get(f"http://127.0.0.1:{port}/readyz") for port in ports), key=lambda a: a[0]
            ),
            lambda found: found == [(200, {"status": "ready"}), (503, idle)],
            timeout=120,
        )
    finally:
        for member in members:
            stop(member)


def test_readyz_fails_while_kafka_is_away_and_recovers_once_it_is_back(
    own_broker: Settings,
) -> None:
    """The broker stopped under an idle ingest: ``/readyz`` says so, then ingest carries on."""
    settings = own_broker
    port = free_port()
    ingest = start_ingest(settings, "--metrics-port", str(port))
    readyz = f"http://127.0.0.1:{port}/readyz"
    ready = (200, {"status": "ready"})
    try:
        wait_for("ready", lambda: get(readyz), lambda answer: answer == ready, ingest)
        stop_broker(settings)
        _, body = wait_for(
            "not ready", lambda: get(readyz), lambda answer: answer[0] == 503, ingest, timeout=60
        )
        assert body["error"].startswith(f"Kafka at {settings.kafka_bootstrap} unavailable: ")
        start_broker(settings, log=lambda _line: None)
        wait_for("ready again", lambda: get(readyz), lambda answer: answer == ready, ingest)
        publish(settings, traffic(300))
        wait_for(
            "records counted",
            lambda: sum(_by_kind(scrape(port), _RECORDS).values()),
            lambda n: n == 300,
            ingest,
        )
    finally:
        stop(ingest)
