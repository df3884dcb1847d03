"""Where ``ingest --once`` ends: every partition of the event topics read up to the end offsets
seen when the group last assigned them, this process's by their positions, the others by the
group's committed offsets, and no offsets of written batches left to commit (``Checkpoint``).
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from dlrw.ingest.pipeline.checkpoint import Checkpoint

__all__ = ["CatchUp"]


class CatchUp:
    """The end offsets ``--once`` reads to, taken again at each assignment."""

    def __init__(
        self, consumer: KafkaConsumer, topics: Iterable[str], checkpoint: Checkpoint
    ) -> None:
        self._consumer = consumer
        self._checkpoint = checkpoint
        self._topics = list(topics)
        self._assigned = False
        self._end_offsets: dict[TopicPartition, int] | None = None

    def assigned(self) -> None:
        """Note a new assignment: the end offsets are taken again when next asked."""
        self._assigned = True
        self._end_offsets = None

    def read_to_end(self) -> bool:
        """Whether this process has read its partitions up to the end offsets seen at the last
        assignment (False until the group has assigned them)."""
        if not self._assigned:
            return False
        if self._end_offsets is None:
            every = [
                TopicPartition(topic, partition)
                for topic in self._topics
                for partition in sorted(self._consumer.partitions_for_topic(topic) or ())
            ]
            self._end_offsets = self._consumer.end_offsets(every)
        return all(
            self._consumer.position(tp) >= self._end_offsets.get(tp, 0)
            for tp in self._consumer.assignment()
        )

    def caught_up(self) -> bool:
        """Whether the group has read and committed everything up to those end offsets. A
        partition held by another member is not done until that member commits it; one held by
        a member that died keeps ``--once`` waiting until its session expires and the partition
        is reassigned, rather than ending with it unread."""
        if self._checkpoint.pending or not self.read_to_end():
            return False
        assert self._end_offsets is not None
        assignment = self._consumer.assignment()
        return all(
            (self._consumer.committed(tp) or 0) >= end
            for tp, end in self._end_offsets.items()
            if tp not in assignment
        )
