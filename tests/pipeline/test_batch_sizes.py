"""How the consumer cuts what it polled into batches: whole record batches, in offset order,
until a batch holds ``batch_size`` records; what ``poll`` returned beyond that waits for the
next batch (``poll`` counts record batches, so it can return far more records than asked)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.structs import TopicPartition

from dlrw.ingest.kafka.batches import RecordBatch
from dlrw.ingest.pipeline.pending import PendingRecords


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
    pending = PendingRecords()
    pending.add(_pending(spans))
    total = sum(map(sum, spans))
    assert pending.count == total
    taken: dict[int, list[RecordBatch]] = {}
    while pending.count:
        batch = pending.take(batch_size)
        count = sum(b.span for held in batch for b in held)
        assert count >= batch_size or not pending.count
        # Each partition's run stops once the batch is full: over by less than one record batch.
        assert count - max(b.span for held in batch for b in held) < batch_size
        for held in batch:
            taken.setdefault(held[0].partition, []).extend(held)
        assert pending.count == total - sum(b.span for run in taken.values() for b in run)
    assert pending.take(batch_size) == []
    # Every record batch taken once, each partition's in offset order.
    assert taken == {tp.partition: batches for tp, batches in _pending(spans).items() if batches}
    assert sum(b.span for batches in taken.values() for b in batches) == total


def test_records_a_rebalance_rewound_to_are_kept_once() -> None:
    """After a rebalance ``poll`` starts again from the committed offset, inside what is held."""
    tp = TopicPartition("t.sends", 0)
    pending = PendingRecords()
    pending.add(
        {tp: [RecordBatch("t.sends", 0, 0, 9, b""), RecordBatch("t.sends", 0, 10, 19, b"")]}
    )
    pending.add(
        {tp: [RecordBatch("t.sends", 0, 10, 19, b""), RecordBatch("t.sends", 0, 20, 29, b"")]}
    )
    assert pending.count == 30
    assert [(b.first, b.last) for b in pending.take(100)[0]] == [(0, 9), (10, 19), (20, 29)]


def test_partitions_revoked_and_not_given_back_are_dropped() -> None:
    a, b = TopicPartition("t.sends", 0), TopicPartition("t.sends", 1)
    pending = PendingRecords()
    pending.add(
        {a: [RecordBatch("t.sends", 0, 0, 9, b"")], b: [RecordBatch("t.sends", 1, 0, 4, b"")]}
    )
    pending.revoked([a, b])
    assert pending.count == 15, "dropped only on the loop's thread, at drop_revoked"
    pending.drop_revoked(owned={b})
    assert pending.count == 5
    assert [(r.partition, r.first) for run in pending.take(100) for r in run] == [(1, 0)]
