"""No single record halts `dlrw build`: records beyond the contract's bounds are dead-lettered
with their reason, valid but ambiguous ones (reused ids, a device called 'all', route ids that
spell another route's key) are decided by the models, and the good records' marts come out
exact -- through the real path (Kafka, `ingest`, `build`) on DuckDB and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dlrw.ingest.build.runner import run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.models.events import ConversionEvent, DeliveryReceipt, Event, SendEvent
from dlrw.models.status import Status
from dlrw.models.wire import encode
from tests.build.compare import (
    daily_differences,
    message_differences,
    read_marts,
    row_set,
)
from tests.build.events import Batch, expected_daily, expected_messages, seed_operators
from tests.build.test_marts import MARTS
from tests.conftest import KAFKA_BOOTSTRAP
from tests.pipeline.conftest import ingest_once

pytestmark = pytest.mark.broker

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
LONG = "x" * 201
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _send(message_id: str, minutes: float, **changes: Any) -> SendEvent:
    send = SendEvent(
        event_id=f"s-{message_id}",
        message_id=message_id,
        provider="twilio",
        provider_message_id=f"p-{message_id}",
        destination_hash=f"h-{message_id}",
        country="US",
        mcc_mnc="310260",
        route_id="twilio-US-t1",
        route_tier=1,
        segments=1,
        price=0.05,
        currency="EUR",
        submitted_at=_t(minutes),
    )
    return dataclasses.replace(send, **changes)


def _receipt(
    event_id: str, pmid: str, status: Status, minutes: float, **changes: Any
) -> DeliveryReceipt:
    receipt = DeliveryReceipt(
        event_id=event_id,
        provider="twilio",
        provider_message_id=pmid,
        status=status,
        is_final=status.is_final,
        received_at=_t(minutes),
        done_at=_t(minutes - 0.5) if status.is_final else None,
        raw="{}",
    )
    return dataclasses.replace(receipt, **changes)


def _conversion(message_id: str, minutes: float, **changes: Any) -> ConversionEvent:
    conversion = ConversionEvent(
        event_id=f"v-{message_id}-{minutes}",
        message_id=message_id,
        kind="click",
        occurred_at=_t(minutes),
        value=2.5,
        currency="EUR",
        device_os="ios",
    )
    return dataclasses.replace(conversion, **changes)


@dataclass
class Hostile:
    """A record that breaks the contract, and the words its dead letter's reason must hold."""

    event: Event
    reason: str

    def value(self) -> bytes:
        return encode(self.event.event_type, self.event.to_dict())


def first_batch() -> tuple[list[Event], list[Hostile]]:
    good: list[Event] = [
        _send("g1", 0),
        _receipt("r-g1", "p-g1", Status.DELIVERED, 1),
        _conversion("g1", 5),
        _send("g2", 3, country="FR", mcc_mnc="20801", provider="infobip", route_id="ib-FR-t2"),
        _receipt("r-g2", "p-g2", Status.EXPIRED, 9, provider="infobip"),
        # a provider reusing an id: the receipt goes to the send in use when it came
        _send("a1", 10, provider_message_id="shared"),
        _send("a2", 120, provider_message_id="shared"),
        _receipt("r-a1", "shared", Status.DELIVERED, 15),
        _receipt("r-a2", "shared", Status.UNDELIVERABLE, 125),
        # one message_id sent twice (different event_ids and provider ids) is one message
        _send("d1", 20),
        _send("d1", 30, event_id="s-d1-again", provider_message_id="p-d1-again", price=0.07),
        _receipt("r-d1", "p-d1-again", Status.DELIVERED, 31),
        # a device reported as 'all' would repeat the segment total's row
        _conversion("a1", 16, device_os="all"),
        # one half of two routes whose route_key strings are equal
        _send("k1", 40, route_id="r|1|p", route_tier=2, provider="q"),
    ]
    bad = [
        Hostile(_send("b-inf", 1, price=float("inf")), "price: inf is not a finite amount"),
        Hostile(_send("b-1e12", 2, price=1e12), "price: 1000000000000.0 is not a finite"),
        Hostile(_send(LONG, 3, event_id="s-long"), "message_id: 201 characters, more than 200"),
        Hostile(_send("b-route", 4, route_id=LONG), "route_id: 201 characters"),
        Hostile(_send("b-1970", 5, submitted_at=datetime(1970, 1, 2, tzinfo=UTC)), "submitted_at:"),
        Hostile(_receipt("b-r-pmid", LONG, Status.DELIVERED, 6), "provider_message_id: 201"),
        Hostile(
            _receipt("b-r-nan", "p-g1", Status.DELIVERED, 7, price=float("nan")),
            "price: nan is not a finite amount",
        ),
        Hostile(
            _receipt("b-r-done", "p-g2", Status.DELIVERED, 8, done_at=FAR_FUTURE),
            "done_at: 2999-01-01",
        ),
        Hostile(
            _receipt("b-r-code", "p-g2", Status.REJECTED, 8, error_code=LONG), "error_code: 201"
        ),
        Hostile(_conversion("g1", 6, value=float("inf")), "value: inf is not a finite amount"),
        Hostile(_conversion("g1", 7, value=1e12), "value: 1000000000000.0 is not a finite"),
        Hostile(_conversion("g1", 8, device_os=LONG), "device_os: 201 characters"),
    ]
    return good, bad


def second_batch() -> list[Event]:
    """Ingested and built incrementally after the first."""
    return [
        # the reused id once more: old receipts stay with their sends, the new one goes here
        _send("a3", 240, provider_message_id="shared"),
        _receipt("r-a3", "shared", Status.DELIVERED, 241),
        _receipt("r-a1-late", "shared", Status.DELIVERED, 242, message_id="a1"),
        # the other half: route_id 'r', tier 1, provider 'p|2|q' spells the same route_key
        _send("k2", 250, route_id="r", route_tier=1, provider="p|2|q"),
        _send("g3", 260),
    ]


def _as_batch(events: list[Event]) -> Batch:
    """The events as the Python fold takes them (tests.build.events)."""
    batch = Batch(ingested_at=T0)
    for event in events:
        rows = {"send": batch.sends, "receipt": batch.receipts, "conversion": batch.conversions}
        rows[event.event_type].append(event.to_dict())
    return batch


@dataclass
class Outcome:
    settings: Settings
    dead_letters: int
    quarantine: dict[bytes, str]
    summaries: list[str] = field(default_factory=list)
    after_one: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    incremental: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    full_refresh: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outcome(warehouse: Settings, topic_prefix: Callable[..., str]) -> Outcome:
    """Publish batch 1 (good and hostile records interleaved), ingest, build; publish batch 2,
    ingest, build incrementally; then build with a full refresh."""
    settings = warehouse.model_copy(
        update={"kafka_bootstrap": KAFKA_BOOTSTRAP, "topic_prefix": topic_prefix("hostile")}
    )
    create_topics(settings, partitions=3)
    good, bad = first_batch()
    with EventPublisher(settings) as publisher:
        for i, event in enumerate(good):
            publisher.publish(event)
            if i < len(bad):
                publisher.publish_bytes(bad[i].event.event_type, bad[i].event.key(), bad[i].value())
    summary = ingest_once(settings)
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("select payload, reason from raw_quarantine")).all()
    finally:
        engine.dispose()
    result = Outcome(settings, summary.dead_letters, {bytes(p): r for p, r in rows})
    result.summaries.append(run_build(settings).line())
    result.after_one = read_marts(settings, MARTS)
    with EventPublisher(settings) as publisher:
        for event in second_batch():
            publisher.publish(event)
    ingest_once(settings)
    result.summaries.append(run_build(settings).line())
    result.incremental = read_marts(settings, MARTS)
    result.summaries.append(run_build(settings, full_refresh=True).line())
    result.full_refresh = read_marts(settings, MARTS)
    return result


def test_records_beyond_the_bounds_are_dead_lettered_with_their_reason(outcome: Outcome) -> None:
    _, bad = first_batch()
    assert outcome.dead_letters == len(bad)
    for hostile in bad:
        assert hostile.reason in outcome.quarantine[hostile.value()]


def test_every_build_succeeds_and_passes_every_dbt_test(outcome: Outcome) -> None:
    for line in outcome.summaries:
        assert " 0 failed, 0 warned" in line, line


def test_the_good_records_marts_are_exact(outcome: Outcome) -> None:
    good, _ = first_batch()
    expected = expected_messages([_as_batch(good)], seed_operators())
    assert message_differences(outcome.after_one["fct_messages"], expected) == []
    daily = expected_daily(expected)
    assert daily_differences(outcome.after_one["agg_deliverability_daily"], daily) == []
    expected = expected_messages([_as_batch(good + second_batch())], seed_operators())
    assert message_differences(outcome.full_refresh["fct_messages"], expected) == []


def test_ambiguous_records_are_decided_by_the_documented_rules(outcome: Outcome) -> None:
    """Guards the scenario and states the rules: a reused provider id's receipt goes to the send
    in use when it came; a message_id sent twice is one message, priced by its earliest send."""
    messages = {m["message_id"]: m for m in outcome.full_refresh["fct_messages"]}
    assert {m: messages[m]["final_status"] for m in ("a1", "a2", "a3")} == {
        "a1": "DELIVERED",
        "a2": "UNDELIVERABLE",
        "a3": "DELIVERED",
    }
    assert messages["a1"]["receipt_count"] == 2 and messages["a2"]["receipt_count"] == 1
    assert messages["d1"]["send_event_id"] == "s-d1" and float(messages["d1"]["cost"]) == 0.05
    assert messages["d1"]["final_status"] == "DELIVERED"
    routes = {(r["route_id"], r["provider"]) for r in outcome.full_refresh["dim_routes"]}
    assert {("r|1|p", "q"), ("r", "p|2|q")} <= routes
    devices = {r["device_os"] for r in outcome.full_refresh["fct_conversions_by_segment"]}
    assert "unknown" in devices


@pytest.mark.parametrize("mart", MARTS)
def test_incremental_build_equals_full_refresh(outcome: Outcome, mart: str) -> None:
    assert row_set(outcome.incremental[mart]) == row_set(outcome.full_refresh[mart])
