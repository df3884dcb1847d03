"""Publishing canonical events: Avro single-object encoded, keyed as the contract says."""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Self

from kafka.errors import KafkaError

from ingest.config import Settings
from ingest.errors import ServiceUnavailable
from ingest.kafka.client import producer
from models.events import Event
from models.wire import encode_event

__all__ = ["EventPublisher"]


class EventPublisher:
    """Publishes events to their topics; ``flush`` (and leaving the ``with`` block) waits until
    Kafka has acknowledged every one of them, and raises if any write failed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer = producer(settings)
        self._pending: list = []
        self.published: Counter[str] = Counter()

    def publish(self, event: Event) -> None:
        """Queue one event (non-blocking); failures surface at ``flush``."""
        self.publish_bytes(event.event_type, event.key(), encode_event(event))

    def publish_bytes(self, event_type: str, key: bytes, value: bytes) -> None:
        """Queue an already encoded record to the topic of ``event_type``."""
        future = self._producer.send(self.settings.topic(event_type), key=key, value=value)
        self._pending.append(future)
        self.published[event_type] += 1
        if len(self._pending) >= 50_000:
            self.flush()

    def flush(self) -> None:
        """Block until every queued record is acknowledged."""
        self._producer.flush()
        failed = [f for f in self._pending if f.failed()]
        self._pending.clear()
        if failed:
            exc = failed[0].exception
            raise ServiceUnavailable(
                f"{len(failed)} record(s) were not acknowledged by Kafka: {exc}"
            ) from (exc if isinstance(exc, KafkaError) else None)

    def close(self) -> None:
        self._producer.close()

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
