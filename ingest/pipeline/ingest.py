"""The ingest loop: a consumer group on the event topics, one batch at a time.

Per batch, in this order: store segments written and fsynced; dead letters sent; raw tables
loaded in one transaction; dead letters acknowledged; only then the batch's offsets committed.
A crash anywhere before the commit replays the batch, and every write is idempotent on the
record's (topic, partition, offset), so nothing is lost and nothing is counted twice.

This process reads each batch from Kafka as whole record batches, decodes and checks it
(``records``, ``batch``), stages its store segments (fsynced temporary files) and hands it to a
worker process (``worker``) that writes it while this one reads and prepares the next; a batch's
offsets are committed once the worker reports it written. At most three batches are handed
over and not yet written: one being written, the next ones waiting, so the writer seldom idles
while this process prepares.

The loop here polls, batches and hands batches over; one unit each does the rest: the records
polled and not yet batched, and how many to poll for (``pending``); the commit of written
offsets, keeping those the group refuses or cannot take now for a retry (``checkpoint``); and
where ``--once`` ends (``catchup``).

Without ``--once`` ingest outlives Kafka going away (a broker stopped, a rolling restart): a
request that fails for a reason that passes (no connection, no coordinator, a timeout) is
retried after a pause that grows up to 15 s, offsets written meanwhile are kept and committed
once the group coordinator answers, and the outage is logged once when it begins and once when
it ends (``outage``). With ``--once`` the first such failure ends the run, as it always did.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.batches import read_record_batches
from dlrw.ingest.kafka.client import consumer
from dlrw.ingest.kafka.registry_client import schema_ids_at
from dlrw.ingest.metrics import IngestMetrics
from dlrw.ingest.pipeline.batch import prepare_batch
from dlrw.ingest.pipeline.catchup import CatchUp
from dlrw.ingest.pipeline.checkpoint import COORDINATOR_WAIT_MS, Checkpoint
from dlrw.ingest.pipeline.lag import LagProbe
from dlrw.ingest.pipeline.outage import RECONNECT_BACKOFF_MAX_MS, Outage
from dlrw.ingest.pipeline.pending import PendingRecords
from dlrw.ingest.pipeline.records import OneRecord, PartitionRecords
from dlrw.ingest.pipeline.worker import IngestWorker
from dlrw.ingest.progress import Progress
from dlrw.ingest.store.segments import SegmentBatch, StoreWriteError
from dlrw.ingest.warehouse.connection import redact_url

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_GROUP",
    "EVENT_KINDS",
    "IngestSummary",
    "Ingestor",
]

log = logging.getLogger(__name__)

DEFAULT_GROUP = "dlrw-ingest"
EVENT_KINDS = ("send", "receipt", "conversion")
# How much the consumer fetches ahead, per request and per partition. kafka-python keeps what it
# fetched in memory: a bare consumer of 200k events peaked at about 260MB with 64MB/8MB fetches
# and 130MB with these, at about the same speed (bench/ingest.py gives its consumer the same).
# A fetch for partitions with nothing new waits up to fetch_max_wait_ms, and kafka-python sends
# a broker no other fetch meanwhile: 100ms instead of 500ms keeps partitions read to their end
# (others still hold records) from stalling the rest for half a second.
FETCH_LIMITS = {
    "fetch_max_bytes": 16 * 1024 * 1024,
    "max_partition_fetch_bytes": 2 * 1024 * 1024,
    "fetch_max_wait_ms": 100,
}
# Batches handed to the worker and not yet reported written: one written, two waiting. Batches
# take the two processes unequal times (a DuckDB checkpoint stalls the writer for up to a
# second); measured on 2 cores (1M events), three in flight ingest about 10% faster than two.
_MAX_IN_FLIGHT = 3
# An idle consumer's ``poll`` does not notice Kafka going away: after this long with no answer
# from the group coordinator, it is asked, so that ``/readyz`` says so.
_QUIET_CHECK_S = 5.0
# Records per batch. Measured on 2 cores (1M events): 20,000 ingests about 10% faster than
# 10,000 (fewer commits, transactions and fsyncs) for about 40MB more memory; deeper batches
# or more batches in flight measured no faster.
DEFAULT_BATCH_SIZE = 20_000


@dataclass
class IngestSummary:
    """What one ``ingest`` run did."""

    events: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    batches: int = 0
    # From the first records read (the group joined) to the last batch committed: the span the
    # rate covers, start-up and closing down left out.
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(self.events.values()) + self.dead_letters

    def line(self) -> str:
        """One line for the terminal."""
        kinds = ", ".join(f"{kind}: {self.events[kind]:,}" for kind in EVENT_KINDS)
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        return (
            f"ingested {sum(self.events.values()):,} events ({kinds}), "
            f"{self.dead_letters:,} dead letters, in {self.seconds:.1f}s from the first read "
            f"({rate:,.0f} records/s)"
        )


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.ingestor.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.ingestor.on_assigned(assigned)


class Ingestor:
    """Consumes the event topics into the store, the warehouse and the dead-letter topic."""

    def __init__(
        self,
        settings: Settings,
        group: str = DEFAULT_GROUP,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_wait_s: float = 1.0,
        progress: Progress | None = None,
        lock_wait_s: float = 0.0,
        metrics: IngestMetrics | None = None,
        exact: bool = False,
    ) -> None:
        """Ingest into ``settings.warehouse_url``; a DuckDB file another process holds is
        waited for ``lock_wait_s`` seconds. With ``metrics``, each committed batch is counted
        there and the consumer lag measured. ``exact`` reads through kafka-python's public API
        only and decodes record by record: slower, for debugging the fast path against."""
        self.settings = settings
        self.lock_wait_s = lock_wait_s
        self.group = group
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.progress = progress
        self.metrics = metrics
        self.exact = exact
        self.topic_kinds = {settings.topic(kind): kind for kind in EVENT_KINDS}
        # Asked only when a registry-framed record arrives; single-object topics need no registry.
        self._schema_ids = schema_ids_at(settings.schema_registry_url)
        self.summary = IngestSummary()
        self.stopping = False
        self._once = False
        self._kafka = Outage(f"Kafka at {settings.kafka_bootstrap}", lambda: self.stopping)
        self._pending = PendingRecords()
        # The partitions the group gave this process (read by the metrics threads too).
        self._held: frozenset[TopicPartition] = frozenset()
        self._consumer: KafkaConsumer | None = None
        # Made with the consumer, in ``run``.
        self._checkpoint: Checkpoint | None = None
        self._catch_up: CatchUp | None = None
        self._worker: IngestWorker | None = None
        self._first_read: float | None = None
        # Batches handed to the worker, oldest first: the offsets to commit once each is written,
        # its staged store segments (removed if the worker stops before moving them) and when
        # it was taken.
        self._in_flight: deque[tuple[dict[tuple[str, int], int], SegmentBatch, float]] = deque()

    # -- rebalance callbacks (run inside ``poll``) ----------------------------------------------

    def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """Note partitions taken away. This runs on kafka-python's IO thread, where no blocking
        call (commit) is allowed; their pending records are dropped before the next write and
        the new owner reads them again from the committed offset."""
        self._pending.revoked(revoked)
        self._held = self._held.difference(revoked)

    def on_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        assert self._catch_up is not None
        self._catch_up.assigned()
        self._held = frozenset(assigned)

    def readiness(self) -> str | None:
        """Why this process cannot ingest now, or None: its worker process is not running, its
        warehouse does not answer, Kafka is away, or it holds no partitions. Safe to call from
        any thread."""
        worker = self._worker
        if worker is None or not worker.alive():
            return "the ingest worker process is not running"
        if not worker.warehouse_reachable():
            return (
                f"the ingest worker has not reached the warehouse "
                f"{redact_url(self.settings.warehouse_url)}"
            )
        kafka_problem = self._kafka.problem
        if kafka_problem is not None:
            return f"{self._kafka.service} unavailable: {kafka_problem}"
        if not self._held:
            return "this process holds no partitions of the event topics"
        return None

    # -- the loop -------------------------------------------------------------------------------

    def run(self, once: bool = False) -> IngestSummary:
        """Consume until stopped (``stop`` or SIGTERM/SIGINT), or with ``once`` until every
        assigned partition is read to the end offsets seen when it was assigned."""
        started = time.monotonic()
        self._worker = IngestWorker(self.settings, self.settings.warehouse_url, self.lock_wait_s)
        lag = None
        if self.metrics is not None:
            lag = LagProbe(self.settings, self.group, lambda: self._held, self.metrics.lag)
        try:
            self._consumer = consumer(
                self.settings,
                [],
                self.group,
                client_id="dlrw-ingest",
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                **FETCH_LIMITS,
            )
            if not self.exact:
                read_record_batches(self._consumer)
            self._checkpoint = Checkpoint(
                self._consumer, self._kafka, self._kafka_failed, self.metrics
            )
            self._catch_up = CatchUp(self._consumer, self.topic_kinds, self._checkpoint)
        except BaseException:
            self._worker.close()
            if lag is not None:
                lag.close()
            raise
        try:
            # Fetch the topics' metadata before joining: a group leader that does not know a
            # topic's partitions yet assigns none of them, which ``once`` takes for caught up.
            topics = list(self.topic_kinds)
            missing = [t for t in topics if not self._consumer.partitions_for_topic(t)]
            if missing:
                raise ServiceUnavailable(
                    f"topic(s) {', '.join(missing)} missing on {self.settings.kafka_bootstrap}: "
                    "create them with `dlrw topics create`"
                )
            self._consumer.subscribe(topics, listener=_Rebalance(self))
            self._once = once
            # The group is joined, and the first batch read and prepared, while the worker
            # opens the warehouse; the first hand-over waits for it.
            while not self.stopping:
                try:
                    self._collect(once)
                    self._flush()
                    self._check_kafka(TopicPartition(topics[0], 0))
                except KafkaError as exc:
                    self._kafka_failed(exc)
                if self._kafka.away:
                    self._kafka.pause()
                    continue
                if once and not self._pending.count and self._catch_up.caught_up():
                    break
            self._finish_in_flight()
            self._worker.wait_ready()  # a worker that could not start fails even an idle run
            # Everything read is written and committed: what follows is closing down.
            self.summary.seconds = time.monotonic() - (self._first_read or started)
        except StoreWriteError as exc:
            raise StoreWriteError(
                f"{exc}; the batch's offsets were not committed, so it is read again on restart"
            ) from exc
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Kafka failed during ingest ({type(exc).__name__}: {exc}); "
                "offsets after the last written batch were not committed"
            ) from exc
        finally:
            # After a failure the batch in flight may still be writing: let it end, uncommitted;
            # the staged segments of batches the worker never wrote go.
            self._worker.close()
            for _, segments, _ in self._in_flight:
                segments.abort()
            self._in_flight.clear()
            if lag is not None:
                lag.close()
            self._close()
            self.summary.seconds = self.summary.seconds or (
                time.monotonic() - (self._first_read or started)
            )
        return self.summary

    def stop(self) -> None:
        """Finish the current batch, commit it and return from ``run``; a batch waiting for an
        unavailable warehouse is given up, uncommitted."""
        self.stopping = True
        if self._worker is not None:
            self._worker.stop_waiting()

    def _close(self) -> None:
        if self._consumer is not None:
            # Leaving the group now lets the other members take over without a session timeout.
            self._consumer.close(autocommit=False)

    def _collect(self, once: bool = False) -> None:
        """Poll until a full batch, the time budget, a quiet poll or a stop request; with
        ``once``, also until this process's partitions are read to their end offsets and it
        holds records to write. With none held it still polls: ``--once`` is then waiting for
        partitions another member holds, and only ``poll`` rejoins the group when that member
        dies and they are reassigned."""
        assert self._consumer is not None and self._catch_up is not None
        pending = self._pending
        deadline = time.monotonic() + self.batch_wait_s
        while pending.count < self.batch_size and not self.stopping:
            if once and pending.count and self._catch_up.read_to_end():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            polled = self._consumer.poll(
                timeout_ms=int(remaining * 1000), max_records=pending.wanted(self.batch_size)
            )
            if not polled:
                break
            if self._first_read is None:
                self._first_read = time.monotonic()
            pending.add(
                {tp: [OneRecord.of(r) for r in records] for tp, records in polled.items()}
                if self.exact
                else polled
            )

    def _flush(self) -> None:
        """Prepare the pending batch, stage its store segments and hand it to the worker, once
        fewer than ``_MAX_IN_FLIGHT`` batches before it are still being written."""
        assert self._consumer is not None and self._checkpoint is not None
        self._pending.drop_revoked(self._consumer.assignment())
        self._checkpoint.retry()
        if not self._pending.count:
            # Nothing new arrived: commit the batch in flight now rather than with the next one,
            # so an idle consumer's committed offsets reach what it has written.
            self._finish_in_flight()
            return
        taken = time.monotonic()
        now = datetime.now(UTC)
        # Whole milliseconds: the store's timestamp-millis must equal the warehouse's value.
        ingested_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        fetched = self._pending.take(self.batch_size)
        next_offsets = {(b[-1].topic, b[-1].partition): b[-1].last + 1 for b in fetched}
        prepared = prepare_batch(
            [PartitionRecords.fetched(items) for items in fetched],
            self.topic_kinds,
            self.settings.store_dir,
            ingested_at,
            ingested_at,
            schema_ids=self._schema_ids,
            columnar=not self.exact,
        )
        try:
            # Store segments are written (to temporary files) here, beside the worker's loads.
            segments = SegmentBatch.staged(prepared.segments, {"dlrw.writer": "ingest"})
        except StoreWriteError:
            # The batches before this one are sound: let them be written and committed.
            self._finish_in_flight()
            raise
        self._finish_in_flight(keep=_MAX_IN_FLIGHT - 1)
        assert self._worker is not None
        self._worker.submit(segments, prepared)
        self._in_flight.append((next_offsets, segments, taken))

    def _finish_in_flight(self, keep: int = 0) -> None:
        """Wait for the oldest batches in flight to be written (raising a failure), committing
        each one's offsets, until ``keep`` are left."""
        while len(self._in_flight) > keep:
            self._commit_written()

    def _commit_written(self) -> None:
        next_offsets, _, taken = self._in_flight.popleft()
        assert self._worker is not None and self._checkpoint is not None
        written = self._worker.result()
        self._checkpoint.commit(
            {TopicPartition(*tp): offset for tp, offset in next_offsets.items()}
        )
        dead_letters = sum(written.dead_letters.values())
        self.summary.events.update(written.events)
        self.summary.dead_letters += dead_letters
        self.summary.batches += 1
        if self.progress is not None:
            self.progress.advance(sum(written.events.values()) + dead_letters)
        if self.metrics is not None:
            self.metrics.batch_written(
                written.events, written.dead_letters, written.newest_ms, time.monotonic() - taken
            )

    def _kafka_failed(self, exc: KafkaError) -> None:
        """Note Kafka failing for a reason that passes, to wait it out; re-raise anything else,
        and everything with ``--once``."""
        if self._once or not exc.retriable:
            raise exc
        self._kafka.failed(
            f"{type(exc).__name__}: {exc}",
            "offsets after the last written batch not committed yet",
        )

    def _check_kafka(self, probe: TopicPartition) -> None:
        """Ask the group coordinator for ``probe``'s committed offset when no commit will say
        whether Kafka answers: during an outage with no offsets kept (whose retry would), and,
        without ``--once``, after ``_QUIET_CHECK_S`` without an answer. An answer ends an
        outage; a failure raises, to start one."""
        assert self._consumer is not None and self._checkpoint is not None
        if self._checkpoint.pending:
            return
        quiet = time.monotonic() - self._kafka.answered_at >= _QUIET_CHECK_S
        if self._kafka.away or (quiet and not self._once):
            self._consumer.committed(probe, timeout_ms=COORDINATOR_WAIT_MS)
            self._kafka.answered()


def install_stop_signals(ingestor: Ingestor) -> Callable[[], None]:
    """Make SIGTERM and SIGINT finish the current batch and stop; a second one stops hard.
    Returns a function that restores the previous handlers."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if ingestor.stopping:
            raise KeyboardInterrupt
        ingestor.stop()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
