"""Vonage (Nexmo) SMS delivery receipts, as a JSON object or as a GET query string.

Carried: provider_message_id (``messageId``), status (``status``), error_code (``err-code``;
"0" = no error → None), mcc_mnc (``network-code``), done_at (``scts``, the SMSC's done time,
``YYMMDDhhmm``, taken as UTC, minute precision), price (``price``, a decimal string → float)
with currency EUR (Vonage bills in EUR; no price → no currency) and message_id
(``client-ref``, the sender's reference). Not carried: submitted_at, segments. Vonage's
``message-timestamp`` is when Vonage started pushing the receipt to us — neither submission nor
delivery — so it stays in ``raw`` only; received_at is our own clock. The recipient ``msisdn``
is replaced by ``REDACTED`` in ``raw``; the signing fields (``sig``, ``timestamp``, ``nonce``)
are left out of it. A repeated field is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dlrw.ingest.adapters._common import (
    REDACTED,
    ReceiptParseError,
    canonical_json,
    compact_json,
    finish_receipt,
    format_short_date,
    load_json,
    mcc_mnc_or_none,
    normalise_payload,
    number_or_none,
    parse_short_date,
    shown,
    status_of,
)
from dlrw.ingest.adapters.form import Form, read_form
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status, vonage_status

__all__ = [
    "CURRENCY",
    "SIGNING_FIELDS",
    "STATUS_VALUES",
    "VonageCallback",
    "parse_vonage_receipt",
    "read_vonage_callback",
    "render_vonage_receipt",
    "vonage_receipt",
]

PROVIDER = "vonage"
CURRENCY = "EUR"

_RECIPIENT = "msisdn"
# Fields Vonage adds to a signed callback: transport, not receipt, so a re-signed retry of a
# receipt is the same event.
SIGNING_FIELDS = ("sig", "timestamp", "nonce")
STATUS_VALUES = {
    Status.DELIVERED: "delivered",
    Status.ENROUTE: "buffered",
    Status.ACCEPTED: "accepted",
    Status.UNDELIVERABLE: "failed",
    Status.EXPIRED: "expired",
    Status.REJECTED: "rejected",
    Status.UNKNOWN: "unknown",
}


@dataclass(frozen=True, slots=True)
class VonageCallback:
    """A Vonage receipt read once, for both the signature check and the receipt: its fields,
    each named once, and for a query string the form as written (kept in ``raw``)."""

    fields: dict[str, Any]
    form: Form | None = None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ReceiptParseError(f"field {shown(key)} given twice")
        document[key] = value
    return document


def read_vonage_callback(payload: str) -> VonageCallback:
    """A Vonage receipt (JSON object or query string) read into its fields; a repeated field
    raises ``ReceiptParseError``."""
    text = normalise_payload(payload)
    if not text.startswith(("{", "[")):
        form = read_form(text)
        return VonageCallback(form.fields, form)
    document = load_json(text)
    if not isinstance(document, dict):
        raise ReceiptParseError("not a Vonage receipt: JSON is not an object")
    # Read again keeping every key (the text is known to be strict, shallow JSON by now).
    json.loads(text, object_pairs_hook=_unique_keys)
    return VonageCallback(document)


def _raw_and_id_source(callback: VonageCallback) -> tuple[str, str]:
    """Redacted raw and event-id source, without the signing fields."""
    if callback.form is not None:
        raw = callback.form.without(SIGNING_FIELDS).redacted_text(_RECIPIENT)
        return raw, raw
    document = {k: v for k, v in callback.fields.items() if k not in SIGNING_FIELDS}
    if _RECIPIENT in document:
        document[_RECIPIENT] = REDACTED
    return compact_json(document), canonical_json(document)


def vonage_receipt(callback: VonageCallback, received_at: datetime) -> DeliveryReceipt:
    """The canonical receipt of a callback read by ``read_vonage_callback``.

    ``raw`` is the redacted payload without surrounding whitespace and control bytes (JSON
    re-written compactly, key order kept) and without the signing fields. The event id is
    derived from the redacted JSON with sorted keys, or from the redacted query string.
    """
    fields = callback.fields
    raw, id_source = _raw_and_id_source(callback)
    message_id = fields.get("messageId")
    if not message_id:
        raise ReceiptParseError("not a Vonage receipt: no messageId")
    status = status_of(fields.get("status"), "status", vonage_status)
    err = str(fields.get("err-code") or "")
    scts = fields.get("scts")
    price = number_or_none(fields.get("price"), "price")
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


def parse_vonage_receipt(payload: str, received_at: datetime) -> DeliveryReceipt:
    """One Vonage receipt (JSON object or query string) as a canonical receipt (see
    ``vonage_receipt``)."""
    return vonage_receipt(read_vonage_callback(payload), received_at)


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
