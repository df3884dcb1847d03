"""Offsets whose commit the group coordinator refused during a rebalance: kept, committed again
once the group has settled for the partitions still held and behind, and ``--once`` does not
end while any are pending, nor stop polling while another member holds partitions. A stand-in
consumer stages the refusal and the group, which a real broker gives only by chance of timing."""

from __future__ import annotations

from kafka.errors import RebalanceInProgressError
from kafka.structs import OffsetAndMetadata, TopicPartition

from dlrw.ingest.config import Settings
from dlrw.ingest.pipeline.ingest import Ingestor

A, B = TopicPartition("t.sms.sends", 0), TopicPartition("t.sms.sends", 1)


class _Consumer:
    """What ``Ingestor`` asks of a consumer when it commits and checks it has caught up."""

    def __init__(self) -> None:
        self.refuse = True
        self.held = {A, B}
        self.group_committed: dict[TopicPartition, int] = {}
        self.polls = 0

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.refuse:
            raise RebalanceInProgressError("rebalancing")
        for tp, meta in offsets.items():
            self.group_committed[tp] = meta.offset

    def assignment(self) -> set[TopicPartition]:
        return self.held

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.group_committed.get(tp)

    def position(self, tp: TopicPartition) -> int:
        return 100

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1} if topic == A.topic else set()

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 100)

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[object]]:
        self.polls += 1
        return {}


def _ingestor(fake: _Consumer) -> Ingestor:
    ingestor = Ingestor(Settings(topic_prefix="t."))
    ingestor._consumer = fake  # type: ignore[assignment]
    ingestor.on_assigned([A, B])
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


def test_once_keeps_polling_while_another_member_holds_partitions() -> None:
    """Its own partitions read to the end, ``--once`` waits for B, held by another member. If
    that member died, B comes back only at a rebalance, which this member joins in ``poll``."""
    fake = _Consumer()
    fake.refuse = False
    fake.held = {A}
    ingestor = _ingestor(fake)
    assert ingestor._read_to_end() and not ingestor._caught_up()
    ingestor._collect(once=True)
    assert fake.polls == 1
