"""What every provider adapter shares: the parse error, payload normalisation, strict JSON,
content-derived event ids, SMSC short dates, numbers and the final contract check."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dlrw.ingest import strict_json
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status

__all__ = [
    "REDACTED",
    "ReceiptParseError",
    "canonical_json",
    "compact_json",
    "content_event_id",
    "finish_receipt",
    "format_short_date",
    "load_json",
    "mcc_mnc_or_none",
    "normalise_payload",
    "number_or_none",
    "parse_short_date",
    "shown",
    "status_of",
]

REDACTED = "REDACTED"

# Whitespace and C0/DEL control bytes that SMSCs and HTTP stacks leave around a payload.
_EDGE_JUNK = "".join(chr(c) for c in range(0x21)) + "\x7f"
_SHORT_DATE = re.compile(r"^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?$")
_MCC_MNC = re.compile(r"[0-9]{5,6}")
# A payload value quoted in a reason is cut to this, so a reason stays one readable line.
_SHOWN_CHARS = 40


class ReceiptParseError(ValueError):
    """A payload that is not a receipt of the named provider; ``str(exc)`` is a short reason."""


def normalise_payload(payload: str) -> str:
    """``payload`` without leading/trailing whitespace, CR/LF and control bytes."""
    return payload.strip(_EDGE_JUNK)


def shown(value: Any) -> str:
    """``repr(value)`` for a reason, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def load_json(text: str) -> Any:
    """``text`` as strict JSON (``ingest.strict_json``); anything else is a parse error."""
    try:
        return strict_json.load(text)
    except strict_json.JSONRefused as exc:
        raise ReceiptParseError(str(exc)) from None


def content_event_id(provider: str, normalised: str) -> str:
    """The event id of one report: the same content always gives the same id."""
    try:
        content = f"{provider}\n{normalised}".encode()
    except UnicodeEncodeError:
        # A lone surrogate: no UTF-8 store or topic can hold the report.
        raise ReceiptParseError("the report is not valid Unicode (a lone surrogate)") from None
    return hashlib.sha256(content).hexdigest()[:32]


def compact_json(value: Any) -> str:
    """JSON as the adapters store it in ``raw``: key order kept, no spaces, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, so a re-ordered but equal report hashes the same."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def parse_short_date(value: str, label: str) -> datetime:
    """An SMSC date ``YYMMDDhhmm`` or ``YYMMDDhhmmss`` (UTC, years 2000-2099)."""
    match = _SHORT_DATE.match(value)
    if match is None:
        raise ReceiptParseError(f"{label} {shown(value)} is not YYMMDDhhmm[ss]")
    yy, mo, dd, hh, mi, ss = match.groups()
    try:
        return datetime(
            2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss or 0), tzinfo=UTC
        )
    except ValueError:
        raise ReceiptParseError(f"{label} {shown(value)} is not a valid date") from None


def format_short_date(value: datetime, with_seconds: bool) -> str:
    """``value`` (taken in UTC) as ``YYMMDDhhmmss``, or ``YYMMDDhhmm`` (seconds dropped)."""
    return value.astimezone(UTC).strftime("%y%m%d%H%M%S" if with_seconds else "%y%m%d%H%M")


def mcc_mnc_or_none(value: Any, label: str) -> str | None:
    """A 5-6 digit MCC-MNC, None when absent or empty; anything else is a parse error."""
    if value is None or value == "":
        return None
    text = str(value)
    if not _MCC_MNC.fullmatch(text):
        raise ReceiptParseError(f"{label} {shown(text)} is not 5-6 digits")
    return text


def number_or_none(value: Any, label: str) -> float | None:
    """A finite number given as a JSON number or decimal text, None when absent or empty;
    anything else (``"NaN"``, ``"1e999"``, ``true``) is a parse error."""
    if value is None or value == "":
        return None
    number = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError, OverflowError):
            number = float(value)
    if not math.isfinite(number):
        raise ReceiptParseError(f"{label} {shown(value)} is not a number")
    return number


def status_of(value: Any, field: str, to_status: Callable[[str], Status]) -> Status:
    """The status ``to_status`` maps the provider's ``value`` to; a parse error saying
    ``missing FIELD`` when there is no value, or why the value maps to no status."""
    if not value:
        raise ReceiptParseError(f"missing {field}")
    try:
        return to_status(str(value))
    except ValueError as exc:
        raise ReceiptParseError(str(exc)) from None


def finish_receipt(
    provider: str,
    event_id_source: str,
    provider_message_id: str,
    status: Status,
    received_at: datetime,
    raw: str,
    **optional: Any,
) -> DeliveryReceipt:
    """Build the canonical receipt and hold it to the contract (``DeliveryReceipt.problem``)."""
    receipt = DeliveryReceipt(
        event_id=content_event_id(provider, event_id_source),
        provider=provider,
        provider_message_id=provider_message_id,
        status=status,
        is_final=status.is_final,
        received_at=received_at,
        raw=raw,
        **optional,
    )
    problem = receipt.problem()
    if problem is not None:
        raise ReceiptParseError(problem)
    return receipt
