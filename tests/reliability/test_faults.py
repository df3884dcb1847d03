"""Nothing lost, nothing duplicated, whatever fails: ingest killed again and again, the broker
restarted, PostgreSQL stopped mid-load, the store's disk full. After each, the raw tables hold
every produced event exactly once.

The broker and PostgreSQL that get stopped are private ones (see conftest.py), never the shared
dev services.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import text

from ingest.config import Settings
from ingest.kafka.broker import start_broker, stop_broker
from ingest.store.segments import iter_segments
from ingest.warehouse.connection import connect_engine, open_warehouse
from tests.pipeline.conftest import counts, ingest_once, publish, start_ingest, traffic
from tests.pipeline.test_ingest import _assert_exactly_once, _published, _wait_for_segments
from tests.reliability.conftest import PrivatePostgres, SmallDisk, committed

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
    from ingest.kafka.topics import create_topics

    create_topics(postgres_settings, partitions=3)
    seed = int(os.environ.get("DLRW_FAULT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    _kill_repeatedly(postgres_settings, 500_000, kills=5, seed=seed)


@pytest.mark.soak
def test_kill_9_five_times_in_500k_events_on_duckdb(broker_settings: Settings) -> None:
    seed = int(os.environ.get("DLRW_FAULT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    _kill_repeatedly(broker_settings, 500_000, kills=5, seed=seed)


@pytest.mark.soak
def test_broker_restart_during_ingest_loses_nothing(own_broker: Settings) -> None:
    """Ingest may not ride out the broker going away (today it exits 3 with one line, offsets of
    the unwritten batch uncommitted); once restarted, it catches up with nothing lost."""
    settings = own_broker
    publish(settings, traffic(20_000))
    process = start_ingest(settings, "--batch-size", "1000")
    try:
        _wait_for_segments(settings.store_dir, process)
        stop_broker(settings)
        time.sleep(3)
        start_broker(settings, log=lambda _line: None)
        publish(settings, traffic(10_000, start=20_000))
        expected = _published(20_000) + _published(10_000, start=20_000)
        deadline = time.monotonic() + 240
        while _rows(settings) < 30_000 and process.poll() is None:
            assert time.monotonic() < deadline, f"only {_rows(settings)} of 30000 rows arrived"
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            _stop(process)
    _out, err = process.communicate()
    if process.returncode != 0:
        assert process.returncode == 3, err
        [line] = err.strip().splitlines()
        assert line.startswith("dlrw ingest: error: Kafka failed during ingest"), err
        assert "offsets after the last written batch were not committed" in line
        again = start_ingest(settings, "--once")
        _out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
    _assert_exactly_once(settings, expected)


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
    assert "unavailable" in err and "offsets not committed" in err, err
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
    from ingest.kafka.producer import EventPublisher
    from tests.pipeline.conftest import receipt
    from tests.pipeline.test_deadletters import _dead_letters

    settings = broker_settings
    big = receipt(1)
    big = type(big).from_dict(big.to_dict() | {"raw": "x" * 700_000})
    junk = os.urandom(1_048_000)
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
