"""render_receipt is the inverse of parse_receipts for every field a format carries."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from dlrw.ingest.adapters import parse_receipts, render_receipt
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status

S = Status
RECEIVED_AT = datetime(2024, 3, 12, 11, 0, tzinfo=UTC)
# The statuses each provider's mapping (docs/design.md's table) can express.
EXPRESSIBLE = {
    "smpp": list(Status),
    "twilio": [S.DELIVERED, S.UNDELIVERABLE, S.REJECTED, S.ENROUTE, S.ACCEPTED, S.DELETED],
    "infobip": [S.DELIVERED, S.ENROUTE, S.UNDELIVERABLE, S.EXPIRED, S.REJECTED],
    "vonage": [
        S.DELIVERED,
        S.ENROUTE,
        S.ACCEPTED,
        S.UNDELIVERABLE,
        S.EXPIRED,
        S.REJECTED,
        S.UNKNOWN,
    ],
}
# Every field each format carries, at a precision it keeps (as the simulator builds them).
CARRIED: dict[str, dict[str, object]] = {
    "smpp": {
        "provider_message_id": "2f1e6a9c-5b7d-4e3f-9a8b-1c2d3e4f5a6b",
        "error_code": "0B4",
        "segments_submitted": 3,
        "segments_delivered": 2,
        "submitted_at": datetime(2024, 3, 12, 10, 15, 7, tzinfo=UTC),
        "done_at": datetime(2024, 3, 12, 10, 16, 59, tzinfo=UTC),
    },
    "twilio": {
        "provider_message_id": "SM8c2f0a1b2c3d4e5f60718293a4b5c6d7",
        "error_code": "30005",
        "done_at": datetime(2024, 3, 12, 10, 20, tzinfo=UTC),
    },
    "infobip": {
        "provider_message_id": "MESSAGE-ID-123-xyz",
        "message_id": "msg-42",
        "error_code": "27",
        "mcc_mnc": "22801",
        "submitted_at": datetime(2024, 3, 12, 10, 15, 0, 125000, tzinfo=UTC),
        "done_at": datetime(2024, 3, 12, 10, 16, 59, 999000, tzinfo=UTC),
        "segments_submitted": 2,
        "price": 0.0125,
        "currency": "EUR",
    },
    "vonage": {
        "provider_message_id": "0B00000127FDBC63",
        "message_id": "msg-42",
        "error_code": "6",
        "mcc_mnc": "23410",
        "done_at": datetime(2024, 3, 12, 10, 16, tzinfo=UTC),
        "price": 0.0333,
        "currency": "EUR",
    },
}
CASES = [(provider, status) for provider, statuses in EXPRESSIBLE.items() for status in statuses]


def _receipt(provider: str, status: Status, **fields: object) -> DeliveryReceipt:
    values: dict[str, object] = {**CARRIED[provider], **fields}
    return DeliveryReceipt(
        event_id="set-by-the-parser",
        provider=provider,
        status=status,
        is_final=status.is_final,
        received_at=RECEIVED_AT,
        raw="set-by-the-parser",
        **values,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("provider", "status"), CASES)
def test_rendered_receipt_parses_back_to_every_carried_field(provider: str, status: Status) -> None:
    receipt = _receipt(provider, status)
    rendered = render_receipt(provider, receipt)
    [parsed] = parse_receipts(provider, rendered, receipt.received_at)
    assert parsed == dataclasses.replace(receipt, event_id=parsed.event_id, raw=rendered)
    assert parsed.problem() is None


@pytest.mark.parametrize(("provider", "status"), CASES)
def test_rendered_receipt_without_optional_fields_parses_back(
    provider: str, status: Status
) -> None:
    receipt = _receipt(
        provider, status, **{f: None for f in CARRIED[provider] if f != "provider_message_id"}
    )
    rendered = render_receipt(provider, receipt)
    [parsed] = parse_receipts(provider, rendered, receipt.received_at)
    assert parsed == dataclasses.replace(receipt, event_id=parsed.event_id, raw=rendered)


@pytest.mark.parametrize(("provider", "status"), CASES)
def test_a_parsed_receipt_renders_and_parses_to_itself(provider: str, status: Status) -> None:
    [parsed] = parse_receipts(
        provider, render_receipt(provider, _receipt(provider, status)), RECEIVED_AT
    )
    [again] = parse_receipts(provider, render_receipt(provider, parsed), parsed.received_at)
    assert again == parsed
    assert again.raw == render_receipt(provider, parsed)


@pytest.mark.parametrize(
    ("provider", "status"),
    [(p, s) for p, statuses in EXPRESSIBLE.items() for s in Status if s not in statuses],
)
def test_a_status_the_provider_cannot_express_is_a_value_error(
    provider: str, status: Status
) -> None:
    with pytest.raises(ValueError, match=f"no status for {status.value}"):
        render_receipt(provider, _receipt(provider, status))


def test_fields_a_format_cannot_carry_are_not_rendered() -> None:
    receipt = _receipt("smpp", S.DELIVERED, mcc_mnc="22801", price=0.01, currency="EUR")
    [parsed] = parse_receipts("smpp", render_receipt("smpp", receipt), RECEIVED_AT)
    assert (parsed.mcc_mnc, parsed.price, parsed.currency) == (None, None, None)


def test_smpp_renders_twelve_digit_dates() -> None:
    rendered = render_receipt("smpp", _receipt("smpp", S.DELIVERED))
    assert "submit date:240312101507 done date:240312101659 stat:DELIVRD err:0B4 text:" in rendered


def test_twilio_done_at_is_rendered_to_the_minute() -> None:
    receipt = _receipt("twilio", S.DELIVERED, done_at=datetime(2024, 3, 12, 10, 20, 45, tzinfo=UTC))
    [parsed] = parse_receipts("twilio", render_receipt("twilio", receipt), RECEIVED_AT)
    assert parsed.done_at == datetime(2024, 3, 12, 10, 20, tzinfo=UTC)


def test_vonage_price_in_another_currency_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Vonage prices are EUR, not USD"):
        render_receipt("vonage", _receipt("vonage", S.DELIVERED, currency="USD"))


@pytest.mark.parametrize(
    ("provider", "recipient"),
    [("twilio", "To=REDACTED"), ("infobip", '"to":"REDACTED"'), ("vonage", '"msisdn":"REDACTED"')],
)
def test_rendered_payloads_write_the_recipient_as_redacted(provider: str, recipient: str) -> None:
    assert recipient in render_receipt(provider, _receipt(provider, S.DELIVERED))
