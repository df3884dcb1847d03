"""What the ingest consumer polled and has not yet taken into a batch, by partition, and how many
record batches to ask ``poll`` for next.

``poll`` counts record batches, not records, and returns whole ones, so a poll may bring more
records than a batch takes: the rest wait here for the next batch. Partitions the group takes
away are dropped before the next batch; their new owner reads them again from the committed
offset.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace

from kafka.structs import TopicPartition

from dlrw.ingest.pipeline.records import Fetched

__all__ = ["PendingRecords"]


class PendingRecords:
    """Record batches (or single records, on the exact path) read and not yet batched."""

    def __init__(self) -> None:
        self._held: dict[TopicPartition, list[Fetched]] = {}
        self.count = 0
        # Record batches seen and the records they held: how many to ask ``poll`` for.
        self._batches_seen = 0
        self._records_seen = 0
        self._revoked: set[TopicPartition] = set()

    def wanted(self, batch_size: int) -> int:
        """Record batches to ask ``poll`` for to fill a batch of ``batch_size`` records, going
        by the records per record batch seen so far (one to begin with, to learn it)."""
        missing = batch_size - self.count
        return max(missing * self._batches_seen // max(self._records_seen, 1), 1)

    def add(self, polled: Mapping[TopicPartition, Sequence[Fetched]]) -> None:
        """Keep what ``poll`` returned, skipping records a partition already holds (a rebalance
        rewinds a partition to its committed offset)."""
        for tp, fetched in polled.items():
            held = self._held.setdefault(tp, [])
            if held and fetched[0].first <= held[-1].last:
                after = held[-1].last + 1
                fetched = [
                    replace(b, first=max(b.first, after)) for b in fetched if b.last >= after
                ]
            held.extend(fetched)
            span = sum(b.span for b in fetched)
            self.count += span
            self._batches_seen += len(fetched)
            self._records_seen += span

    def take(self, batch_size: int) -> list[list[Fetched]]:
        """Take whole record batches, partition by partition, until they hold ``batch_size``
        records; the rest wait for the next batch."""
        taken: list[list[Fetched]] = []
        count = 0
        for tp, held in list(self._held.items()):
            n = 0
            while n < len(held) and count < batch_size:
                count += held[n].span
                n += 1
            if n:
                taken.append(held[:n])
            if n == len(held):
                del self._held[tp]
            else:
                self._held[tp] = held[n:]
                break
        self.count -= count
        return taken

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Note partitions the group took away. Called on kafka-python's IO thread, so the
        records go only at the next ``drop_revoked``."""
        self._revoked.update(partitions)

    def drop_revoked(self, owned: Collection[TopicPartition]) -> None:
        """Drop the records of partitions taken away and not given back (``owned``)."""
        revoked, self._revoked = self._revoked, set()
        for tp in revoked.difference(owned):
            self.count -= sum(b.span for b in self._held.pop(tp, []))
