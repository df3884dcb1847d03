"""Infobip delivery report documents: ``{"results": [report, …]}`` with up to 100 reports.

Carried, per report: provider_message_id (``messageId``), status (``status.name``, else
``status.groupName``), error_code (``error.id`` as text, or ``error.name`` when there is no id;
id 0 = no error → None), mcc_mnc (``mccMnc`` or ``mccmnc``), submitted_at / done_at
(``sentAt`` / ``doneAt``, e.g. ``2019-11-09T16:00:00.000+0000``, millisecond precision),
segments_submitted (``smsCount``), price / currency (``price.pricePerMessage`` /
``price.currency``) and message_id (``callbackData``, where dlrw senders put their id). Not
carried: segments_delivered. Each receipt's ``raw`` is its own report alone, as a one-report
document: the document's other top-level keys are not kept (they would be copied into every
report's raw). The recipient (``to``, or ``recipient``) is replaced by ``REDACTED`` in ``raw``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dlrw.ingest.adapters._common import (
    REDACTED,
    ReceiptParseError,
    canonical_json,
    compact_json,
    finish_receipt,
    load_json,
    mcc_mnc_or_none,
    normalise_payload,
    number_or_none,
    shown,
)
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status, infobip_status

__all__ = ["parse_infobip_reports", "render_infobip_report"]

PROVIDER = "infobip"

_RECIPIENT = "to"
# Both spellings of the recipient's number that Infobip documents carry.
_RECIPIENT_KEYS = (_RECIPIENT, "recipient")
# One status per canonical status Infobip can express: (groupId, groupName, id, name).
_STATUS_OBJECTS: dict[Status, tuple[int, str, int, str]] = {
    Status.ENROUTE: (1, "PENDING", 7, "PENDING_ENROUTE"),
    Status.UNDELIVERABLE: (2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED"),
    Status.DELIVERED: (3, "DELIVERED", 5, "DELIVERED_TO_HANDSET"),
    Status.EXPIRED: (4, "EXPIRED", 15, "EXPIRED_EXPIRED"),
    Status.REJECTED: (5, "REJECTED", 6, "REJECTED_NETWORK"),
}
_NO_ERROR = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False}


def _timestamp(value: Any, label: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
        # Infobip times without an offset are UTC, like every provider time here.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise ReceiptParseError(f"{label} {shown(value)} is not an ISO-8601 time") from None
    except OverflowError:
        raise ReceiptParseError(f"{label} {shown(value)} is out of range in UTC") from None


def _error_code(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None
    error_id = error.get("id")
    if error_id is not None and error_id != "":
        return None if str(error_id).strip("0") == "" else str(error_id)
    name = error.get("name")
    return None if not name or name == "NO_ERROR" else str(name)


def _price(report: dict[str, Any]) -> tuple[float | None, str | None]:
    price = report.get("price")
    if not isinstance(price, dict):
        return None, None
    value = number_or_none(price.get("pricePerMessage"), "pricePerMessage")
    currency = price.get("currency") or None
    if currency is not None and not isinstance(currency, str):
        raise ReceiptParseError(f"currency {shown(currency)} is not a currency code")
    return (None, None) if value is None else (value, currency)


def _parse_report(report: Any, received_at: datetime) -> DeliveryReceipt:
    if not isinstance(report, dict):
        raise ReceiptParseError("report is not a JSON object")
    report = {key: REDACTED if key in _RECIPIENT_KEYS else value for key, value in report.items()}
    message_id = report.get("messageId")
    if not message_id:
        raise ReceiptParseError("missing messageId")
    status_object = report.get("status")
    if not isinstance(status_object, dict):
        raise ReceiptParseError("missing status")
    group_name = status_object.get("groupName")
    try:
        status = infobip_status(
            str(status_object.get("name") or ""),
            group_name if isinstance(group_name, str) else None,
        )
    except ValueError as exc:
        raise ReceiptParseError(str(exc)) from None
    sms_count = report.get("smsCount")
    if sms_count is not None and (isinstance(sms_count, bool) or not isinstance(sms_count, int)):
        raise ReceiptParseError(f"smsCount {shown(sms_count)} is not a whole number")
    price, currency = _price(report)
    callback_data = report.get("callbackData")
    raw = compact_json({"results": [report]})
    return finish_receipt(
        PROVIDER,
        canonical_json(report),
        str(message_id),
        status,
        received_at,
        raw,
        message_id=str(callback_data) if callback_data else None,
        error_code=_error_code(report.get("error")),
        mcc_mnc=mcc_mnc_or_none(report.get("mccMnc", report.get("mccmnc")), "mccMnc"),
        submitted_at=_timestamp(report.get("sentAt"), "sentAt"),
        done_at=_timestamp(report.get("doneAt"), "doneAt"),
        segments_submitted=sms_count,
        price=price,
        currency=currency,
    )


def parse_infobip_reports(payload: str, received_at: datetime) -> list[DeliveryReceipt]:
    """Every report of one Infobip document, in document order.

    Each receipt's ``raw`` is ``{"results": [its redacted report]}`` and nothing else of the
    document, so the raws of a document add up to about its size, and each re-parses to that
    one receipt; its event id is derived from the report as canonical JSON (sorted keys), so
    key order does not matter. A bad report fails the whole document, with its index in the
    reason.
    """
    document = load_json(normalise_payload(payload))
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not results:
        raise ReceiptParseError("not an Infobip report: no results")
    receipts = []
    for index, report in enumerate(results):
        try:
            receipts.append(_parse_report(report, received_at))
        except ReceiptParseError as exc:
            raise ReceiptParseError(f"results[{index}]: {exc}") from None
    return receipts


def _format_time(value: datetime) -> str:
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{text[:-3]}+0000"


def render_infobip_report(receipt: DeliveryReceipt) -> str:
    """An Infobip document holding ``receipt`` as its one report; ``parse_infobip_reports``
    reads it back.

    Times are written with milliseconds (``…T16:00:00.000+0000``), so they round-trip at
    millisecond precision. error_code None is written as the NO_ERROR object; a decimal
    error_code (no leading zeros) as ``error.id``, any other as ``error.name``. ``price`` is
    written only when set, with ``currency`` beside it (currency without price is lost).
    ``to`` is written as ``REDACTED``. Infobip has no status for ACCEPTED, DELETED or UNKNOWN:
    those raise ValueError.
    """
    status = _STATUS_OBJECTS.get(receipt.status)
    if status is None:
        raise ValueError(f"Infobip has no status for {receipt.status.value}")
    group_id, group_name, status_id, name = status
    report: dict[str, Any] = {"messageId": receipt.provider_message_id, _RECIPIENT: REDACTED}
    if receipt.message_id is not None:
        report["callbackData"] = receipt.message_id
    if receipt.submitted_at is not None:
        report["sentAt"] = _format_time(receipt.submitted_at)
    if receipt.done_at is not None:
        report["doneAt"] = _format_time(receipt.done_at)
    if receipt.segments_submitted is not None:
        report["smsCount"] = receipt.segments_submitted
    if receipt.mcc_mnc is not None:
        report["mccMnc"] = receipt.mcc_mnc
    if receipt.price is not None:
        report["price"] = {"pricePerMessage": receipt.price, "currency": receipt.currency}
    report["status"] = {"groupId": group_id, "groupName": group_name, "id": status_id, "name": name}
    code = receipt.error_code
    if code is None:
        report["error"] = _NO_ERROR
    elif code.isdigit():
        report["error"] = {"id": int(code), "permanent": receipt.is_final}
    else:
        report["error"] = {"name": code, "permanent": receipt.is_final}
    return compact_json({"results": [report]})
