"""kafka-python clients built from Settings; connection failures become one-line errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable

__all__ = ["admin_client", "committed_total", "consumer", "producer"]


def _unreachable(settings: Settings, exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka is not reachable at {settings.kafka_bootstrap} ({type(exc).__name__}); "
        "start it with `dlrw broker start` or set DLRW_KAFKA_BOOTSTRAP"
    )


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer that waits for all in-sync replicas and batches for throughput; it retries
    until DLRW_KAFKA_DELIVERY_TIMEOUT, and no call of it blocks for longer."""
    timeout_ms = int(settings.kafka_delivery_timeout * 1000)
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        # Retried batches must not write a second copy of a record into the log.
        "enable_idempotence": True,
        # Bulk publishing: a batch of hundreds of records costs the client less CPU per record
        # than a few dozen; producers answering a request each (collect, alerts) override it.
        "linger_ms": 100,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "compression_type": None,
        "delivery_timeout_ms": timeout_ms,
        # Kafka wants delivery_timeout_ms >= linger_ms + request_timeout_ms.
        "request_timeout_ms": min(30_000, timeout_ms // 2),
        "max_block_ms": timeout_ms,
        "bootstrap_timeout_ms": min(30_000, timeout_ms),
        "client_id": "dlrw-producer",
    }
    options.update(overrides)
    try:
        return KafkaProducer(**options)
    except KafkaError as exc:
        raise _unreachable(settings, exc) from exc


def consumer(
    settings: Settings, topics: Sequence[str], group_id: str | None, **overrides: Any
) -> KafkaConsumer:
    """A consumer reading from the earliest offset, with offsets committed by the caller only."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "max_poll_records": 5000,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "client_id": "dlrw-consumer",
    }
    options.update(overrides)
    try:
        client = KafkaConsumer(**options)
    except KafkaError as exc:
        raise _unreachable(settings, exc) from exc
    if topics:
        client.subscribe(list(topics))
    return client


def admin_client(settings: Settings) -> KafkaAdminClient:
    """An admin client for topic management."""
    try:
        return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="dlrw-admin")
    except KafkaError as exc:
        raise _unreachable(settings, exc) from exc


def committed_total(settings: Settings, group: str) -> int:
    """The sum of a consumer group's committed offsets over every partition it has committed:
    how many records it has durably consumed from topics that start at offset 0."""
    admin = admin_client(settings)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
