"""Bad records end in the dead-letter topic and raw_quarantine with their reason, and never stop
the consumer: the good records around them are ingested."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import consumer
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.models.wire import MAGIC, encode, encode_event

from .conftest import counts, ingest_once, send

pytestmark = pytest.mark.broker


def _bad_records() -> list[tuple[bytes, bytes, str, str]]:
    """(key, value, error class, words in the reason) for every kind of bad record."""
    good = encode_event(send(9000))
    route_9 = send(9001).to_dict() | {"route_tier": 9}
    empty_id = send(9002).to_dict() | {"event_id": ""}
    in_1970 = send(9003).to_dict() | {"submitted_at": datetime(1970, 1, 2, tzinfo=UTC)}
    return [
        (b"k-random", b"\xff" + os.urandom(63), "UndecodableRecord", "no C3 01 header"),
        (b"k-truncated", good[:30], "UndecodableRecord", "corrupt SendEvent"),
        (b"k-unknown", MAGIC + b"\x00" * 8 + good[10:], "UnknownSchema", "unknown schema"),
        (b"k-tier", encode("send", route_9), "InvalidEvent", "route_tier"),
        (b"k-empty-id", encode("send", empty_id), "InvalidEvent", "event_id"),
        (b"k-1970", encode("send", in_1970), "InvalidEvent", "submitted_at"),
    ]


def _dead_letters(settings: Settings, expected: int) -> list[dict[str, bytes]]:
    reader = consumer(settings, [settings.topic("deadletter")], None, consumer_timeout_ms=10_000)
    found = []
    try:
        for record in reader:
            found.append({"key": record.key, "value": record.value, **dict(record.headers)})
            if len(found) >= expected:
                break
    finally:
        reader.close()
    return found


def test_malformed_records_are_dead_lettered_and_quarantined(any_warehouse: Settings) -> None:
    settings = any_warehouse
    bad = _bad_records()
    with EventPublisher(settings) as publisher:
        # One partition (same key) so good and bad records interleave in one batch.
        for i, (_, value, _, _) in enumerate(bad):
            publisher.publish_bytes("send", b"same-key", encode_event(send(i)))
            publisher.publish_bytes("send", b"same-key", value)
        publisher.publish_bytes("send", b"same-key", encode_event(send(100)))

    summary = ingest_once(settings)
    assert summary.events["send"] == len(bad) + 1
    assert summary.dead_letters == len(bad)
    assert counts(settings.warehouse_url)["raw_sends"] == (len(bad) + 1, len(bad) + 1)

    letters = {letter["value"]: letter for letter in _dead_letters(settings, len(bad))}
    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        quarantined = {
            bytes(row.payload): row
            for row in conn.execute(text("SELECT * FROM raw_quarantine ORDER BY _offset"))
        }
    engine.dispose()
    assert len(quarantined) == len(bad)
    for _key, value, error_class, words in bad:
        letter = letters[value]
        assert letter["key"] == b"same-key"
        assert letter["dlrw.source.topic"] == settings.topic("send").encode()
        assert letter["dlrw.error.class"] == error_class.encode()
        assert words in letter["dlrw.error.reason"].decode()
        row = quarantined[value]
        assert row.error_class == error_class
        assert words in row.reason
        assert bytes(row.key) == b"same-key"
        assert (row._partition, row._offset) == (
            int(letter["dlrw.source.partition"]),
            int(letter["dlrw.source.offset"]),
        )
