"""The commit step (``Checkpoint``) on its own, and where ``--once`` ends (``CatchUp``).

Offsets whose commit the group refuses during a rebalance are kept, committed again once the
group has settled for the partitions still held and behind, and ``--once`` does not end while
any are kept, nor stop polling while another member holds partitions. A real consumer shows the
commit and a refusal by a real rebalance; a stand-in consumer stages what a real broker gives
only by chance of timing (a refusal outliving the rebalance, the group moving ahead meanwhile).
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata, TopicPartition

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import consumer
from dlrw.ingest.metrics import IngestMetrics
from dlrw.ingest.pipeline.catchup import CatchUp
from dlrw.ingest.pipeline.checkpoint import Checkpoint
from dlrw.ingest.pipeline.ingest import Ingestor
from dlrw.ingest.pipeline.outage import Outage
from tests.pipeline.conftest import group_for

A, B = TopicPartition("t.sms.sends", 0), TopicPartition("t.sms.sends", 1)


class _Consumer:
    """What the checkpoint and the catch-up ask of a consumer."""

    def __init__(self) -> None:
        self.refuse = True
        self.held = {A, B}
        self.group_committed: dict[TopicPartition, int] = {}
        self.polls = 0
        self.commits = 0

    def commit(
        self, offsets: dict[TopicPartition, OffsetAndMetadata], timeout_ms: int | None = None
    ) -> None:
        self.commits += 1
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


def _failed(exc: KafkaError) -> None:
    raise exc


def _checkpoint(kafka_consumer: object, kafka: Outage | None = None) -> Checkpoint:
    return Checkpoint(
        kafka_consumer,  # type: ignore[arg-type]
        kafka or Outage("Kafka", lambda: False),
        _failed,
    )


def _catch_up(fake: _Consumer, checkpoint: Checkpoint) -> CatchUp:
    catch_up = CatchUp(fake, [A.topic], checkpoint)  # type: ignore[arg-type]
    catch_up.assigned()
    return catch_up


def test_a_refused_commit_is_made_once_the_group_settles() -> None:
    fake = _Consumer()
    checkpoint = _checkpoint(fake)
    catch_up = _catch_up(fake, checkpoint)
    checkpoint.commit({A: 100, B: 100})
    assert fake.group_committed == {} and checkpoint.pending
    assert not catch_up.caught_up()  # positions are at the end, but nothing is committed

    checkpoint.retry()  # still rebalancing: refused again, still kept
    assert checkpoint.pending and not catch_up.caught_up()

    fake.refuse = False
    checkpoint.retry()
    assert fake.group_committed == {A: 100, B: 100}
    assert not checkpoint.pending
    assert catch_up.caught_up()


def test_partitions_taken_or_moved_ahead_are_left_to_the_group() -> None:
    fake = _Consumer()
    checkpoint = _checkpoint(fake)
    checkpoint.commit({A: 100, B: 100})
    fake.refuse = False
    fake.held = {A}  # B went to another member, which replays it from the group's offset
    fake.group_committed = {A: 120}  # and A was committed further meanwhile
    checkpoint.retry()
    assert fake.group_committed == {A: 120}, "an older offset must not be committed over it"
    assert not checkpoint.pending


def test_a_stop_while_kafka_is_away_commits_nothing_and_keeps_the_offsets() -> None:
    """A commit would wait out its timeout for a coordinator that is gone, delaying the stop;
    the next run reads the kept offsets again."""
    stopping = False
    kafka = Outage("Kafka", lambda: stopping)
    fake = _Consumer()
    fake.refuse = False
    checkpoint = _checkpoint(fake, kafka)
    kafka.failed("KafkaConnectionError", "offsets kept")
    stopping = True
    checkpoint.commit({A: 100})
    assert fake.commits == 0 and checkpoint.pending

    kafka.answered()  # a stop while Kafka answers still commits
    checkpoint.commit({B: 50})
    assert fake.group_committed == {B: 50}


def test_once_keeps_polling_while_another_member_holds_partitions() -> None:
    """Its own partitions read to the end, ``--once`` waits for B, held by another member. If
    that member died, B comes back only at a rebalance, which this member joins in ``poll``."""
    fake = _Consumer()
    fake.refuse = False
    fake.held = {A}
    catch_up = _catch_up(fake, _checkpoint(fake))
    assert catch_up.read_to_end() and not catch_up.caught_up()
    ingestor = Ingestor(Settings(topic_prefix="t."))
    ingestor._consumer = fake  # type: ignore[assignment]
    ingestor._catch_up = catch_up
    ingestor._collect(once=True)
    assert fake.polls == 1


def _member(settings: Settings, group: str, **options: int) -> KafkaConsumer:
    """A member of ``group`` on the sends topic, its partitions known before it joins."""
    member = consumer(settings, [], group, client_id="test-checkpoint", **options)
    assert member.partitions_for_topic(settings.topic("send"))
    member.subscribe([settings.topic("send")])
    return member


def _poll_until_shared(*members: KafkaConsumer) -> None:
    """Poll every member in turn until each holds partitions none of the others holds (a join
    waits for all)."""
    deadline = time.monotonic() + 60
    while not all(member.assignment() for member in members) or sum(
        len(member.assignment()) for member in members
    ) != len(set().union(*(member.assignment() for member in members))):
        assert time.monotonic() < deadline, [member.assignment() for member in members]
        for member in members:
            member.poll(timeout_ms=200)


@pytest.mark.broker
def test_a_real_commit_reaches_the_group_and_ends_an_outage(broker_settings: Settings) -> None:
    settings = broker_settings
    group = group_for(settings)
    member = _member(settings, group)
    try:
        _poll_until_shared(member)
        held = sorted(member.assignment())
        kafka = Outage("Kafka", lambda: False)
        kafka.failed("NoBrokersAvailable", "offsets kept")
        metrics = IngestMetrics(["send"])
        checkpoint = Checkpoint(member, kafka, _failed, metrics)
        checkpoint.commit({tp: 7 + i for i, tp in enumerate(held)})
        assert {tp: member.committed(tp) for tp in held} == {tp: 7 + i for i, tp in enumerate(held)}
        assert not checkpoint.pending and not kafka.away
        assert metrics.last_commit._value.get() > 0
    finally:
        member.close(autocommit=False)


@pytest.mark.broker
def test_a_commit_refused_by_a_real_rebalance_is_made_for_what_is_still_held(
    broker_settings: Settings,
) -> None:
    """A second member joins while the first does not poll: the group rebalances without it, so
    its commit is refused; once both hold partitions, its retry commits its own only."""
    settings = broker_settings
    group = group_for(settings)
    # The first member may go this long without polling before a rebalance leaves it out.
    first = _member(settings, group, max_poll_interval_ms=3000)
    second = _member(settings, group)
    try:
        _poll_until_shared(first)
        every = set(first.assignment())
        assert len(every) == 3
        deadline = time.monotonic() + 60
        while second.assignment() != every:
            assert time.monotonic() < deadline, second.assignment()
            second.poll(timeout_ms=200)
        checkpoint = _checkpoint(first)
        checkpoint.commit(dict.fromkeys(every, 5))
        assert checkpoint.pending, "the commit was not refused"
        assert all(first.committed(tp) is None for tp in every)

        # A loaded machine can keep the first member from polling for 3 s again, and the group
        # rebalances once more: then the retry is refused too, as ingest's would be, and repeated.
        deadline = time.monotonic() + 60
        while True:
            _poll_until_shared(first, second)
            mine = first.assignment()
            assert mine < every
            checkpoint.retry()
            if not checkpoint.pending:
                break
            assert time.monotonic() < deadline, "every retry was refused"
        assert {tp: first.committed(tp) for tp in every} == {
            tp: 5 if tp in mine else None for tp in every
        }
    finally:
        first.close(autocommit=False)
        second.close(autocommit=False)
