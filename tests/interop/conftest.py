"""Fixtures for the interop tests: readers nobody here wrote, against the real broker and the
shared schema registry `make services` starts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.kafka.registry_client import SchemaIds, SchemaRegistry
from dlrw.ingest.kafka.topics import create_topics
from dlrw.models.events import DeliveryReceipt
from dlrw.models.wire import decode, encode
from tests.conftest import KAFKA_BOOTSTRAP, require_kafka
from tests.pipeline.conftest import receipt
from tests.registry.conftest import schema_registry_url as schema_registry_url

# Receipts written with schema v1 first, then with v2 (which adds network_error_code).
V1_RECEIPTS = 40
V2_RECEIPTS = 40


def read_topic(settings: Settings, topic: str) -> list[Message]:
    """Every record on ``topic``, read with confluent-kafka's own consumer."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"interop-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = list(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        expected = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            expected += high - low
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        found: list[Message] = []
        deadline = time.monotonic() + 60
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None:
                assert message.error() is None, message.error()
                found.append(message)
        assert len(found) == expected
        return found
    finally:
        consumer.close()


def both_readers(settings: Settings, topic: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each record of ``topic`` as AvroDeserializer reads it, and as dlrw's own decoder does."""
    external = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    ours = SchemaIds(SchemaRegistry(settings.schema_registry_url))
    context = SerializationContext(topic, MessageField.VALUE)
    return [
        (external(m.value(), context), decode(m.value(), ours)[1])
        for m in read_topic(settings, topic)
    ]


@pytest.fixture
def registry_settings(broker_settings: Settings, schema_registry_url: str) -> Settings:
    """``broker_settings`` whose producers write the schema registry wire format."""
    return broker_settings.model_copy(
        update={"wire_format": "registry", "schema_registry_url": schema_registry_url}
    )


@pytest.fixture(scope="module")
def evolved_receipts(
    tmp_path_factory: pytest.TempPathFactory,
    topic_prefix: Callable[..., str],
    schema_registry_url: str,
) -> tuple[Settings, list[DeliveryReceipt]]:
    """A receipts topic in the registry format: ``V1_RECEIPTS`` receipts written with schema v1,
    then ``V2_RECEIPTS`` with v2, each of those with a network error code; and the receipts."""
    require_kafka()
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("evolved")),
        kafka_bootstrap=KAFKA_BOOTSTRAP,
        topic_prefix=topic_prefix(),
        hash_key="test-hash-key",
        wire_format="registry",
        schema_registry_url=schema_registry_url,
    )
    create_topics(settings, partitions=3)
    first = [receipt(i) for i in range(V1_RECEIPTS)]
    then = [
        replace(receipt(i), network_error_code=f"N{i}")
        for i in range(V1_RECEIPTS, V1_RECEIPTS + V2_RECEIPTS)
    ]
    with EventPublisher(settings) as publisher:
        for event in first:
            value = encode("receipt", event.to_dict(), version=1, framing=publisher.framing)
            publisher.publish_bytes("receipt", event.key(), value)
        publisher.flush()
        for event in then:
            publisher.publish(event)
    return settings, first + then
