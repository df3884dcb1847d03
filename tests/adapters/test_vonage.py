"""Vonage receipts: JSON and query-string forms, field conversions, malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dlrw.ingest.adapters import ReceiptParseError, parse_receipts
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status

JSON_RECEIPT = (
    '{"err-code":"0","message-timestamp":"2018-10-25 12:10:29","messageId":"0B00000127FDBC63",'
    '"msisdn":"447547232824","network-code":"23410","price":"0.03330000","scts":"1810251310",'
    '"status":"delivered","to":"Nexmo CLI"}'
)
QUERY_RECEIPT = (
    "msisdn=4527631111&to=Tak&network-code=23820&messageId=0C0000002EEBDA56&price=0.01820000"
    "&status=delivered&scts=1705021324&err-code=0&message-timestamp=2017-05-02+11%3A24%3A03"
)


def _parse(payload: str, received_at: datetime) -> DeliveryReceipt:
    [receipt] = parse_receipts("vonage", payload, received_at)
    assert receipt.problem() is None
    return receipt


def test_vonage_json_and_query_string_forms_give_the_same_fields(received_at: datetime) -> None:
    as_json = json.dumps(dict(pair.split("=") for pair in QUERY_RECEIPT.split("&")[:-1]))
    from_json = _parse(as_json, received_at)
    from_query = _parse(QUERY_RECEIPT, received_at)
    for field in ("provider_message_id", "status", "error_code", "mcc_mnc", "done_at", "price"):
        assert getattr(from_json, field) == getattr(from_query, field)


def test_vonage_price_string_is_a_float_in_eur(received_at: datetime) -> None:
    receipt = _parse(JSON_RECEIPT, received_at)
    assert (receipt.price, receipt.currency) == (0.0333, "EUR")


def test_vonage_without_price_has_no_currency(received_at: datetime) -> None:
    receipt = _parse(QUERY_RECEIPT.replace("&price=0.01820000", ""), received_at)
    assert (receipt.price, receipt.currency) == (None, None)


def test_vonage_scts_is_done_at_and_message_timestamp_is_not_used(received_at: datetime) -> None:
    receipt = _parse(JSON_RECEIPT, received_at)
    assert receipt.done_at == datetime(2018, 10, 25, 13, 10, tzinfo=UTC)
    assert receipt.submitted_at is None
    assert receipt.received_at == received_at


def test_vonage_err_code_zero_is_no_error_and_others_are_kept(received_at: datetime) -> None:
    assert _parse(JSON_RECEIPT, received_at).error_code is None
    failed = JSON_RECEIPT.replace('"err-code":"0"', '"err-code":"6"').replace("delivered", "failed")
    receipt = _parse(failed, received_at)
    assert (receipt.status, receipt.error_code) == (Status.UNDELIVERABLE, "6")


def test_vonage_client_ref_is_the_senders_message_id(received_at: datetime) -> None:
    assert _parse(QUERY_RECEIPT + "&client-ref=msg-42", received_at).message_id == "msg-42"
    assert _parse(QUERY_RECEIPT, received_at).message_id is None


@pytest.mark.parametrize("payload", [JSON_RECEIPT, QUERY_RECEIPT])
def test_vonage_msisdn_is_redacted_in_place(received_at: datetime, payload: str) -> None:
    raw = _parse(payload, received_at).raw
    assert "447547232824" not in raw and "4527631111" not in raw
    assert "REDACTED" in raw
    if payload is QUERY_RECEIPT:
        assert raw == QUERY_RECEIPT.replace("msisdn=4527631111", "msisdn=REDACTED")
    else:
        assert list(json.loads(raw)) == list(json.loads(JSON_RECEIPT))


@pytest.mark.parametrize("payload", [JSON_RECEIPT, QUERY_RECEIPT])
def test_vonage_signing_fields_are_left_out_of_raw_and_the_event_id(
    received_at: datetime, payload: str
) -> None:
    signing = {"timestamp": "1461605396", "nonce": "6d8b5f0c", "sig": "0f" * 32}
    if payload is QUERY_RECEIPT:
        signed = payload + "&" + "&".join(f"{k}={v}" for k, v in signing.items())
    else:
        signed = json.dumps(json.loads(payload) | signing)
    assert _parse(signed, received_at) == _parse(payload, received_at)


def test_vonage_unknown_fields_are_ignored(received_at: datetime) -> None:
    receipt = _parse(QUERY_RECEIPT + "&api-key=abc&sig=deadbeef&timestamp=1493724243", received_at)
    assert receipt.status is Status.DELIVERED


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("delivered", Status.DELIVERED),
        ("buffered", Status.ENROUTE),
        ("accepted", Status.ACCEPTED),
        ("failed", Status.UNDELIVERABLE),
        ("expired", Status.EXPIRED),
        ("rejected", Status.REJECTED),
        ("unknown", Status.UNKNOWN),
    ],
)
def test_vonage_every_status_maps_as_the_design_table_says(
    received_at: datetime, value: str, status: Status
) -> None:
    assert (
        _parse(QUERY_RECEIPT.replace("status=delivered", f"status={value}"), received_at).status
        is status
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes at column 2"),
        ('{"messageId": "x"', "not JSON: Expecting ',' delimiter at column 18"),
        ("[1]", "not a Vonage receipt: JSON is not an object"),
        ("", "not a Vonage receipt: no messageId"),
        ("status=delivered", "not a Vonage receipt: no messageId"),
        ('{"status": "delivered"}', "not a Vonage receipt: no messageId"),
        ("messageId=0C00&err-code=0", "missing status"),
        ("messageId=0C00&status=lost", "unknown Vonage status 'lost'"),
        ("messageId=0C00&status=delivered&scts=17050213", "scts '17050213' is not YYMMDDhhmm[ss]"),
        ("messageId=0C00&status=delivered&price=free", "price 'free' is not a number"),
        ("messageId=0C00&status=delivered&network-code=UK", "network-code 'UK' is not 5-6 digits"),
        ("messageId=0C00&status=failed&status=delivered", "field 'status' given twice"),
        (
            '{"messageId":"0C00","status":"failed","status":"delivered"}',
            "field 'status' given twice",
        ),
    ],
)
def test_vonage_malformed_receipt_gives_its_reason(
    received_at: datetime, payload: str, reason: str
) -> None:
    with pytest.raises(ReceiptParseError) as caught:
        parse_receipts("vonage", payload, received_at)
    assert str(caught.value) == reason
