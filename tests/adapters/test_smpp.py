"""SMPP receipt text: the variants seen in the wild, and the reasons for malformed text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dlrw.ingest.adapters import ReceiptParseError, parse_receipts
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status

BASE = (
    "id:7220140001 sub:001 dlvrd:000 submit date:2403121015 done date:2403121016 "
    "stat:UNDELIV err:001 text:Your code is 4411"
)


def _parse(payload: str, received_at: datetime) -> DeliveryReceipt:
    [receipt] = parse_receipts("smpp", payload, received_at)
    assert receipt.problem() is None
    return receipt


def test_smpp_ten_digit_dates_parse_to_minutes(received_at: datetime) -> None:
    receipt = _parse(BASE, received_at)
    assert receipt.submitted_at == datetime(2024, 3, 12, 10, 15, tzinfo=UTC)
    assert receipt.done_at == datetime(2024, 3, 12, 10, 16, tzinfo=UTC)


def test_smpp_twelve_digit_dates_keep_seconds(received_at: datetime) -> None:
    payload = BASE.replace("2403121015 ", "240312101507 ").replace("2403121016 ", "240312101659 ")
    receipt = _parse(payload, received_at)
    assert receipt.submitted_at == datetime(2024, 3, 12, 10, 15, 7, tzinfo=UTC)
    assert receipt.done_at == datetime(2024, 3, 12, 10, 16, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "message_id", ["1891273321", "7fa3c21b", "0A1B2C3D4E", "2f1e6a9c-5b7d-4e3f-9a8b-1c2d3e4f5a6b"]
)
def test_smpp_decimal_hex_and_uuid_ids_are_kept_verbatim(
    received_at: datetime, message_id: str
) -> None:
    receipt = _parse(BASE.replace("id:7220140001", f"id:{message_id}"), received_at)
    assert receipt.provider_message_id == message_id


def test_smpp_missing_sub_and_dlvrd_give_no_segment_counts(received_at: datetime) -> None:
    receipt = _parse(BASE.replace("sub:001 dlvrd:000 ", ""), received_at)
    assert (receipt.segments_submitted, receipt.segments_delivered) == (None, None)
    assert receipt.status is Status.UNDELIVERABLE


def test_smpp_sub_and_dlvrd_are_segment_counts(received_at: datetime) -> None:
    receipt = _parse(BASE.replace("sub:001 dlvrd:000", "sub:003 dlvrd:002"), received_at)
    assert (receipt.segments_submitted, receipt.segments_delivered) == (3, 2)


def test_smpp_leading_zeros_do_not_count_as_digits_of_a_count(received_at: datetime) -> None:
    payload = BASE.replace("sub:001 dlvrd:000", "sub:0000000000001234567890 dlvrd:000")
    assert _parse(payload, received_at).segments_submitted == 1234567890


@pytest.mark.parametrize("label", ["Text:", "TEXT:", "text:"])
def test_smpp_text_field_is_recognised_in_any_case(received_at: datetime, label: str) -> None:
    receipt = _parse(BASE.replace("text:", label), received_at)
    assert receipt.status is Status.UNDELIVERABLE
    assert receipt.error_code == "001"


def test_smpp_field_names_are_matched_in_any_case(received_at: datetime) -> None:
    payload = (
        "ID:42 SUB:001 DLVRD:001 SUBMIT DATE:2403121015 DONE DATE:2403121016 "
        "STAT:DELIVRD ERR:000 TEXT:hi"
    )
    receipt = _parse(payload, received_at)
    assert (receipt.provider_message_id, receipt.status) == ("42", Status.DELIVERED)


def test_smpp_text_field_cannot_inject_fields(received_at: datetime) -> None:
    payload = BASE.replace(
        "text:Your code is 4411", "Text:id:1 stat:DELIVRD err:000 done date:9912312359"
    )
    receipt = _parse(payload, received_at)
    assert receipt.provider_message_id == "7220140001"
    assert receipt.status is Status.UNDELIVERABLE
    assert receipt.error_code == "001"
    assert receipt.done_at == datetime(2024, 3, 12, 10, 16, tzinfo=UTC)


def test_smpp_text_field_may_be_empty_or_absent(received_at: datetime) -> None:
    assert _parse(BASE.split("text:")[0] + "text:", received_at).status is Status.UNDELIVERABLE
    assert _parse(BASE.split(" text:")[0], received_at).status is Status.UNDELIVERABLE


@pytest.mark.parametrize("tail", ["\r\n", "\n", "\x00", "\x00\x00\r\n", "\x1a", "  \t"])
def test_smpp_trailing_crlf_and_control_bytes_are_stripped(
    received_at: datetime, tail: str
) -> None:
    clean = _parse(BASE, received_at)
    dirty = _parse(BASE + tail, received_at)
    assert dirty == clean
    assert dirty.raw == BASE


def test_smpp_err_000_is_no_error_and_other_codes_are_kept(received_at: datetime) -> None:
    assert _parse(BASE.replace("err:001", "err:000"), received_at).error_code is None
    assert _parse(BASE.replace("err:001", "err:0A1"), received_at).error_code == "0A1"
    assert _parse(BASE.replace("err:001 ", ""), received_at).error_code is None


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("DELIVRD", Status.DELIVERED),
        ("UNDELIV", Status.UNDELIVERABLE),
        ("EXPIRED", Status.EXPIRED),
        ("REJECTD", Status.REJECTED),
        ("DELETED", Status.DELETED),
        ("ACCEPTD", Status.ACCEPTED),
        ("ENROUTE", Status.ENROUTE),
        ("UNKNOWN", Status.UNKNOWN),
    ],
)
def test_smpp_every_stat_maps_to_its_status(
    received_at: datetime, stat: str, status: Status
) -> None:
    receipt = _parse(BASE.replace("stat:UNDELIV", f"stat:{stat}"), received_at)
    assert receipt.status is status
    assert receipt.is_final == status.is_final


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (BASE.replace("stat:UNDELIV ", ""), "missing stat field"),
        (BASE.replace("stat:UNDELIV ", "") + " stat:DELIVRD", "missing stat field"),
        (BASE.replace("stat:UNDELIV", "stat:"), "missing stat field"),
        (BASE.replace("id:7220140001 ", ""), "not an SMPP receipt: no id field"),
        ("hello world", "not an SMPP receipt: no id field"),
        ("", "not an SMPP receipt: no id field"),
        (BASE.replace("stat:UNDELIV", "stat:LOST"), "unknown SMPP status 'LOST'"),
        (
            BASE.replace("done date:2403121016", "done date:24031210"),
            "done date '24031210' is not YYMMDDhhmm[ss]",
        ),
        (
            BASE.replace("submit date:2403121015", "submit date:2413121015"),
            "submit date '2413121015' is not a valid date",
        ),
        (BASE.replace("sub:001", "sub:one"), "sub 'one' is not a number"),
        (BASE.replace("dlvrd:000", "dlvrd:-1"), "dlvrd '-1' is not a number"),
        # Digits str.isdigit accepts: superscript (int() refuses it) and Arabic-Indic.
        (BASE.replace("sub:001", "sub:\u00b2"), "sub '\u00b2' is not a number"),
        (BASE.replace("dlvrd:000", "dlvrd:\u0663"), "dlvrd '\u0663' is not a number"),
        (
            BASE.replace("sub:001", "sub:" + "9" * 5000),
            "sub '" + "9" * 38 + "\u2026 has more than 10 digits",
        ),
    ],
)
def test_smpp_malformed_text_gives_its_reason(
    received_at: datetime, payload: str, reason: str
) -> None:
    with pytest.raises(ReceiptParseError) as caught:
        parse_receipts("smpp", payload, received_at)
    assert str(caught.value) == reason


def test_smpp_impossible_done_date_is_rejected_by_the_contract(received_at: datetime) -> None:
    payload = BASE.replace("done date:2403121016", "done date:9912312359")
    with pytest.raises(ReceiptParseError, match=r"^done_at: .* is outside"):
        parse_receipts("smpp", payload, received_at)


def test_a_lone_surrogate_in_a_report_is_refused_not_a_crash(received_at: datetime) -> None:
    payload = BASE.replace("id:7220140001", "id:\ud800891273321")
    with pytest.raises(ReceiptParseError, match="not valid Unicode"):
        parse_receipts("smpp", payload, received_at)
