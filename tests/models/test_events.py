"""Canonical events: dict forms, JSON forms and the contract's impossible values."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime

import pytest

from dlrw.models import DeliveryReceipt, InvalidEvent, SendEvent, Status, event_problem
from dlrw.models.events import EVENT_TYPES, MAX_AMOUNT, MAX_TEXT_LENGTH, ConversionEvent
from dlrw.models.wire import registry

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _send(**changes) -> SendEvent:
    base = SendEvent(
        event_id="e-1",
        message_id="m-1",
        provider="vonage",
        destination_hash="h",
        country="IN",
        route_id="r",
        route_tier=2,
        segments=1,
        submitted_at=datetime(2026, 11, 24, 8, tzinfo=UTC),
        mcc_mnc="40410",
    )
    return dataclasses.replace(base, **changes)


def _receipt(**changes) -> DeliveryReceipt:
    base = DeliveryReceipt(
        event_id="x",
        provider="p",
        provider_message_id="1",
        status=Status.DELIVERED,
        is_final=True,
        received_at=NOW,
        raw="",
    )
    return dataclasses.replace(base, **changes)


def test_json_form_round_trips_with_iso_timestamps():
    event = _send()
    data = event.to_json_dict()
    assert data["submitted_at"] == "2026-11-24T08:00:00Z"
    assert SendEvent.from_dict(data) == event


def test_naive_and_offset_timestamps_are_normalised_to_utc():
    event = SendEvent.from_dict(
        {**_send().to_json_dict(), "submitted_at": "2026-11-24T10:00:00+02:00"}
    )
    assert event.submitted_at == datetime(2026, 11, 24, 8, tzinfo=UTC)


def test_unknown_and_missing_fields_are_named():
    with pytest.raises(InvalidEvent, match="unknown field"):
        SendEvent.from_dict({**_send().to_json_dict(), "destination": "+4470"})
    data = _send().to_json_dict()
    del data["country"]
    with pytest.raises(InvalidEvent, match="country: missing"):
        SendEvent.from_dict(data)


def test_the_first_missing_field_in_field_order_is_named():
    data = _send().to_json_dict()
    del data["segments"], data["event_id"]
    with pytest.raises(InvalidEvent, match=r"^event_id: missing$"):
        SendEvent.avro_record(data)


@pytest.mark.parametrize(
    "event",
    [
        _send(),
        _send(price=0.5, currency="EUR", sender_id="ACME"),
        _receipt(),
        _receipt(status=Status.ENROUTE, is_final=False, done_at=NOW),
        ConversionEvent(event_id="c", message_id="m-1", kind="click", occurred_at=NOW),
    ],
)
def test_avro_record_is_the_events_dict_and_key(event):
    """``avro_record`` and ``key_of`` (what ``dlrw produce`` publishes) agree with the event's
    own ``to_dict`` and ``key``, from the JSON form and the Avro form alike."""
    for data in (event.to_json_dict(), event.to_dict()):
        record = type(event).avro_record({**data, "type": event.event_type})
        assert record == event.to_dict()
        assert list(record) == list(event.to_dict())
        assert type(record.get("status", "")) is str
        assert type(event).key_of(record) == event.key()


def test_a_receipts_key_is_its_provider_and_provider_message_id():
    assert _receipt().key() == b"p:1"


def test_receipt_status_must_be_in_the_status_model():
    with pytest.raises(InvalidEvent, match="not in the status model"):
        _receipt(status="GONE")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"route_tier": 9}, "route_tier"),
        ({"route_tier": 0}, "route_tier"),
        ({"event_id": ""}, "event_id"),
        ({"message_id": "  "}, "message_id"),
        ({"submitted_at": datetime(1970, 1, 1, tzinfo=UTC)}, "submitted_at"),
        ({"submitted_at": datetime(2090, 1, 1, tzinfo=UTC)}, "submitted_at"),
        ({"country": "India"}, "country"),
        ({"mcc_mnc": "4041"}, "mcc_mnc"),
        ({"mcc_mnc": "40410\n"}, "mcc_mnc"),
        ({"mcc_mnc": "\uff14\uff10\uff14\uff11\uff10"}, "mcc_mnc"),
        ({"country": "IN\n"}, "country"),
        ({"currency": "EUR\n"}, "currency"),
        ({"segments": 0}, "segments"),
        ({"segments": 2**31}, "segments: 2147483648 does not fit a 32-bit int"),
        ({"price": -1.0}, "price"),
        ({"price": float("inf")}, "price: inf is not a finite amount below 1e+11"),
        ({"price": float("nan")}, "price: nan"),
        ({"price": 1e12}, "price: 1000000000000.0"),
        ({"price": MAX_AMOUNT}, "price"),
        ({"currency": "euro"}, "currency"),
        ({"message_id": "m" * 201}, "message_id: 201 characters, more than 200"),
        ({"provider_message_id": "p" * 201}, "provider_message_id"),
        ({"route_id": "r" * 201}, "route_id"),
        ({"campaign_id": "c" * 201}, "campaign_id"),
    ],
)
def test_impossible_sends_are_named(changes, reason):
    assert event_problem("send", _send(**changes).to_dict(), NOW).startswith(reason)


def test_amounts_and_text_at_their_bounds_are_fine():
    """The largest amount below the bound survives the money cast on every warehouse."""
    largest = math.nextafter(MAX_AMOUNT, 0)
    assert _send(price=largest, message_id="m" * MAX_TEXT_LENGTH).problem(NOW) is None
    assert _send(price=0.0, provider_message_id="é" * MAX_TEXT_LENGTH).problem(NOW) is None


def test_conversion_value_is_a_bounded_amount():
    conversion = ConversionEvent(
        event_id="c-1", message_id="m-1", kind="purchase", occurred_at=NOW, value=12.5
    )
    assert conversion.problem(NOW) is None
    for value, reason in ((float("inf"), "not a finite amount"), (-0.5, "negative"), (1e11, "not")):
        problem = dataclasses.replace(conversion, value=value).problem(NOW)
        assert (problem or "").startswith(f"value: {value!r} is {reason}"), value
    overlong = dataclasses.replace(conversion, device_os="x" * 201).problem(NOW)
    assert overlong == "device_os: 201 characters, more than 200"


def test_every_timestamp_field_of_every_schema_is_range_checked():
    for kind, cls in EVENT_TYPES.items():
        fields = registry().latest[kind].parsed["fields"]
        stamps = {f["name"] for f in fields if "timestamp-millis" in json.dumps(f["type"])}
        assert stamps == set(cls.time_fields), kind


def test_the_raw_payload_alone_is_free_text():
    receipt = _receipt(raw="payload " * 1000)
    assert receipt.problem(NOW) is None
    too_long = dataclasses.replace(receipt, error_code="E" * 201).problem(NOW)
    assert too_long == "error_code: 201 characters, more than 200"


def test_a_valid_send_has_no_problem():
    assert _send().problem(NOW) is None


def test_receipt_is_final_must_agree_with_its_status():
    receipt = _receipt(status=Status.ENROUTE)
    assert "contradicts" in (receipt.problem(NOW) or "")
    # An SMPP dlvrd:7220140001 once parsed into a receipt that could not be encoded.
    too_many = dataclasses.replace(receipt, status=Status.DELIVERED, segments_delivered=7220140001)
    assert too_many.problem(NOW) == "segments_delivered: 7220140001 does not fit a 32-bit int"
