"""The ingest worker process on its own: batches handed over through shared memory are written
and leave none behind; a failure it reports reaches the consumer as itself, even when the
consumer is still handing it batches after it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.pipeline import worker as worker_module
from dlrw.ingest.pipeline.batch import PreparedBatch, prepare_batch
from dlrw.ingest.pipeline.records import PartitionRecords, SourceRecord
from dlrw.ingest.pipeline.worker import IngestWorker
from dlrw.ingest.store.segments import SegmentBatch, StoreWriteError
from dlrw.ingest.warehouse.connection import open_warehouse
from dlrw.models.wire import encode_event
from tests.models.test_wire_registry import lookup
from tests.pipeline.conftest import traffic

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHARED_MEMORY = Path("/dev/shm")


def _prepared(store: Path, first_offset: int = 0) -> PreparedBatch:
    sends = (e for e in traffic(6000) if e.event_type == "send")
    records = [
        SourceRecord("t.s", 0, offset, 0, None, encode_event(event))
        for offset, event in enumerate(sends, start=first_offset)
    ]
    return prepare_batch(
        [PartitionRecords.of("t.s", 0, records)],
        {"t.s": "send"},
        store,
        NOW,
        NOW,
        schema_ids=lookup,
    )


def _blocks() -> set[str]:
    """The shared memory blocks of this machine that Python's ``SharedMemory`` made."""
    return {p.name for p in SHARED_MEMORY.glob("psm_*")}


def test_batches_are_written_and_their_shared_memory_removed(
    settings: Settings, tmp_path: Path
) -> None:
    before = _blocks()
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    worker = IngestWorker(settings, url)
    try:
        for start in (0, 6000, 12000):
            prepared = _prepared(tmp_path / "store", first_offset=start)
            worker.submit(SegmentBatch.staged(prepared.segments, {}), prepared)
        written = [worker.result() for _ in range(3)]
        assert _blocks() == before
    finally:
        worker.close()
    sends = prepared.events["send"]
    assert [w.events["send"] for w in written] == [sends] * 3
    with open_warehouse(url) as warehouse:
        assert warehouse._execute("SELECT count(*) FROM raw_sends") == [(3 * sends,)]


def test_without_room_in_shared_memory_batches_go_through_the_pipe(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr(worker_module, "_shared_memory_free", lambda: 0)
    monkeypatch.setattr(worker_module, "shared_memory", None)  # any use fails
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    worker = IngestWorker(settings, url)
    try:
        for start in (0, 6000):
            prepared = _prepared(tmp_path / "store", first_offset=start)
            worker.submit(SegmentBatch.staged(prepared.segments, {}), prepared)
        written = [worker.result() for _ in range(2)]
    finally:
        worker.close()
    assert [w.events["send"] for w in written] == [prepared.events["send"]] * 2
    warnings = [r.getMessage() for r in caplog.records if "shared memory" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "--shm-size" in warnings[0]


def test_batches_sent_after_a_failure_get_the_failure_not_a_broken_pipe(
    settings: Settings, tmp_path: Path
) -> None:
    before = _blocks()
    prepared = _prepared(tmp_path / "store")
    first = SegmentBatch.staged(prepared.segments, {})
    for segment in prepared.segments:
        segment.path.mkdir(parents=True)  # a folder where the segment should go: moving fails
    worker = IngestWorker(settings, f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        with pytest.raises(StoreWriteError, match="cannot write the store"):
            worker.submit(first, prepared)
            # The worker stops at that failure; these sends find its end of the pipe closed.
            for _ in range(50):
                worker.submit(SegmentBatch.staged(prepared.segments, {}), prepared)
            worker.result()
    finally:
        worker.close()
    # Those batches were never taken: closing removes their shared memory.
    assert _blocks() == before
