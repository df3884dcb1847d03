"""The ingest worker process on its own: a failure it reports reaches the consumer as itself,
even when the consumer is still handing it batches after it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.config import Settings
from ingest.pipeline.batch import prepare_batch
from ingest.pipeline.records import PartitionRecords, SourceRecord
from ingest.pipeline.worker import IngestWorker
from ingest.store.segments import SegmentBatch, StoreWriteError
from models.wire import encode_event
from tests.pipeline.conftest import traffic

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_batches_sent_after_a_failure_get_the_failure_not_a_broken_pipe(
    settings: Settings, tmp_path: Path
) -> None:
    records = [
        SourceRecord("t.s", 0, offset, 0, None, encode_event(event))
        for offset, event in enumerate(e for e in traffic(6000) if e.event_type == "send")
    ]
    prepared = prepare_batch(
        [PartitionRecords.of("t.s", 0, records)], {"t.s": "send"}, tmp_path / "store", NOW, NOW
    )
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
