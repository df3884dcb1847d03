"""Publishing canonical events: Avro in the framing DLRW_WIRE_FORMAT names, keyed as the
contract says.

Every wait is bounded by ``DLRW_KAFKA_DELIVERY_TIMEOUT``: a record Kafka has not acknowledged
by then fails, and the failure names the first record not acknowledged, so a caller that
publishes in order knows exactly which records are stored (every one before it).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter, deque
from types import TracebackType
from typing import Any, Self

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.future import Future

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.client import producer
from dlrw.ingest.kafka.registry_client import framing
from dlrw.models.events import Event
from dlrw.models.wire import encode_event

__all__ = ["EventPublisher", "PublishFailed"]

# How often (in records) publishing looks at the acknowledgements: a failure surfaces this soon.
_CHECK_EVERY = 1000


class PublishFailed(ServiceUnavailable):
    """Kafka did not acknowledge the record tagged ``tag``; every record before it was."""

    def __init__(self, tag: int, reason: str) -> None:
        super().__init__(f"Kafka did not acknowledge record {tag} ({reason})")
        self.tag = tag
        self.reason = reason


class EventPublisher:
    """Publishes events to their topics; ``flush`` (and leaving the ``with`` block) waits until
    Kafka has acknowledged every one of them, and raises ``PublishFailed`` if any was not.

    Each record carries a tag, by default its position (1, 2, ...); a caller may pass its own
    increasing tags (e.g. input line numbers) to be told which of its inputs are stored."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # How records are framed: whoever encodes for this publisher uses it.
        self.framing = framing(settings)
        self._producer = producer(settings)
        # (tag, future) of each record not yet seen acknowledged, in publishing order.
        self._pending: deque[tuple[int, Any]] = deque()
        self._count = 0
        self.published: Counter[str] = Counter()

    def publish(self, event: Event, tag: int | None = None) -> None:
        """Queue one event; failures surface at a later ``publish`` or at ``flush``."""
        self.publish_bytes(event.event_type, event.key(), encode_event(event, self.framing), tag)

    def publish_bytes(
        self, event_type: str, key: bytes, value: bytes, tag: int | None = None
    ) -> None:
        """Queue an already encoded record to the topic of ``event_type``."""
        self._count += 1
        tag = self._count if tag is None else tag
        try:
            future = self._producer.send(self.settings.topic(event_type), key=key, value=value)
        except KafkaError as exc:
            # Kafka took no more records for max_block_ms (buffer full, or no metadata).
            future = Future().failure(exc)
        self._pending.append((tag, future))
        if future.failed():
            self.flush()  # raises, naming this record or an earlier one not acknowledged
        self.published[event_type] += 1
        if self._count % _CHECK_EVERY == 0:
            self._check()

    def first_unacknowledged(self) -> int | None:
        """The tag of the first record Kafka has not acknowledged (yet, or at all); None if it
        has acknowledged every one."""
        pending = self._pending
        while pending and pending[0][1].succeeded():
            pending.popleft()
        return pending[0][0] if pending else None

    def flush(self) -> None:
        """Wait until Kafka has acknowledged every queued record, at most the delivery timeout;
        ``PublishFailed`` names the first record it did not acknowledge."""
        self._settle()
        self._check()
        if self._pending:
            timeout = self.settings.kafka_delivery_timeout
            raise PublishFailed(self._pending[0][0], f"no answer within {timeout:g}s")

    def close(self) -> None:
        """Release the producer without waiting for records Kafka has not settled: they get
        until the delivery timeout, in a daemon thread that the process does not wait for."""
        timeout = self.settings.kafka_delivery_timeout
        if self.first_unacknowledged() is None:
            self._producer.close(timeout=timeout)
            return
        # kafka-python's close(0) raises while records are pending (it flushes first).
        threading.Thread(
            target=_close, args=(self._producer, timeout), name="dlrw-producer-close", daemon=True
        ).start()

    def _settle(self) -> None:
        """Wait until every record is acknowledged or failed, at most the delivery timeout."""
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout=self.settings.kafka_delivery_timeout)

    def _check(self) -> None:
        """Raise if the first record not acknowledged has failed."""
        if self.first_unacknowledged() is not None and self._pending[0][1].failed():
            tag, future = self._pending[0]
            raise PublishFailed(tag, _reason(future.exception))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()


def _close(client: KafkaProducer, timeout: float) -> None:
    with contextlib.suppress(KafkaTimeoutError):
        client.close(timeout=timeout)


def _reason(exc: BaseException) -> str:
    # kafka-python's errors name their class in their text already.
    return str(exc) if isinstance(exc, KafkaError) else f"{type(exc).__name__}: {exc}"
