"""The commit step of ingest, named after quix-streams' ``Checkpoint``: the offsets of batches the
worker reports written are committed to the consumer group here, and nowhere else.

A commit the group refuses (a rebalance, or a session that expired while the coordinator was
away) or that Kafka cannot take now (an outage, without ``--once``) is kept: those offsets are
written but not committed, and ``retry`` commits them once the group has settled or Kafka
answers, for the partitions this process still holds and where the group's offset is behind
them. A partition the group gave another member is dropped here: that member replays it from
the group's offset, and every write is idempotent on the record's (topic, partition, offset).
For the same reason a stop requested while Kafka is away commits nothing: the next run reads
those offsets again, rather than this one waiting for a coordinator that is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from kafka.structs import OffsetAndMetadata, TopicPartition

from dlrw.ingest.metrics import IngestMetrics
from dlrw.ingest.pipeline.outage import Outage

__all__ = ["COORDINATOR_WAIT_MS", "Checkpoint"]

log = logging.getLogger(__name__)

# How long a question to the group coordinator may wait: kafka-python's own default is to wait
# for ever, which would leave a stop request unanswered while Kafka is away.
COORDINATOR_WAIT_MS = 10_000
# A commit refused because this member's place in the group is out of date.
_REFUSED = (
    CommitFailedError,
    RebalanceInProgressError,
    IllegalGenerationError,
    UnknownMemberIdError,
)


class Checkpoint:
    """Offsets written and not yet committed, for ``consumer``'s group. ``kafka`` is told when a
    commit succeeds; ``failed`` is given every other Kafka error, to wait out or raise."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        kafka: Outage,
        failed: Callable[[KafkaError], None],
        metrics: IngestMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._kafka = kafka
        self._failed = failed
        self._metrics = metrics
        self._kept: dict[TopicPartition, int] = {}

    @property
    def pending(self) -> bool:
        """Whether offsets written are kept, waiting to be committed."""
        return bool(self._kept)

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the next offsets to read of a written batch, or keep them for ``retry``."""
        if self._kafka.away and self._kafka.stopping():
            self._keep(offsets)
            return
        try:
            self._consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()},
                timeout_ms=COORDINATOR_WAIT_MS,
            )
        except KafkaError as exc:
            if isinstance(exc, _REFUSED):
                log.info("offset commit refused during a rebalance (%s); retrying after it", exc)
            else:
                self._failed(exc)
            self._keep(offsets)
            return
        self._kafka.answered()
        if self._metrics is not None:
            self._metrics.last_commit.set_to_current_time()

    def retry(self) -> None:
        """Commit again the kept offsets of partitions this process holds, where the group's
        committed offset is behind them; the others are dropped."""
        if not self._kept:
            return
        owned = self._consumer.assignment()
        ahead = {
            tp: offset
            for tp, offset in self._kept.items()
            if tp in owned
            and (self._consumer.committed(tp, timeout_ms=COORDINATOR_WAIT_MS) or 0) < offset
        }
        self._kept = {}
        if ahead:
            self.commit(ahead)

    def _keep(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self._kept[tp] = max(offset, self._kept.get(tp, 0))
