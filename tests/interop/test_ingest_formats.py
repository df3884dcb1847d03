"""`dlrw ingest` reads both wire formats on one topic, told apart by the first byte: the same
events ingest to the same rows and store records whatever their framing; a schema id the
registry does not know, or whose schema dlrw cannot read, makes a dead letter."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.kafka.registry_client import SchemaRegistry, subject
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.store.segments import iter_segments, read_segment
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.ingest.warehouse.tables import RAW_TABLES
from dlrw.models.events import Event
from dlrw.models.wire import encode, encode_event, registry_framed, single_object
from tests.cli import env_for, run_dlrw
from tests.pipeline.conftest import any_warehouse as any_warehouse
from tests.pipeline.conftest import counts, group_for, ingest_once, send, traffic

pytestmark = pytest.mark.broker

# Columns that name where and when a row was ingested, not what it says.
_LINEAGE = {"_topic", "_ingested_at"}


def _publish(publisher: EventPublisher, events: list[Event], mixed: bool) -> None:
    """Every third event written with its schema's v1; with ``mixed``, every other one in the
    registry framing, the rest single-object encoded."""
    for i, event in enumerate(events):
        framing = publisher.framing if mixed and i % 2 else single_object
        version = 1 if i % 3 == 0 and event.event_type != "conversion" else None
        value = encode(event.event_type, event.to_dict(), version=version, framing=framing)
        publisher.publish_bytes(event.event_type, event.key(), value)


def _rows(settings: Settings, table: str, topic: str) -> list[dict[str, Any]]:
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                text(f"SELECT * FROM {table} WHERE _topic = :topic ORDER BY _partition, _offset"),
                {"topic": topic},
            )
            return [{k: v for k, v in row._mapping.items() if k not in _LINEAGE} for row in result]
    finally:
        engine.dispose()


def _stored(settings: Settings, kind: str, topic: str) -> list[dict[str, Any]]:
    records = [
        {k: v for k, v in record.items() if k not in _LINEAGE}
        for path in iter_segments(settings.store_dir, [kind])
        for record in read_segment(path)
        if record["_topic"] == topic
    ]
    return sorted(records, key=lambda r: (r["_partition"], r["_offset"]))


def test_both_formats_in_one_topic_ingest_to_identical_raw_tables(
    any_warehouse: Settings, schema_registry_url: str, topic_prefix: Any
) -> None:
    plain = any_warehouse
    mixed = plain.model_copy(
        update={
            "topic_prefix": topic_prefix(),
            "wire_format": "registry",
            "schema_registry_url": schema_registry_url,
        }
    )
    create_topics(mixed, partitions=3)
    events = list(traffic(600))
    for settings, is_mixed in ((plain, False), (mixed, True)):
        with EventPublisher(settings) as publisher:
            _publish(publisher, events, is_mixed)
        assert ingest_once(settings).events.total() == len(events)

    for kind, table in RAW_TABLES.items():
        want = _rows(plain, table.name, plain.topic(kind))
        assert want, kind
        assert _rows(mixed, table.name, mixed.topic(kind)) == want, kind
        assert _stored(mixed, kind, mixed.topic(kind)) == _stored(plain, kind, plain.topic(kind))


def _register_incompatible(settings: Settings) -> int:
    """A SendEvent schema dlrw cannot read, registered under the sends subject as a producer
    that turned its compatibility check off would: its id."""
    url = f"{settings.schema_registry_url}/subjects/{subject(settings, 'send')}"
    schema = {
        "type": "record",
        "name": "SendEvent",
        "namespace": "io.dlrw.sms",
        "fields": [{"name": "event_id", "type": "long"}],
    }
    SchemaRegistry(settings.schema_registry_url).set_compatibility(
        subject(settings, "send"), "NONE"
    )
    request = urllib.request.Request(
        f"{url}/versions",
        data=json.dumps({"schema": json.dumps(schema)}).encode(),
        method="POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["id"])


def _quarantine(settings: Settings) -> Iterator[tuple[int, str, str]]:
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            yield from conn.execute(
                text("SELECT _offset, error_class, reason FROM raw_quarantine ORDER BY _offset")
            )
    finally:
        engine.dispose()


def test_unknown_and_unreadable_schema_ids_are_dead_letters(registry_settings: Settings) -> None:
    settings = registry_settings
    body = encode_event(send(1))[10:]
    with EventPublisher(settings) as publisher:
        # One key: one partition, so the offsets are 0, 1, 2.
        publisher.publish_bytes("send", b"k", encode_event(send(2), publisher.framing))
        publisher.flush()
        incompatible = _register_incompatible(settings)
        publisher.publish_bytes("send", b"k", registry_framed(2**31 - 1, body))
        publisher.publish_bytes("send", b"k", registry_framed(incompatible, b"\x0a"))

    summary = ingest_once(settings)
    assert summary.events["send"] == 1
    dead = list(_quarantine(settings))
    assert [(offset, error) for offset, error, _ in dead] == [
        (1, "UnknownSchema"),
        (2, "IncompatibleSchema"),
    ]
    assert dead[0][2] == f"schema id {2**31 - 1} is not in the schema registry"
    assert f"schema id {incompatible} is registered as SendEvent" in dead[1][2]


def test_an_unreachable_registry_stops_ingest_and_loses_nothing(
    registry_settings: Settings,
) -> None:
    settings = registry_settings
    with EventPublisher(settings) as publisher:
        for i in range(20):
            publisher.publish(send(i))
    args = ["ingest", "--once", "--group", group_for(settings)]

    down = run_dlrw(args, env_for(settings, DLRW_SCHEMA_REGISTRY_URL="http://127.0.0.1:9/x"))
    assert down.returncode == 3
    assert "schema registry is not reachable" in down.stderr

    up = env_for(settings, DLRW_SCHEMA_REGISTRY_URL=settings.schema_registry_url)
    run_dlrw(args, up, check=True)
    assert counts(settings.warehouse_url)["raw_sends"] == (20, 20)
    assert counts(settings.warehouse_url)["raw_quarantine"] == (0, 0)
