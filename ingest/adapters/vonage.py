"""Vonage (Nexmo) SMS delivery receipts, as a JSON object or as a GET query string.

Carried: provider_message_id (``messageId``), status (``status``), error_code (``err-code``;
"0" = no error → None), mcc_mnc (``network-code``), done_at (``scts``, the SMSC's done time,
``YYMMDDhhmm``, taken as UTC, minute precision), price (``price``, a decimal string → float)
with currency EUR (Vonage bills in EUR; no price → no currency) and message_id
(``client-ref``, the sender's reference). Not carried: submitted_at, segments. Vonage's
``message-timestamp`` is when Vonage started pushing the receipt to us — neither submission nor
delivery — so it stays in ``raw`` only; received_at is our own clock. The recipient ``msisdn``
is replaced by ``REDACTED`` in ``raw``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from ingest.adapters._common import (
    REDACTED,
    ReceiptParseError,
    canonical_json,
    compact_json,
    finish_receipt,
    format_short_date,
    mcc_mnc_or_none,
    normalise_payload,
    parse_short_date,
)
from models.events import DeliveryReceipt
from models.status import Status, vonage_status

__all__ = ["CURRENCY", "STATUS_VALUES", "parse_vonage_receipt", "render_vonage_receipt"]

PROVIDER = "vonage"
CURRENCY = "EUR"

_RECIPIENT = "msisdn"
STATUS_VALUES = {
    Status.DELIVERED: "delivered",
    Status.ENROUTE: "buffered",
    Status.ACCEPTED: "accepted",
    Status.UNDELIVERABLE: "failed",
    Status.EXPIRED: "expired",
    Status.REJECTED: "rejected",
    Status.UNKNOWN: "unknown",
}


def _json_fields(text: str) -> tuple[dict[str, Any], str, str]:
    """Fields, redacted raw and event-id source of a JSON receipt."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReceiptParseError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(document, dict):
        raise ReceiptParseError("not a Vonage receipt: JSON is not an object")
    if _RECIPIENT in document:
        document[_RECIPIENT] = REDACTED
    return document, compact_json(document), canonical_json(document)


def _query_fields(text: str) -> tuple[dict[str, Any], str, str]:
    """Fields, redacted raw and event-id source of a query-string receipt."""
    pieces = text.split("&")
    fields: dict[str, Any] = {}
    for index, piece in enumerate(pieces):
        key, _, value = piece.partition("=")
        key = unquote_plus(key)
        if key == _RECIPIENT:
            pieces[index] = f"{_RECIPIENT}={REDACTED}"
            continue
        fields.setdefault(key, unquote_plus(value))
    raw = "&".join(pieces)
    return fields, raw, raw


def _price(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ReceiptParseError(f"price {value!r} is not a number") from None


def parse_vonage_receipt(payload: str, received_at: datetime) -> DeliveryReceipt:
    """One Vonage receipt (JSON object or query string) as a canonical receipt.

    ``raw`` is the redacted payload without surrounding whitespace and control bytes (JSON
    re-written compactly, key order kept). The event id is derived from the redacted JSON with
    sorted keys, or from the redacted query string.
    """
    text = normalise_payload(payload)
    fields, raw, id_source = (
        _json_fields(text) if text.startswith(("{", "[")) else _query_fields(text)
    )
    message_id = fields.get("messageId")
    if not message_id:
        raise ReceiptParseError("not a Vonage receipt: no messageId")
    status_value = fields.get("status")
    if not status_value:
        raise ReceiptParseError("missing status")
    try:
        status = vonage_status(str(status_value))
    except ValueError as exc:
        raise ReceiptParseError(str(exc)) from None
    err = str(fields.get("err-code") or "")
    scts = fields.get("scts")
    price = _price(fields.get("price"))
    client_ref = fields.get("client-ref")
    return finish_receipt(
        PROVIDER,
        id_source,
        str(message_id),
        status,
        received_at,
        raw,
        message_id=str(client_ref) if client_ref else None,
        error_code=None if err.strip("0") == "" else err,
        mcc_mnc=mcc_mnc_or_none(fields.get("network-code"), "network-code"),
        done_at=parse_short_date(str(scts), "scts") if scts else None,
        price=price,
        currency=None if price is None else CURRENCY,
    )


def render_vonage_receipt(receipt: DeliveryReceipt) -> str:
    """The Vonage JSON receipt for ``receipt``; ``parse_vonage_receipt`` reads it back.

    done_at is written as ``scts`` ``YYMMDDhhmm``: it round-trips only with seconds = 0 and no
    sub-second part. price is written with 8 decimals (as Vonage does) and round-trips at that
    precision; its currency must be EUR (or None), else ValueError. error_code None is written
    as "0". ``msisdn`` is written as ``REDACTED``. Vonage has no status for DELETED: it raises
    ValueError.
    """
    value = STATUS_VALUES.get(receipt.status)
    if value is None:
        raise ValueError(f"Vonage has no status for {receipt.status.value}")
    if receipt.price is not None and receipt.currency not in (None, CURRENCY):
        raise ValueError(f"Vonage prices are {CURRENCY}, not {receipt.currency}")
    document: dict[str, str] = {
        "err-code": receipt.error_code or "0",
        "messageId": receipt.provider_message_id,
        _RECIPIENT: REDACTED,
    }
    if receipt.mcc_mnc is not None:
        document["network-code"] = receipt.mcc_mnc
    if receipt.price is not None:
        document["price"] = f"{receipt.price:.8f}"
    if receipt.done_at is not None:
        document["scts"] = format_short_date(receipt.done_at, False)
    document["status"] = value
    if receipt.message_id is not None:
        document["client-ref"] = receipt.message_id
    return compact_json(document)
