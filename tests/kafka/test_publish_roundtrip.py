"""10,000 mixed events through EventPublisher and back: bytes, objects, keys, exactly once."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.pii import hash_destination
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.models.events import EVENT_TYPES, ConversionEvent, DeliveryReceipt, Event, SendEvent
from dlrw.models.status import Status
from dlrw.models.wire import decode, encode_event

pytestmark = pytest.mark.broker

BASE = datetime(2025, 3, 1, tzinfo=UTC)
T = TypeVar("T")


def _at(rng: random.Random) -> datetime:
    # Avro timestamp-millis keeps milliseconds; anything finer would not round-trip.
    return BASE + timedelta(milliseconds=rng.randrange(30 * 24 * 3600 * 1000))


def _maybe(rng: random.Random, value: T) -> T | None:
    return value if rng.random() < 0.5 else None


def _send(rng: random.Random, n: int) -> SendEvent:
    return SendEvent(
        event_id=f"send-{n}",
        message_id=f"msg-{n}",
        provider=rng.choice(["smpp", "twilio", "infobip", "vonage"]),
        destination_hash=hash_destination(f"+4477009{n:05d}", b"k"),
        country=rng.choice(["GB", "IN", "BR", "NG", "US"]),
        route_id=f"route-{rng.randrange(20)}",
        route_tier=rng.randint(1, 4),
        segments=rng.randint(1, 6),
        submitted_at=_at(rng),
        provider_message_id=_maybe(rng, f"pm-{n}"),
        campaign_id=_maybe(rng, f"camp-{rng.randrange(5)}"),
        sender_id=_maybe(rng, "ACME"),
        mcc_mnc=_maybe(rng, rng.choice(["23410", "404045", "72405"])),
        encoding=_maybe(rng, rng.choice(["GSM7", "UCS2"])),
        price=_maybe(rng, round(rng.uniform(0.001, 0.2), 5)),
        currency=_maybe(rng, "EUR"),
    )


def _receipt(rng: random.Random, n: int) -> DeliveryReceipt:
    status = rng.choice(list(Status))
    return DeliveryReceipt(
        event_id=f"receipt-{n}",
        provider=rng.choice(["smpp", "twilio"]),
        provider_message_id=f"pm-{n // 2}",
        status=status,
        is_final=status.is_final,
        received_at=_at(rng),
        raw=f"id:pm-{n} stat:{status.value} text:ünïcødé ✓",
        message_id=_maybe(rng, f"msg-{n // 2}"),
        error_code=_maybe(rng, f"{rng.randrange(1000):03d}"),
        mcc_mnc=_maybe(rng, "23415"),
        submitted_at=_maybe(rng, _at(rng)),
        done_at=_maybe(rng, _at(rng)),
        segments_submitted=_maybe(rng, 2),
        segments_delivered=_maybe(rng, rng.randint(0, 2)),
        price=_maybe(rng, 0.0325),
        currency=_maybe(rng, "USD"),
    )


def _conversion(rng: random.Random, n: int) -> ConversionEvent:
    return ConversionEvent(
        event_id=f"conversion-{n}",
        message_id=f"msg-{rng.randrange(n + 1)}",
        kind=rng.choice(["click", "signup", "purchase"]),
        occurred_at=_at(rng),
        value=_maybe(rng, rng.uniform(0, 500)),
        currency=_maybe(rng, "GBP"),
        device_os=_maybe(rng, rng.choice(["ios", "android"])),
    )


def _mixed_events(count: int) -> list[Event]:
    rng = random.Random(20250301)
    makers = [_send, _send, _receipt, _receipt, _conversion]
    return [rng.choice(makers)(rng, n) for n in range(count)]


def test_ten_thousand_events_come_back_byte_identical_and_exactly_once(
    broker_settings: Settings, read_topics
) -> None:
    events = _mixed_events(10_000)
    assert all(event.problem() is None for event in events)
    with EventPublisher(broker_settings) as publisher:
        for event in events:
            publisher.publish(event)
    assert sum(publisher.published.values()) == 10_000

    topics = {t: broker_settings.topic(t) for t in ("send", "receipt", "conversion")}
    records = read_topics(broker_settings, topics.values())

    expected = {event.to_dict()["event_id"]: event for event in events}
    seen: Counter[str] = Counter()
    for event_type, topic in topics.items():
        for key, value in records[topic]:
            schema, record = decode(value)
            assert schema.event_type == event_type
            decoded = EVENT_TYPES[event_type].from_dict(record)
            event_id = record["event_id"]
            original = expected[event_id]
            assert decoded == original
            assert value == encode_event(original)
            assert key == original.key()
            seen[event_id] += 1
    assert len(seen) == 10_000
    assert set(seen.values()) == {1}
    by_type = Counter(event.event_type for event in events)
    assert {t: len(records[topics[t]]) for t in topics} == dict(by_type)


def test_keys_follow_the_contract() -> None:
    rng = random.Random(1)
    send, receipt, conversion = _send(rng, 1), _receipt(rng, 2), _conversion(rng, 3)
    assert send.key() == b"msg-1"
    assert receipt.key() == f"{receipt.provider}:pm-1".encode()
    assert conversion.key() == conversion.message_id.encode()
