"""How the consumer cuts what it polled into batches: whole record batches, in offset order,
until a batch holds ``batch_size`` records; what ``poll`` returned beyond that waits for the
next batch (``poll`` counts record batches, so it can return far more records than asked)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.structs import TopicPartition

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.batches import RecordBatch
from dlrw.ingest.pipeline.ingest import Ingestor


def _pending(spans: list[list[int]]) -> dict[TopicPartition, list[RecordBatch]]:
    pending = {}
    for partition, sizes in enumerate(spans):
        batches, offset = [], 0
        for size in sizes:
            batches.append(RecordBatch("t.sends", partition, offset, offset + size - 1, b""))
            offset += size
        pending[TopicPartition("t.sends", partition)] = batches
    return pending


@given(
    spans=st.lists(st.lists(st.integers(1, 500), max_size=12), min_size=1, max_size=6),
    batch_size=st.integers(1, 2000),
)
def test_batches_take_whole_record_batches_up_to_the_size_and_keep_the_rest(
    spans: list[list[int]], batch_size: int
) -> None:
    ingestor = Ingestor(Settings(topic_prefix="t."), batch_size=batch_size)
    ingestor._pending = _pending(spans)
    ingestor._pending_count = total = sum(map(sum, spans))
    taken: dict[int, list[RecordBatch]] = {}
    while ingestor._pending_count:
        batch = ingestor._take_batch()
        count = sum(b.span for held in batch for b in held)
        assert count >= batch_size or not ingestor._pending
        # Each partition's run stops once the batch is full: over by less than one record batch.
        assert count - max(b.span for held in batch for b in held) < batch_size
        assert ingestor._pending_count == sum(
            b.span for held in ingestor._pending.values() for b in held
        )
        for held in batch:
            taken.setdefault(held[0].partition, []).extend(held)
    assert not any(ingestor._pending.values())
    # Every record batch taken once, each partition's in offset order.
    assert taken == {tp.partition: batches for tp, batches in _pending(spans).items() if batches}
    assert sum(b.span for batches in taken.values() for b in batches) == total
