"""Receipts in each provider's own payload format, consistent with what the adapters parse.

Every payload is written by the adapters' ``render_receipt``. The canonical receipt published
with it must be what ``parse_receipts`` makes of that payload. Parsing every receipt made the
whole simulation three times slower (it re-checks the contract, re-reads JSON and dates), so
the receipt is derived from the draft by the round-trip contract ``render_receipt`` documents
(the fields the format carries, at the format's time precision; ``raw`` = the payload;
``event_id`` from the payload) and a deterministic sample — every receipt with ``verify=1`` —
is parsed for real and compared, so a change in an adapter fails loudly instead of drifting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from datetime import datetime

from ingest.adapters import parse_receipts, render_receipt
from models.events import DeliveryReceipt
from models.status import Status

__all__ = ["ReceiptDrift", "ReceiptFactory"]

# Which optional fields each format carries (ingest.adapters.render_receipt's docstring).
_CARRIES: dict[str, frozenset[str]] = {
    "smpp": frozenset(
        {"error_code", "segments_submitted", "segments_delivered", "submitted_at", "done_at"}
    ),
    "twilio": frozenset({"error_code", "done_at"}),
    "infobip": frozenset(
        {
            "message_id",
            "error_code",
            "mcc_mnc",
            "submitted_at",
            "done_at",
            "segments_submitted",
            "price",
            "currency",
        }
    ),
    "vonage": frozenset({"message_id", "error_code", "mcc_mnc", "done_at", "price", "currency"}),
}
# Time precision per format: drop the microseconds below it (seconds, or whole minutes).
_SECONDS_ONLY = frozenset({"smpp"})
_MINUTES_ONLY = frozenset({"twilio", "vonage"})
# Formats whose "no error" is written as zeros, read back as None.
_ZERO_IS_NO_ERROR = frozenset({"smpp", "vonage", "infobip"})


class ReceiptDrift(RuntimeError):
    """The adapters parse a rendered payload differently from their documented round trip."""


def _cut(value: datetime | None, provider: str) -> datetime | None:
    if value is None:
        return None
    if provider in _MINUTES_ONLY:
        return value.replace(second=0, microsecond=0)
    if provider in _SECONDS_ONLY:
        return value.replace(microsecond=0)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_canonical = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode


def _event_id(provider: str, payload: str) -> str:
    # JSON formats derive the id from the report as canonical JSON (sorted keys).
    if provider == "infobip":
        source = _canonical(json.loads(payload)["results"][0])
    elif provider == "vonage":
        source = _canonical(json.loads(payload))
    else:
        source = payload
    return hashlib.sha256(f"{provider}\n{source}".encode()).hexdigest()[:32]


class ReceiptFactory:
    """Turns draft receipts into published ones: payload rendered by the adapter, receipt as
    the adapter parses it; every ``verify``-th receipt (0: none) is checked by parsing."""

    def __init__(self, verify: int = 50) -> None:
        self.verify = verify
        self.built = 0

    def build(
        self,
        provider: str,
        provider_message_id: str,
        status: Status,
        received_at: datetime,
        *,
        message_id: str | None,
        error_code: str | None,
        mcc_mnc: str | None,
        submitted_at: datetime | None,
        done_at: datetime | None,
        segments_submitted: int | None,
        segments_delivered: int | None,
        price: float | None,
        currency: str | None,
    ) -> DeliveryReceipt:
        """The receipt ``parse_receipts`` gives for the payload ``render_receipt`` writes for
        these values, received at ``received_at`` (which must have millisecond precision)."""
        carries = _CARRIES[provider]
        if "error_code" not in carries or (
            error_code is not None and provider in _ZERO_IS_NO_ERROR and not error_code.strip("0")
        ):
            error_code = None
        if "price" not in carries:
            price = None
        elif price is not None and provider == "vonage":
            price = float(f"{price:.8f}")
        # Projected onto the format first: rendering it writes the same payload as rendering
        # the unprojected values would, and it is then the parsed receipt but for the two
        # fields derived from the payload, set below on this still unshared object.
        receipt = DeliveryReceipt(
            event_id="",
            provider=provider,
            provider_message_id=provider_message_id,
            status=status,
            is_final=status.is_final,
            received_at=received_at,
            raw="",
            message_id=message_id if "message_id" in carries else None,
            error_code=error_code,
            mcc_mnc=mcc_mnc if "mcc_mnc" in carries else None,
            submitted_at=_cut(submitted_at, provider) if "submitted_at" in carries else None,
            done_at=_cut(done_at, provider) if "done_at" in carries else None,
            segments_submitted=segments_submitted if "segments_submitted" in carries else None,
            segments_delivered=segments_delivered if "segments_delivered" in carries else None,
            price=price,
            currency=currency if price is not None else None,
        )
        payload = render_receipt(provider, receipt)
        object.__setattr__(receipt, "raw", payload)
        object.__setattr__(receipt, "event_id", _event_id(provider, payload))
        self.built += 1
        if self.verify and self.built % self.verify == 1 % self.verify:
            self._check(receipt)
        return receipt

    def _check(self, receipt: DeliveryReceipt) -> None:
        parsed = parse_receipts(receipt.provider, receipt.raw, receipt.received_at)
        if parsed == [receipt]:
            return
        differ = [
            f.name
            for f in fields(receipt)
            if len(parsed) != 1 or getattr(parsed[0], f.name) != getattr(receipt, f.name)
        ]
        raise ReceiptDrift(
            f"the {receipt.provider} adapter parses a rendered receipt differently "
            f"({', '.join(differ)}); payload: {receipt.raw}"
        )
