"""Nothing lost, nothing duplicated, whatever fails: ingest killed again and again, the broker
restarted under it, PostgreSQL stopped mid-load, the store's disk full. After each, the raw
tables hold every produced event exactly once; ingest outlives the outages, saying so once.

The broker and PostgreSQL that get stopped are private ones (see conftest.py), never the shared
dev services.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.client import admin_client
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.local.broker import start_broker, stop_broker
from dlrw.ingest.simulate.cli import event_line, publish_events
from dlrw.ingest.simulate.engine import SimulationConfig, Simulator
from dlrw.ingest.store.segments import iter_segments
from dlrw.ingest.warehouse.connection import connect_engine, open_warehouse
from dlrw.models.events import Event
from dlrw.models.wire import decode
from tests.cli import start_dlrw
from tests.kafka.conftest import ROOT, read_records
from tests.pipeline.conftest import counts, env_for, ingest_once, publish, start_ingest, traffic
from tests.pipeline.test_ingest import _assert_exactly_once, _published, _wait_for_segments
from tests.reliability.conftest import (
    PrivatePostgres,
    SmallDisk,
    committed,
    outage_lines,
    wait_committed,
)

pytestmark = pytest.mark.broker


def _rows(settings: Settings) -> int:
    return sum(rows for rows, _ in counts(settings.warehouse_url).values())


def _wait_for_rows(
    settings: Settings, expected: int, process: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while _rows(settings) < expected:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"only {_rows(settings)} of {expected} rows arrived"
        time.sleep(0.5)


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out, err


def _kill_repeatedly(settings: Settings, events: int, kills: int, seed: int) -> None:
    """Publish ``events``, SIGKILL ingest at ``kills`` random points, then finish with --once."""
    rng = random.Random(seed)
    publish(settings, traffic(events))
    expected = _published(events)
    for round_ in range(kills):
        process = start_ingest(settings, "--batch-size", str(rng.choice([500, 2000, 5000])))
        try:
            if round_ == 0:
                _wait_for_segments(settings.store_dir, process)
            # Anywhere: while joining the group, mid-batch, between store write and commit.
            time.sleep(rng.uniform(0.2, 3.0))
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(30)
        assert process.returncode == -signal.SIGKILL, f"seed {seed}: ingest ended on its own"
    final = start_ingest(settings, "--once")
    _out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err
    _assert_exactly_once(settings, expected)
    # The store is the log of record: it holds every event too (copies of replayed batches
    # are allowed there; the warehouse keeps one row per record).
    assert any(iter_segments(settings.store_dir))


def test_kill_9_five_times_loses_and_duplicates_nothing(broker_settings: Settings) -> None:
    seed = int(os.environ.get("DLRW_FAULT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    _kill_repeatedly(broker_settings, 40_000, kills=5, seed=seed)


@pytest.mark.soak
@pytest.mark.postgres
def test_kill_9_five_times_in_500k_events_on_postgresql(postgres_settings: Settings) -> None:
    create_topics(postgres_settings, partitions=3)
    seed = int(os.environ.get("DLRW_FAULT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    _kill_repeatedly(postgres_settings, 500_000, kills=5, seed=seed)


@pytest.mark.soak
def test_kill_9_five_times_in_500k_events_on_duckdb(broker_settings: Settings) -> None:
    seed = int(os.environ.get("DLRW_FAULT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    _kill_repeatedly(broker_settings, 500_000, kills=5, seed=seed)


def test_ingest_outlives_a_broker_restart_and_says_so_once(own_broker: Settings) -> None:
    settings = own_broker
    publish(settings, traffic(10_000))
    process = start_ingest(settings, "--batch-size", "1000")
    try:
        _wait_for_segments(settings.store_dir, process)
        stop_broker(settings)
        time.sleep(5)  # long enough for a few attempts, each of which must not be logged
        start_broker(settings, log=lambda _line: None)
        publish(settings, traffic(10_000, start=10_000))
        expected = _published(10_000) + _published(10_000, start=10_000)
        wait_committed(settings, 20_000, [process])
    finally:
        _out, err = _stop(process) if process.poll() is None else process.communicate()
    assert process.returncode == 0, err
    outage = outage_lines(err, f"Kafka at {settings.kafka_bootstrap}")
    assert len(outage) == 2, err
    assert "unavailable" in outage[0] and "offsets after the last written batch" in outage[0]
    assert "answers again" in outage[1]
    assert "Traceback" not in err
    _assert_exactly_once(settings, expected)


def test_dead_letters_kafka_does_not_take_are_sent_again_before_the_commit(
    broker_settings: Settings,
) -> None:
    """The dead-letter topic gone (Kafka refuses its records): the batch waits, uncommitted,
    its dead letter sent again after each pause, until the topic is back."""
    from dlrw.ingest.kafka.producer import EventPublisher
    from tests.pipeline.conftest import group_for, receipt
    from tests.pipeline.test_deadletters import _dead_letters

    settings = broker_settings
    admin = admin_client(settings)
    try:
        admin.delete_topics([settings.topic("deadletter")])
        while settings.topic("deadletter") in admin.list_topics():
            time.sleep(0.2)
    finally:
        admin.close()
    with EventPublisher(settings) as publisher:
        publisher.publish_bytes("receipt", b"junk", b"not an event")
        publisher.publish(receipt(1))
    process = start_dlrw(
        ["ingest", "--group", group_for(settings)],
        env_for(settings, DLRW_KAFKA_DELIVERY_TIMEOUT="2"),
    )
    try:
        time.sleep(10)  # a few attempts, two seconds each, then a pause
        assert process.poll() is None, process.communicate()
        assert committed(settings) == {}, "offsets were committed before the dead letter was sent"
        create_topics(settings, partitions=3)
        wait_committed(settings, 2, [process], timeout_s=60)
    finally:
        _out, err = _stop(process) if process.poll() is None else process.communicate()
    assert process.returncode == 0, err
    outage = outage_lines(err, f"Kafka at {settings.kafka_bootstrap}")
    assert len(outage) == 2, err
    assert "1 dead letter(s) not acknowledged" in outage[0], outage
    assert "answers again" in outage[1]
    [letter] = _dead_letters(settings, 1)
    assert letter["key"] == b"junk"
    found = counts(settings.warehouse_url)
    assert (found["raw_receipts"], found["raw_quarantine"]) == ((1, 1), (1, 1))


@pytest.mark.postgres
def test_postgres_stopped_mid_load_is_retried_without_committing(
    broker_settings: Settings, own_postgres: PrivatePostgres
) -> None:
    settings = broker_settings.model_copy(update={"warehouse_url": own_postgres.url})
    with open_warehouse(settings.warehouse_url) as warehouse:
        warehouse.ensure_tables()  # so the row counts below can be read from the start
    publish(settings, traffic(10_000))
    process = start_ingest(settings, "--batch-size", "1000")
    try:
        _wait_for_rows(settings, 1, process, timeout=120)
        own_postgres.stop()
        time.sleep(2)  # the batch in flight finds the server gone
        held = committed(settings)
        publish(settings, traffic(10_000, start=10_000))
        expected = _published(10_000) + _published(10_000, start=10_000)
        time.sleep(6)
        assert process.poll() is None, "ingest gave up while PostgreSQL was down"
        assert committed(settings) == held, "offsets were committed while nothing was loaded"
        own_postgres.start()
        _wait_for_rows(settings, 20_000, process, timeout=180)
    finally:
        if process.poll() is None:
            _out, err = _stop(process)
        else:
            _out, err = process.communicate()
    assert process.returncode == 0, err
    outage = outage_lines(err, "warehouse")
    assert len(outage) == 2, err
    assert "unavailable" in outage[0] and "offsets not committed" in outage[0]
    assert "answers again" in outage[1]
    assert "Traceback" not in err
    _assert_exactly_once(settings, expected)


def test_full_store_disk_is_a_clear_error_and_loses_nothing(
    broker_settings: Settings, small_disk: SmallDisk
) -> None:
    settings = broker_settings.model_copy(update={"store_dir": small_disk.path / "store"})
    # More events than the 1 MiB store holds compressed.
    publish(settings, traffic(80_000))
    expected = _published(80_000)

    full = start_ingest(settings, "--once", "--batch-size", "2000")
    out, err = full.communicate(timeout=300)
    assert full.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert lines[-1].startswith("dlrw ingest: error: cannot write the store"), err
    assert "No space left on device" in lines[-1]
    assert "offsets were not committed" in lines[-1]
    assert "Traceback" not in err
    # No half-written segment is left holding the space, and the warehouse got no more than the
    # store holds: the failed batch was neither loaded nor committed.
    assert not [p for p in small_disk.path.rglob(".*.tmp")]
    loaded = _rows(settings)
    assert loaded < 80_000
    position = sum(committed(settings).values())
    assert position == loaded, "committed offsets are ahead of (or behind) the loaded rows"

    small_disk.resize("256m")
    again = start_ingest(settings, "--once")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    _assert_exactly_once(settings, expected)


def _stored(settings: Settings) -> Counter[str]:
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return Counter(
                {
                    kind: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for kind, table in (("send", "raw_sends"), ("receipt", "raw_receipts"))
                }
            )
    finally:
        engine.dispose()


def test_huge_records_are_ingested_or_dead_lettered(broker_settings: Settings) -> None:
    """A valid receipt with a 700 kB payload is an event like any other; 1 MB of junk (nearly
    the topic's limit) is dead-lettered with its reason, without stopping the consumer."""
    from dlrw.ingest.kafka.producer import EventPublisher
    from tests.pipeline.conftest import receipt
    from tests.pipeline.test_deadletters import _dead_letters

    settings = broker_settings
    big = receipt(1)
    big = type(big).from_dict(big.to_dict() | {"raw": "x" * 700_000})
    # 0xFF first: random bytes starting 0x00 (1 in 256) would read as registry-framed
    junk = b"\xff" + os.urandom(1_047_999)
    with EventPublisher(settings) as publisher:
        publisher.publish(big)
        publisher.publish_bytes("receipt", b"huge-junk", junk)
        publisher.publish(receipt(2))
    summary = ingest_once(settings)
    assert summary.events["receipt"] == 2
    assert summary.dead_letters == 1
    [letter] = _dead_letters(settings, 1)
    assert letter["key"] == b"huge-junk"
    assert letter["dlrw.error.class"] == b"UndecodableRecord"
    assert b"no C3 01 header" in letter["dlrw.error.reason"]
    assert _stored(settings)["receipt"] == 2


# Producers and broker outages: a bounded wait, a failure naming what is stored, an exact rerun.


def _events_file(path: Path, events: int) -> list[str]:
    """``events`` events in the `dlrw produce` format, one a line, in ``path``; their ids."""
    lines = [event_line(event) for event in traffic(events)]
    path.write_text("".join(f"{line}\n" for line in lines))
    return [json.loads(line)["event_id"] for line in lines]


def _event_ids(settings: Settings) -> Counter[str]:
    """How many times each event id is on the event topics."""
    topics = [settings.topic(t) for t in ("send", "receipt", "conversion")]
    records = read_records(settings, topics)
    return Counter(decode(value)[1]["event_id"] for topic in topics for _, value in records[topic])


def _wait_for_events(settings: Settings, count: int, timeout: float = 120) -> None:
    """Until ``count`` events are on the topics, and their acknowledgements had time to land."""
    deadline = time.monotonic() + timeout
    while sum(_event_ids(settings).values()) < count:
        assert time.monotonic() < deadline, f"{count} events did not arrive"
        time.sleep(0.5)
    time.sleep(1)


def _produce(settings: Settings, *args: str, timeout_s: float) -> subprocess.Popen[str]:
    """`dlrw produce ARGS` with a delivery timeout of ``timeout_s``, its stdin a pipe."""
    env = env_for(settings) | {
        "DLRW_KAFKA_DELIVERY_TIMEOUT": str(timeout_s),
        "PYTHONFAULTHANDLER": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "dlrw.ingest.cli", "produce", *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run in this worker before may have left SIGINT ignored, which a child inherits.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _stop_broker_after(
    process: subprocess.Popen[str], settings: Settings, lines: list[str], stored: int
) -> None:
    """Give `dlrw produce -` the first ``stored`` lines on stdin and stop the broker once they
    are acknowledged: stdin lets the test stop it between two known lines."""
    assert process.stdin is not None
    process.stdin.write("".join(lines[:stored]))
    process.stdin.flush()
    _wait_for_events(settings, stored)
    stop_broker(settings)


def _error_lines(err: str) -> list[str]:
    """stderr without the progress lines, which are not errors."""
    assert "Traceback" not in err and "Exception ignored" not in err, err
    return [line for line in err.splitlines() if not line.startswith("produce stdin:")]


def test_produce_outlived_by_an_outage_names_the_lines_stored_and_a_rerun_is_exact(
    own_broker: Settings, tmp_path: Path
) -> None:
    settings = own_broker
    path = tmp_path / "events.jsonl"
    ids = _events_file(path, 3000)
    lines = path.read_text().splitlines(keepends=True)
    stored = 1000
    process = _produce(settings, "-", timeout_s=5)
    try:
        _stop_broker_after(process, settings, lines, stored)
        started = time.monotonic()
        _out, err = process.communicate("".join(lines[stored:]), timeout=60)
    finally:
        process.kill()
    assert time.monotonic() - started < 5 + 20, "it waited far longer than the delivery timeout"
    assert process.returncode == 3, err
    [line] = _error_lines(err)
    assert line.startswith(
        f"dlrw produce: error: Kafka did not acknowledge line {stored + 1} (KafkaTimeoutError: "
    ), line
    assert line.endswith(f": lines 1-{stored} are stored; rerun with --skip-lines {stored}"), line

    start_broker(settings, log=lambda _line: None)
    rerun = _produce(settings, str(path), "--skip-lines", str(stored), timeout_s=30)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert out.startswith(f"published {3000 - stored} events"), out
    assert _event_ids(settings) == Counter(ids), "not every event is on the topics exactly once"


def test_ctrl_c_stops_a_produce_waiting_for_a_stopped_broker_at_once(
    own_broker: Settings, tmp_path: Path
) -> None:
    settings = own_broker
    _events_file(tmp_path / "events.jsonl", 2000)
    lines = (tmp_path / "events.jsonl").read_text().splitlines(keepends=True)
    stored = 500
    process = _produce(settings, "-", timeout_s=120)
    try:
        _stop_broker_after(process, settings, lines, stored)
        with pytest.raises(subprocess.TimeoutExpired):
            # All lines read: it now waits in its final flush for a broker that is gone.
            process.communicate("".join(lines[stored:]), timeout=3)
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # Where it hangs: faulthandler prints every thread's stack on SIGABRT.
            process.send_signal(signal.SIGABRT)
            pytest.fail(f"Ctrl-C did not stop produce in 30 s:\n{process.communicate()[1]}")
    finally:
        process.kill()
    assert time.monotonic() - interrupted < 5, "Ctrl-C was not honoured at once"
    assert process.returncode == 130, err
    assert _error_lines(err) == [
        f"dlrw produce: interrupted: lines 1-{stored} are stored; rerun with --skip-lines {stored}"
    ]


def test_simulate_outlived_by_an_outage_says_how_many_events_are_stored(
    own_broker: Settings,
) -> None:
    settings = own_broker.model_copy(update={"kafka_delivery_timeout": 5.0})
    config = SimulationConfig(messages=300, days=1, seed=3, start=datetime(2025, 3, 1, tzinfo=UTC))
    events = list(Simulator(config, settings.hash_secret()).events())
    stored = 400

    def outage_after_stored() -> Iterator[Event]:
        yield from events[:stored]
        _wait_for_events(settings, stored)
        stop_broker(settings)
        yield from events[stored:]

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as failure:
        publish_events(settings, outage_after_stored(), config)
    assert time.monotonic() - started < 60
    message = str(failure.value)
    assert message.startswith(f"Kafka did not acknowledge event {stored + 1} (KafkaTimeoutError")
    assert message.endswith(
        f": the first {stored} events are stored; the same command with --start "
        "2025-03-01T00:00:00+00:00 publishes the same events again (same event ids, which the "
        "warehouse counts once)"
    )

    start_broker(settings, log=lambda _line: None)
    publish_events(settings, iter(events), config)
    # The events stored before the outage are there twice, every other one once.
    twice = Counter(event.event_id for event in events[:stored])
    assert _event_ids(settings) == Counter(event.event_id for event in events) + twice


@pytest.mark.soak
def test_produce_of_a_file_outlived_by_a_broker_outage_reruns_exactly(
    own_broker: Settings, tmp_path: Path
) -> None:
    """The issue's case: a 47,763-line file, the broker gone mid-run for longer than the
    delivery timeout; then the rerun from the line named completes the topics."""
    settings = own_broker
    path = tmp_path / "events.jsonl"
    ids = _events_file(path, 47_763)
    process = _produce(settings, str(path), timeout_s=20)
    try:
        _wait_for_events(settings, 10_000, timeout=300)
        stop_broker(settings)
        stopped = time.monotonic()
        _out, err = process.communicate(timeout=120)
        assert time.monotonic() - stopped < 20 + 30
        time.sleep(max(0.0, 40 - (time.monotonic() - stopped)))  # an outage of 40 s in all
    finally:
        process.kill()
    assert process.returncode == 3, err
    [line] = [line for line in err.splitlines() if line.startswith("dlrw produce:")]
    assert "Traceback" not in err and "Exception ignored" not in err, err
    match = re.fullmatch(
        r"dlrw produce: error: Kafka did not acknowledge line (\d+) \(.+\): "
        r"lines 1-(\d+) are stored; rerun with --skip-lines (\d+)",
        line,
    )
    assert match, line
    stored = int(match.group(2))
    assert int(match.group(1)) == stored + 1 and int(match.group(3)) == stored
    assert 10_000 <= stored < 47_763

    start_broker(settings, log=lambda _line: None)
    rerun = _produce(settings, str(path), "--skip-lines", str(stored), timeout_s=60)
    _out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    on_topics = _event_ids(settings)
    assert set(on_topics) == set(ids), "events are missing"
    # Lines up to the one named were acknowledged once and not sent again; a line after it may
    # have been written without its acknowledgement arriving, and then twice.
    assert {on_topics[i] for i in ids[:stored]} == {1}
