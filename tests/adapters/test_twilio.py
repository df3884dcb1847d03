"""Twilio status callbacks: optional fields, unknown fields, redaction, malformed bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dlrw.ingest.adapters import ReceiptParseError, parse_receipts
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status

UNDELIVERED = (
    "AccountSid=ACxxx&From=%2B15017250604&To=%2B919800000001"
    "&MessageSid=SM8c2f0a1b2c3d4e5f60718293a4b5c6d7&MessageStatus=undelivered"
    "&SmsSid=SM8c2f0a1b2c3d4e5f60718293a4b5c6d7&SmsStatus=undelivered&ErrorCode=30005"
    "&RawDlrDoneDate=2403121020&ApiVersion=2010-04-01"
)
SENT = (
    "AccountSid=ACxxx&From=%2B15017250604&MessageSid=SM1342fe1b2c904d1ab04f0fc7a58abca9"
    "&MessageStatus=sent&SmsSid=SM1342fe1b2c904d1ab04f0fc7a58abca9&SmsStatus=sent"
)


def _parse(payload: str, received_at: datetime) -> DeliveryReceipt:
    [receipt] = parse_receipts("twilio", payload, received_at)
    assert receipt.problem() is None
    return receipt


def test_twilio_error_code_is_taken_when_present(received_at: datetime) -> None:
    assert _parse(UNDELIVERED, received_at).error_code == "30005"
    assert _parse(SENT, received_at).error_code is None


def test_twilio_raw_dlr_done_date_is_minute_precision_done_at(received_at: datetime) -> None:
    assert _parse(UNDELIVERED, received_at).done_at == datetime(2024, 3, 12, 10, 20, tzinfo=UTC)


def test_twilio_without_raw_dlr_done_date_has_no_done_at(received_at: datetime) -> None:
    assert _parse(SENT, received_at).done_at is None


def test_twilio_unknown_new_fields_are_ignored(received_at: datetime) -> None:
    plain = _parse(UNDELIVERED, received_at)
    extended = _parse(
        UNDELIVERED + "&ChannelToAddress=%2B9198XXXXX001&Brand-New=x%20y", received_at
    )
    assert extended.status is plain.status is Status.UNDELIVERABLE
    assert (extended.error_code, extended.done_at) == (plain.error_code, plain.done_at)
    assert extended.raw.endswith("&Brand-New=x%20y")


def test_twilio_recipient_is_redacted_in_place(received_at: datetime) -> None:
    receipt = _parse(UNDELIVERED, received_at)
    assert receipt.raw == UNDELIVERED.replace("To=%2B919800000001", "To=REDACTED")
    assert "919800000001" not in receipt.raw


def test_twilio_legacy_sms_status_is_used_without_message_status(received_at: datetime) -> None:
    payload = SENT.replace("&MessageStatus=sent", "").replace(
        "SmsStatus=sent", "SmsStatus=delivered"
    )
    assert _parse(payload, received_at).status is Status.DELIVERED


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("delivered", Status.DELIVERED),
        ("read", Status.DELIVERED),
        ("undelivered", Status.UNDELIVERABLE),
        ("failed", Status.REJECTED),
        ("sent", Status.ENROUTE),
        ("queued", Status.ACCEPTED),
        ("sending", Status.ACCEPTED),
        ("accepted", Status.ACCEPTED),
        ("scheduled", Status.ACCEPTED),
        ("canceled", Status.DELETED),
    ],
)
def test_twilio_every_status_maps_as_the_design_table_says(
    received_at: datetime, value: str, status: Status
) -> None:
    payload = SENT.replace("MessageStatus=sent", f"MessageStatus={value}")
    assert _parse(payload, received_at).status is status


def test_twilio_trailing_crlf_is_stripped(received_at: datetime) -> None:
    assert _parse(UNDELIVERED + "\r\n", received_at) == _parse(UNDELIVERED, received_at)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            UNDELIVERED.replace("&MessageSid=SM8c2f0a1b2c3d4e5f60718293a4b5c6d7", ""),
            "not a Twilio callback: no MessageSid",
        ),
        ('{"MessageSid": "SM1"}', "not a Twilio callback: no MessageSid"),
        ("", "not a Twilio callback: no MessageSid"),
        ("MessageSid=SM1&ApiVersion=2010-04-01", "missing MessageStatus"),
        ("MessageSid=SM1&MessageStatus=lost", "unknown Twilio status 'lost'"),
        (
            UNDELIVERED.replace("RawDlrDoneDate=2403121020", "RawDlrDoneDate=2024-03-12"),
            "RawDlrDoneDate '2024-03-12' is not YYMMDDhhmm[ss]",
        ),
        (UNDELIVERED + "&MessageStatus=delivered", "field 'MessageStatus' given twice"),
    ],
)
def test_twilio_malformed_body_gives_its_reason(
    received_at: datetime, payload: str, reason: str
) -> None:
    with pytest.raises(ReceiptParseError) as caught:
        parse_receipts("twilio", payload, received_at)
    assert str(caught.value) == reason
