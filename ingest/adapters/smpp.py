"""SMPP 3.4 delivery receipts: the ``deliver_sm`` short message text
``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…``.

Carried: provider_message_id (``id``, kept verbatim: decimal, hex or UUID), status (``stat``),
error_code (``err``; all zeros = no error), segments_submitted / segments_delivered
(``sub`` / ``dlvrd``, optional), submitted_at / done_at (``submit date`` / ``done date``,
``YYMMDDhhmm`` or ``YYMMDDhhmmss``, UTC, optional). Not carried: message_id, mcc_mnc, price,
currency. The receipt text holds no phone number, so nothing is redacted.
"""

from __future__ import annotations

import re
from datetime import datetime

from dlrw.ingest.adapters._common import (
    ReceiptParseError,
    finish_receipt,
    format_short_date,
    normalise_payload,
    parse_short_date,
    shown,
    status_of,
)
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status, smpp_status

__all__ = ["STAT_NAMES", "parse_smpp_receipt", "render_smpp_receipt"]

PROVIDER = "smpp"

# The free-text field runs to the end of the line and may hold anything, so it is cut off first.
_TEXT_FIELD = re.compile(r"(?:^|\s)text:", re.IGNORECASE)
_FIELD = re.compile(r"(?:^|(?<=\s))(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.I)
# ASCII digits only: str.isdigit also takes "²", which int() refuses.
_COUNT = re.compile(r"[0-9]+")
# 2**31 has ten digits: a longer count breaks the contract, and int() refuses 4,300 digits.
_COUNT_DIGITS = 10
STAT_NAMES = {
    Status.DELIVERED: "DELIVRD",
    Status.UNDELIVERABLE: "UNDELIV",
    Status.EXPIRED: "EXPIRED",
    Status.REJECTED: "REJECTD",
    Status.DELETED: "DELETED",
    Status.ACCEPTED: "ACCEPTD",
    Status.ENROUTE: "ENROUTE",
    Status.UNKNOWN: "UNKNOWN",
}


def _count(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if not _COUNT.fullmatch(value):
        raise ReceiptParseError(f"{name} {shown(value)} is not a number")
    if len(value.lstrip("0")) > _COUNT_DIGITS:
        raise ReceiptParseError(f"{name} {shown(value)} has more than {_COUNT_DIGITS} digits")
    return int(value)


def _date(fields: dict[str, str], name: str) -> datetime | None:
    value = fields.get(name)
    return None if value is None else parse_short_date(value, name)


def parse_smpp_receipt(payload: str, received_at: datetime) -> DeliveryReceipt:
    """One SMPP receipt text as a canonical receipt.

    Field names are matched in any case; only the part before ``text:`` is searched, so the
    message text cannot inject fields. ``raw`` is the text without surrounding whitespace and
    control bytes (CR/LF, NUL, …), and the event id is derived from it.
    """
    raw = normalise_payload(payload)
    text_at = _TEXT_FIELD.search(raw)
    head = raw if text_at is None else raw[: text_at.start()]
    fields: dict[str, str] = {}
    for name, value in _FIELD.findall(head):
        fields.setdefault(name.lower(), value)
    message_id = fields.get("id")
    if not message_id:
        raise ReceiptParseError("not an SMPP receipt: no id field")
    status = status_of(fields.get("stat"), "stat field", smpp_status)
    err = fields.get("err")
    return finish_receipt(
        PROVIDER,
        raw,
        message_id,
        status,
        received_at,
        raw,
        error_code=None if not err or err.strip("0") == "" else err,
        segments_submitted=_count(fields, "sub"),
        segments_delivered=_count(fields, "dlvrd"),
        submitted_at=_date(fields, "submit date"),
        done_at=_date(fields, "done date"),
    )


def render_smpp_receipt(receipt: DeliveryReceipt) -> str:
    """The SMPP receipt text for ``receipt``; ``parse_smpp_receipt`` reads it back.

    Dates are written with seconds (12 digits), so submitted_at / done_at round-trip when they
    have no sub-second part. ``sub`` / ``dlvrd`` and the dates are left out when None;
    error_code None is written ``err:000``; ``text:`` is empty. provider_message_id and
    error_code must not contain whitespace. Every status has an SMPP ``stat``.
    """
    parts = [f"id:{receipt.provider_message_id}"]
    if receipt.segments_submitted is not None:
        parts.append(f"sub:{receipt.segments_submitted:03d}")
    if receipt.segments_delivered is not None:
        parts.append(f"dlvrd:{receipt.segments_delivered:03d}")
    if receipt.submitted_at is not None:
        parts.append(f"submit date:{format_short_date(receipt.submitted_at, True)}")
    if receipt.done_at is not None:
        parts.append(f"done date:{format_short_date(receipt.done_at, True)}")
    parts.append(f"stat:{STAT_NAMES[receipt.status]}")
    parts.append(f"err:{receipt.error_code or '000'}")
    parts.append("text:")
    return " ".join(parts)
