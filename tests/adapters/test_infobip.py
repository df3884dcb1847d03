"""Infobip report documents: spelling variants, several reports a document, malformed input."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dlrw.ingest.adapters import ReceiptParseError, parse_receipts
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status

REPORT: dict[str, Any] = {
    "bulkId": "BULK-ID-123-xyz",
    "messageId": "MESSAGE-ID-123-xyz",
    "to": "41793026727",
    "sentAt": "2019-11-09T16:00:00.000+0000",
    "doneAt": "2019-11-09T16:00:01.250+0000",
    "smsCount": 2,
    "mccMnc": "22801",
    "price": {"pricePerMessage": 0.01, "currency": "EUR"},
    "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
    "error": {"groupId": 0, "groupName": "Ok", "id": 0, "name": "NO_ERROR", "permanent": False},
}


def _report(**changes: Any) -> dict[str, Any]:
    report = copy.deepcopy(REPORT)
    for key, value in changes.items():
        if value is None:
            report.pop(key, None)
        else:
            report[key] = value
    return report


def _document(*reports: dict[str, Any]) -> str:
    return json.dumps({"results": list(reports)})


def _parse(payload: str, received_at: datetime) -> DeliveryReceipt:
    [receipt] = parse_receipts("infobip", payload, received_at)
    assert receipt.problem() is None
    return receipt


def test_infobip_report_fields_map_to_the_receipt(received_at: datetime) -> None:
    receipt = _parse(_document(_report(callbackData="msg-42")), received_at)
    assert receipt.provider_message_id == "MESSAGE-ID-123-xyz"
    assert receipt.message_id == "msg-42"
    assert receipt.status is Status.DELIVERED
    assert receipt.submitted_at == datetime(2019, 11, 9, 16, tzinfo=UTC)
    assert receipt.done_at == datetime(2019, 11, 9, 16, 0, 1, 250000, tzinfo=UTC)
    assert receipt.segments_submitted == 2
    assert (receipt.price, receipt.currency) == (0.01, "EUR")


def test_infobip_lower_case_mccmnc_is_read(received_at: datetime) -> None:
    report = _report(mccMnc=None, mccmnc="310260")
    assert _parse(_document(report), received_at).mcc_mnc == "310260"


@pytest.mark.parametrize("group_name", ["Ok", "OK"])
def test_infobip_error_id_zero_is_no_error_in_either_spelling(
    received_at: datetime, group_name: str
) -> None:
    report = _report(error={"groupId": 0, "groupName": group_name, "id": 0, "name": "NO_ERROR"})
    assert _parse(_document(report), received_at).error_code is None


def test_infobip_error_id_is_the_error_code(received_at: datetime) -> None:
    report = _report(
        status={
            "groupId": 2,
            "groupName": "UNDELIVERABLE",
            "id": 9,
            "name": "UNDELIVERABLE_NOT_DELIVERED",
        },
        error={
            "groupId": 1,
            "groupName": "HANDSET_ERRORS",
            "id": 27,
            "name": "EC_ABSENT_SUBSCRIBER",
        },
    )
    receipt = _parse(_document(report), received_at)
    assert (receipt.status, receipt.error_code) == (Status.UNDELIVERABLE, "27")


def test_infobip_error_name_is_the_error_code_without_an_id(received_at: datetime) -> None:
    report = _report(error={"name": "EC_ABSENT_SUBSCRIBER"})
    assert _parse(_document(report), received_at).error_code == "EC_ABSENT_SUBSCRIBER"


def test_infobip_group_name_maps_when_the_status_name_is_unknown(received_at: datetime) -> None:
    report = _report(status={"groupId": 1, "groupName": "PENDING", "name": "SOMETHING_NEW"})
    assert _parse(_document(report), received_at).status is Status.ENROUTE


def test_infobip_document_with_several_reports_gives_one_receipt_each(
    received_at: datetime,
) -> None:
    reports = [
        _report(messageId=f"MSG-{n}", to=f"4179302672{n}", doneAt=f"2019-11-09T16:0{n}:00.000+0000")
        for n in range(3)
    ]
    receipts = parse_receipts("infobip", _document(*reports), received_at)
    assert [r.provider_message_id for r in receipts] == ["MSG-0", "MSG-1", "MSG-2"]
    assert len({r.event_id for r in receipts}) == 3
    for receipt in receipts:
        assert [r["messageId"] for r in json.loads(receipt.raw)["results"]] == [
            receipt.provider_message_id
        ]
        assert parse_receipts("infobip", receipt.raw, received_at) == [receipt]


def test_infobip_report_id_does_not_depend_on_its_document(received_at: datetime) -> None:
    alone = _parse(_document(_report()), received_at)
    among = parse_receipts("infobip", _document(_report(messageId="OTHER"), _report()), received_at)
    assert among[1].event_id == alone.event_id


def test_infobip_unknown_fields_are_kept_in_raw_and_ignored(received_at: datetime) -> None:
    receipt = _parse(
        _document(_report(entityId="e-1", platform={"applicationId": "x"})), received_at
    )
    assert json.loads(receipt.raw)["results"][0]["platform"] == {"applicationId": "x"}
    assert receipt.status is Status.DELIVERED


def test_infobip_recipient_is_redacted_in_place(received_at: datetime) -> None:
    receipt = _parse(_document(_report()), received_at)
    report = json.loads(receipt.raw)["results"][0]
    assert report["to"] == "REDACTED"
    assert list(report) == list(REPORT)
    assert "41793026727" not in receipt.raw


def test_infobip_recipient_key_is_redacted_in_the_report_and_not_kept_from_the_top_level(
    received_at: datetime,
) -> None:
    document = {"recipient": "41793026728", "results": [_report(recipient="41793026729")]}
    receipt = _parse(json.dumps(document), received_at)
    assert json.loads(receipt.raw) == {"results": [_report(to="REDACTED", recipient="REDACTED")]}
    assert "4179302672" not in receipt.raw
    assert parse_receipts("infobip", receipt.raw, received_at) == [receipt]


def test_infobip_raws_hold_only_their_own_report_whatever_the_document_carries(
    received_at: datetime,
) -> None:
    reports = [_report(messageId=f"MSG-{n}", callbackData=f"m-{n}") for n in range(100)]
    # A 0.5 MB document: 100 reports and a large top-level key beside them.
    document = json.dumps({"results": reports, "padding": "x" * 500_000})
    receipts = parse_receipts("infobip", document, received_at)
    assert len(receipts) == 100
    reports_size = len(json.dumps({"results": reports}, separators=(",", ":")))
    assert sum(len(r.raw) for r in receipts) < reports_size + 100 * len('{"results":[]}')
    for receipt, report in zip(receipts, reports, strict=True):
        assert json.loads(receipt.raw) == {"results": [{**report, "to": "REDACTED"}]}
        assert parse_receipts("infobip", receipt.raw, received_at) == [receipt]


@pytest.mark.parametrize(
    ("status_name", "status"),
    [
        ("DELIVERED_TO_HANDSET", Status.DELIVERED),
        ("DELIVERED_TO_OPERATOR", Status.ENROUTE),
        ("PENDING_ENROUTE", Status.ENROUTE),
        ("PENDING_ACCEPTED", Status.ENROUTE),
        ("UNDELIVERABLE_REJECTED_OPERATOR", Status.UNDELIVERABLE),
        ("EXPIRED_EXPIRED", Status.EXPIRED),
        ("REJECTED_NETWORK", Status.REJECTED),
    ],
)
def test_infobip_status_groups_map_as_the_design_table_says(
    received_at: datetime, status_name: str, status: Status
) -> None:
    report = _report(status={"name": status_name})
    assert _parse(_document(report), received_at).status is status


def test_infobip_delivered_to_operator_is_enroute_not_delivered(received_at: datetime) -> None:
    """The contract: the operator has the message, the handset may never get it."""
    status = {
        "groupId": 3,
        "groupName": "DELIVERED",
        "id": 2,
        "name": "DELIVERED_TO_OPERATOR",
        "description": "Message delivered to operator",
    }
    receipt = _parse(_document(_report(status=status)), received_at)
    assert receipt.status is Status.ENROUTE
    assert not receipt.is_final


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"results": [', "not JSON: Expecting value at column 14"),
        ("[]", "not an Infobip report: no results"),
        ('{"results": []}', "not an Infobip report: no results"),
        ('{"messageId": "x"}', "not an Infobip report: no results"),
        ('{"results": ["x"]}', "results[0]: report is not a JSON object"),
        (_document(_report(), _report(messageId=None)), "results[1]: missing messageId"),
        (_document(_report(status=None)), "results[0]: missing status"),
        (_document(_report(status={"name": "LOST"})), "results[0]: unknown Infobip status 'LOST'"),
        (_document(_report(mccMnc="2280")), "results[0]: mccMnc '2280' is not 5-6 digits"),
        (
            _document(_report(doneAt="yesterday")),
            "results[0]: doneAt 'yesterday' is not an ISO-8601 time",
        ),
        (
            _document(_report(price={"pricePerMessage": "cheap", "currency": "EUR"})),
            "results[0]: pricePerMessage 'cheap' is not a number",
        ),
        (
            _document(_report(price={"pricePerMessage": -1, "currency": "EUR"})),
            "results[0]: price: -1.0 is negative",
        ),
        (_document(_report(smsCount="2")), "results[0]: smsCount '2' is not a whole number"),
        (
            _document(_report(sentAt="0001-01-01T00:00:00.000+0100")),
            "results[0]: sentAt '0001-01-01T00:00:00.000+0100' is out of range in UTC",
        ),
        (
            _document(_report(doneAt="9999-12-31T23:59:59.000-0100")),
            "results[0]: doneAt '9999-12-31T23:59:59.000-0100' is out of range in UTC",
        ),
        ('{"results":' + "[" * 5000 + "]" * 5000 + "}", "JSON nested deeper than 32 levels"),
        (
            _document(_report(smsCount=0)).replace('"smsCount": 0', '"smsCount": ' + "9" * 5000),
            "JSON integer longer than 4300 digits",
        ),
        (
            _document(_report()).replace('"pricePerMessage": 0.01', '"pricePerMessage": 1e999'),
            "not JSON: number 1e999 is out of range",
        ),
        (
            _document(_report()).replace('"pricePerMessage": 0.01', '"pricePerMessage": NaN'),
            "not JSON: NaN is not a JSON number",
        ),
        (
            _document(_report(price={"pricePerMessage": "Infinity", "currency": "EUR"})),
            "results[0]: pricePerMessage 'Infinity' is not a number",
        ),
        (
            _document(_report(status={"name": "LOST", "groupName": ["DELIVERED"]})),
            "results[0]: unknown Infobip status 'LOST'",
        ),
    ],
)
def test_infobip_malformed_document_gives_its_reason(
    received_at: datetime, payload: str, reason: str
) -> None:
    with pytest.raises(ReceiptParseError) as caught:
        parse_receipts("infobip", payload, received_at)
    assert str(caught.value) == reason
