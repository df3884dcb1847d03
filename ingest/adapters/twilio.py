"""Twilio message status callbacks: the form-encoded POST body
(``MessageSid=SM…&MessageStatus=delivered&…``).

Carried: provider_message_id (``MessageSid``), status (``MessageStatus``, else the legacy
``SmsStatus``), error_code (``ErrorCode``; Twilio sends it only on failed / undelivered),
done_at (``RawDlrDoneDate``, ``YYMMDDhhmm``, UTC, minute precision; absent → None). Not carried:
message_id, mcc_mnc, submitted_at, segments, price, currency. Unknown fields are ignored
(Twilio adds fields without notice); a repeated field is an error. The recipient ``To`` is
replaced by ``REDACTED`` in ``raw``; every other field keeps its place and its encoding.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote_plus

from dlrw.ingest.adapters._common import (
    REDACTED,
    ReceiptParseError,
    finish_receipt,
    format_short_date,
    normalise_payload,
    parse_short_date,
    status_of,
)
from dlrw.ingest.adapters.form import Form, read_form
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status, twilio_status

__all__ = [
    "STATUS_VALUES",
    "parse_twilio_callback",
    "read_twilio_callback",
    "render_twilio_callback",
    "twilio_receipt",
]

PROVIDER = "twilio"

_RECIPIENT = "To"
STATUS_VALUES = {
    Status.DELIVERED: "delivered",
    Status.UNDELIVERABLE: "undelivered",
    Status.REJECTED: "failed",
    Status.ENROUTE: "sent",
    Status.ACCEPTED: "queued",
    Status.DELETED: "canceled",
}


def read_twilio_callback(payload: str) -> Form:
    """A Twilio status callback body as a form, read once for both the signature check and the
    receipt; a repeated field raises ``ReceiptParseError``."""
    return read_form(normalise_payload(payload))


def twilio_receipt(form: Form, received_at: datetime) -> DeliveryReceipt:
    """The canonical receipt of a callback read by ``read_twilio_callback``.

    ``raw`` is the redacted body without surrounding whitespace and control bytes; the event
    id is derived from it.
    """
    fields = form.fields
    sid = fields.get("MessageSid")
    if not sid:
        raise ReceiptParseError("not a Twilio callback: no MessageSid")
    status_value = fields.get("MessageStatus") or fields.get("SmsStatus")
    status = status_of(status_value, "MessageStatus", twilio_status)
    done = fields.get("RawDlrDoneDate")
    raw = form.redacted_text(_RECIPIENT)
    return finish_receipt(
        PROVIDER,
        raw,
        sid,
        status,
        received_at,
        raw,
        error_code=fields.get("ErrorCode") or None,
        done_at=parse_short_date(done, "RawDlrDoneDate") if done else None,
    )


def parse_twilio_callback(payload: str, received_at: datetime) -> DeliveryReceipt:
    """One Twilio status callback body as a canonical receipt (see ``twilio_receipt``)."""
    return twilio_receipt(read_twilio_callback(payload), received_at)


def render_twilio_callback(receipt: DeliveryReceipt) -> str:
    """The Twilio status callback body for ``receipt``; ``parse_twilio_callback`` reads it back.

    done_at is written as ``RawDlrDoneDate`` ``YYMMDDhhmm``: it round-trips only with
    seconds = 0 and no sub-second part. error_code is written whenever it is set. ``To`` is
    written as ``REDACTED`` (a receipt holds no number). Twilio has no value for EXPIRED or
    UNKNOWN: those raise ValueError.
    """
    value = STATUS_VALUES.get(receipt.status)
    if value is None:
        raise ValueError(f"Twilio has no status for {receipt.status.value}")
    sid = quote_plus(receipt.provider_message_id)
    parts = [
        f"{_RECIPIENT}={REDACTED}",
        f"MessageSid={sid}",
        f"MessageStatus={value}",
        f"SmsSid={sid}",
        f"SmsStatus={value}",
    ]
    if receipt.error_code is not None:
        parts.append(f"ErrorCode={quote_plus(receipt.error_code)}")
    if receipt.done_at is not None:
        parts.append(f"RawDlrDoneDate={format_short_date(receipt.done_at, False)}")
    parts.append("ApiVersion=2010-04-01")
    return "&".join(parts)
