"""The bridge from the event loop to kafka-python: records go out through one shared producer,
and a request waits, without blocking the loop, until Kafka has acknowledged its own records.

kafka-python's ``send`` can block (waiting for topic metadata, or for buffer space), so it runs
in a small thread pool; acknowledgements come back through the futures' callbacks, which the
producer's I/O thread hands to the loop. No ``flush``: one request never waits for another's
records.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.client import producer

__all__ = ["KafkaSink", "OutgoingRecord"]

log = logging.getLogger("dlrw.collect")

# Provider webhooks time out after 10-15 s (Twilio: 15 s): give up on Kafka before they do, so
# the provider sees our 503 and retries, rather than its own timeout.
ACK_TIMEOUT_S = 10.0
_PRODUCER_OPTIONS: dict[str, Any] = {
    "client_id": "dlrw-collect",
    "linger_ms": 5,  # each request waits for its batch: keep the batching window short
    "max_block_ms": 3_000,
    "request_timeout_ms": 4_000,
    "delivery_timeout_ms": 9_000,
    # Kafka down at startup: fail in 2 s (503) instead of 30; reconnect within 1 s once it is back.
    "bootstrap_timeout_ms": 2_000,
    "reconnect_backoff_max_ms": 1_000,
}
# After a failed connection attempt, requests fail fast (503) for this long before the next one.
_RECONNECT_PAUSE_S = 1.0


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One Kafka record to write: topic, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None


class KafkaSink:
    """Writes records to Kafka and reports when they are acknowledged.

    The producer is created on first use (and again after a failure), so the service starts
    and answers 503 while Kafka is down, and recovers when it comes back.
    """

    def __init__(self, settings: Settings, ack_timeout_s: float = ACK_TIMEOUT_S) -> None:
        self.settings = settings
        self.ack_timeout_s = ack_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dlrw-collect")
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._retry_at = 0.0

    def _connected(self) -> KafkaProducer:
        with self._lock:
            if self._producer is not None:
                return self._producer
            if time.monotonic() < self._retry_at:
                raise ServiceUnavailable(
                    f"Kafka is not reachable at {self.settings.kafka_bootstrap}"
                )
            try:
                self._producer = producer(self.settings, **_PRODUCER_OPTIONS)
            except ServiceUnavailable:
                self._retry_at = time.monotonic() + _RECONNECT_PAUSE_S
                raise
            return self._producer

    def _send(self, records: Sequence[OutgoingRecord]) -> list[Any]:
        client = self._connected()
        try:
            return [
                client.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records
            ]
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Kafka did not take the record: {type(exc).__name__}"
            ) from exc

    async def write(self, records: Sequence[OutgoingRecord]) -> None:
        """Return once Kafka has acknowledged every record; raise ``ServiceUnavailable`` if any
        write failed or the acknowledgement took longer than ``ack_timeout_s``. A record that
        was not acknowledged in time may still be written later (at-least-once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout_s
        try:
            sent = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._send, records), self.ack_timeout_s
            )
            acks = [self._acknowledged(loop, future) for future in sent]
            await asyncio.wait_for(asyncio.gather(*acks), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise ServiceUnavailable(
                f"Kafka did not acknowledge within {self.ack_timeout_s:g}s"
            ) from None

    @staticmethod
    def _acknowledged(loop: asyncio.AbstractEventLoop, future: Any) -> asyncio.Future[None]:
        """An asyncio future that settles when the kafka-python future does."""
        waiter: asyncio.Future[None] = loop.create_future()

        def settle(exc: BaseException | None) -> None:
            if waiter.done():  # the request gave up (timeout) meanwhile
                return
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(
                    ServiceUnavailable(f"Kafka did not acknowledge: {type(exc).__name__}: {exc}")
                )

        future.add_callback(lambda _metadata: loop.call_soon_threadsafe(settle, None))
        future.add_errback(lambda exc: loop.call_soon_threadsafe(settle, exc))
        return waiter

    def _check_ready(self, topics: Sequence[str]) -> None:
        client = self._connected()
        for topic in topics:
            try:
                partitions = client.partitions_for(topic)
            except KafkaError as exc:
                raise ServiceUnavailable(f"no metadata for topic {topic}") from exc
            if not partitions:
                raise ServiceUnavailable(f"topic {topic} does not exist")
        # Metadata is cached, so it says nothing about now: also reach a bootstrap server.
        for server in self.settings.kafka_bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host or "localhost", int(port)), timeout=1.0):
                    return
            except (OSError, ValueError):
                continue
        raise ServiceUnavailable(f"Kafka is not reachable at {self.settings.kafka_bootstrap}")

    async def ready(self, topics: Sequence[str]) -> str | None:
        """None when Kafka is reachable and ``topics`` exist, else why not."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._check_ready, topics),
                self.ack_timeout_s,
            )
        except ServiceUnavailable as exc:
            return str(exc)
        except TimeoutError:
            return "Kafka readiness check timed out"
        return None

    async def connect(self) -> None:
        """Try to connect now (at startup) so the first request does not pay for it."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._connected)
        except ServiceUnavailable as exc:
            log.warning("%s; requests get 503 until it is", exc)

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush what is queued (bounded by ``timeout_s``) and release the producer."""
        with self._lock:
            client, self._producer = self._producer, None
        if client is not None:
            try:
                client.close(timeout=timeout_s)
            except KafkaError as exc:  # shutting down anyway; the providers will retry
                log.warning("closing the Kafka producer: %s", type(exc).__name__)
        self._executor.shutdown(wait=False, cancel_futures=True)
