"""Offsets whose commit the group coordinator refused during a rebalance: kept, committed again
once the group has settled for the partitions still held and behind, and ``--once`` does not
end while any are pending. A stand-in consumer stages the refusal, which a real broker gives
only by chance of timing."""

from __future__ import annotations

from kafka.errors import RebalanceInProgressError
from kafka.structs import OffsetAndMetadata, TopicPartition

from ingest.config import Settings
from ingest.pipeline.ingest import Ingestor

A, B = TopicPartition("t.sends", 0), TopicPartition("t.sends", 1)


class _Consumer:
    """What ``Ingestor`` asks of a consumer when it commits and checks it has caught up."""

    def __init__(self) -> None:
        self.refuse = True
        self.held = {A, B}
        self.group_committed: dict[TopicPartition, int] = {}

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.refuse:
            raise RebalanceInProgressError("rebalancing")
        for tp, meta in offsets.items():
            self.group_committed[tp] = meta.offset

    def assignment(self) -> set[TopicPartition]:
        return self.held

    def committed(self, tp: TopicPartition) -> int | None:
        return self.group_committed.get(tp)

    def position(self, tp: TopicPartition) -> int:
        return 100

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1} if topic == A.topic else set()

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 100)


def _ingestor(fake: _Consumer) -> Ingestor:
    ingestor = Ingestor(Settings(topic_prefix="t."))
    ingestor._consumer = fake  # type: ignore[assignment]
    ingestor.on_assigned()
    return ingestor


def test_a_refused_commit_is_made_once_the_group_settles() -> None:
    fake = _Consumer()
    ingestor = _ingestor(fake)
    ingestor._commit({A: 100, B: 100})
    assert fake.group_committed == {}
    assert not ingestor._caught_up()  # positions are at the end, but nothing is committed

    ingestor._retry_refused()  # still rebalancing: refused again, still pending
    assert not ingestor._caught_up()

    fake.refuse = False
    ingestor._retry_refused()
    assert fake.group_committed == {A: 100, B: 100}
    assert ingestor._caught_up()


def test_partitions_taken_or_moved_ahead_are_left_to_the_group() -> None:
    fake = _Consumer()
    ingestor = _ingestor(fake)
    ingestor._commit({A: 100, B: 100})
    fake.refuse = False
    fake.held = {A}  # B went to another member, which replays it from the group's offset
    fake.group_committed = {A: 120}  # and A was committed further meanwhile
    ingestor._retry_refused()
    assert fake.group_committed == {A: 120}, "an older offset must not be committed over it"
    assert not ingestor._refused
