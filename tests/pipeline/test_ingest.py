"""Ingest end to end on the real broker and both warehouses: every event lands exactly once,
after a normal run, a replay, a SIGKILL mid-run and with two processes in one group."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import admin_client, committed_total
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.store.segments import iter_segments
from tests.cli import stop

from .conftest import counts, group_for, ingest_once, publish, start_ingest, traffic

pytestmark = pytest.mark.broker

_TABLE = {"send": "raw_sends", "receipt": "raw_receipts", "conversion": "raw_conversions"}


def _published(n: int, start: int = 0) -> Counter[str]:
    """How many events of each type ``traffic(n, start)`` gives."""
    return Counter(event.event_type for event in traffic(n, start))


def _publish(settings: Settings, n: int) -> Counter[str]:
    """Publish ``n`` events of traffic; how many there were of each type."""
    publish(settings, traffic(n))
    return _published(n)


def _assert_exactly_once(settings: Settings, expected: Counter[str]) -> None:
    found = counts(settings.warehouse_url)
    for kind, table in _TABLE.items():
        rows, keys = found[table]
        assert (rows, keys) == (expected[kind], expected[kind]), table
    assert found["raw_quarantine"] == (0, 0)


def _wait_for_segments(store: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(iter_segments(store)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "ingest wrote nothing"
        time.sleep(0.05)


def test_every_event_is_ingested_once_and_a_replay_adds_nothing(any_warehouse: Settings) -> None:
    settings = any_warehouse
    expected = _publish(settings, 3000)

    summary = ingest_once(settings, batch_size=700)
    assert summary.events == expected
    _assert_exactly_once(settings, expected)

    # Same group again: nothing new to read.
    assert ingest_once(settings).records == 0
    # A new group re-reads every offset; the idempotent load keeps one row each.
    assert (
        ingest_once(settings, group=group_for(settings) + "replay", batch_size=1000).events
        == expected
    )
    _assert_exactly_once(settings, expected)


def test_kill_9_mid_run_loses_and_duplicates_nothing(any_warehouse: Settings) -> None:
    settings = any_warehouse
    expected = _publish(settings, 30_000)

    first = start_ingest(settings, "--batch-size", "2000")
    try:
        _wait_for_segments(settings.store_dir, first)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    assert first.returncode == -signal.SIGKILL

    second = start_ingest(settings, "--once")
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert "ingested" in out
    _assert_exactly_once(settings, expected)


def test_sigterm_finishes_the_batch_and_exits_cleanly(broker_settings: Settings) -> None:
    settings = broker_settings
    expected = _publish(settings, 20_000)

    process = start_ingest(settings, "--batch-size", "1000")
    _wait_for_segments(settings.store_dir, process)
    out, err = stop(process)
    assert process.returncode == 0, err
    assert out.startswith("ingested ")

    ingest_once(settings)
    _assert_exactly_once(settings, expected)


def test_an_idle_consumer_commits_its_last_batch(broker_settings: Settings) -> None:
    """The batch written last is committed while ingest waits for more, not only with the next
    batch or at shutdown: the group's lag is what it has really not written yet."""
    settings = broker_settings
    process = start_ingest(settings, "--batch-size", "2000")
    try:
        expected = _publish(settings, 5000)
        deadline = time.monotonic() + 60
        while committed_total(settings, group_for(settings)) < 5000:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, (
                f"committed {committed_total(settings, group_for(settings)):,} of 5,000 while idle"
            )
            time.sleep(0.2)
    finally:
        _, err = stop(process)
    assert process.returncode == 0, err
    _assert_exactly_once(settings, expected)


def _stable_members(settings: Settings, group: str) -> int:
    """Members of ``group`` once it has settled on an assignment (0 while it rebalances)."""
    admin = admin_client(settings)
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    return len(description["members"]) if description["group_state"] == "Stable" else 0


def test_two_processes_in_one_group_split_the_partitions(postgres_settings: Settings) -> None:
    settings = postgres_settings
    create_topics(settings, partitions=3)
    processes = [start_ingest(settings, "--batch-size", "2000") for _ in range(2)]
    try:
        # Publish only once both are members, so the partitions are split before any is read.
        deadline = time.monotonic() + 60
        while _stable_members(settings, group_for(settings)) < 2:
            for process in processes:
                assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the two processes never formed one group"
            time.sleep(0.5)
        expected = _publish(settings, 40_000)
        deadline = time.monotonic() + 120
        while sum(rows for rows, _ in counts(settings.warehouse_url).values()) < 40_000:
            assert time.monotonic() < deadline, "not everything was ingested"
            time.sleep(0.5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
    outputs = [p.communicate(timeout=60) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    ingested = [int(out.split()[1].replace(",", "")) for out, _ in outputs]
    assert all(n > 0 for n in ingested), f"one process got no partitions: {ingested}"
    # Each process counts what it wrote: a batch written just before a rebalance moved its
    # partition is written again by the new owner, and the raw tables still hold it once.
    assert sum(ingested) >= 40_000
    _assert_exactly_once(settings, expected)
