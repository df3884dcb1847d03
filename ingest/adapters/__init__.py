"""Provider receipt adapters: each provider's delivery report payload to canonical
``DeliveryReceipt`` events (``parse_receipts``) and back (``render_receipt``).

Every parsed receipt has:
- ``event_id``: the first 32 hex digits of sha256(provider + "\\n" + the normalised, redacted
  payload of that one report), so a receipt delivered twice gets the same id; it does not
  depend on ``received_at``. Normalised: surrounding whitespace, CR/LF and control bytes
  stripped; for JSON formats, the (one) report as canonical JSON with sorted keys.
- ``raw``: the payload, normalised the same way (PostgreSQL text cannot hold NUL bytes) and
  with the recipient number (Twilio ``To``, Vonage ``msisdn``, Infobip ``to`` / ``recipient``)
  replaced by ``REDACTED`` — raw numbers never reach the store. An Infobip receipt's raw is
  ``{"results": [its report]}`` alone: nothing else of its document, so a document's raws add
  up to about its size. Re-parsing ``raw`` gives the same receipt.
- ``is_final`` = ``status.is_final``, statuses mapped by ``models.status`` (docs/design.md's table),
  and no contract problem (``receipt.problem() is None``).

Whatever the input, a parser returns receipts or raises ``ReceiptParseError`` with a one-line
reason, never another exception; JSON payloads are read strictly (``ingest.strict_json``: no
NaN or Infinity, no number past a float, nesting at most 32 deep).

What each format carries is in the docstring of its module (``smpp``, ``twilio``, ``infobip``,
``vonage``) and of its ``render_*`` function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from dlrw.ingest.adapters._common import REDACTED, ReceiptParseError
from dlrw.ingest.adapters.infobip import parse_infobip_reports, render_infobip_report
from dlrw.ingest.adapters.smpp import parse_smpp_receipt, render_smpp_receipt
from dlrw.ingest.adapters.twilio import parse_twilio_callback, render_twilio_callback
from dlrw.ingest.adapters.vonage import parse_vonage_receipt, render_vonage_receipt
from dlrw.models.events import DeliveryReceipt

__all__ = ["PROVIDERS", "REDACTED", "ReceiptParseError", "parse_receipts", "render_receipt"]

PROVIDERS = ("smpp", "twilio", "infobip", "vonage")

_T = TypeVar("_T")
_Parser = Callable[[str, datetime], list[DeliveryReceipt]]


def _one(parse: Callable[[str, datetime], DeliveryReceipt]) -> _Parser:
    return lambda payload, received_at: [parse(payload, received_at)]


_PARSERS: dict[str, _Parser] = {
    "smpp": _one(parse_smpp_receipt),
    "twilio": _one(parse_twilio_callback),
    "infobip": parse_infobip_reports,
    "vonage": _one(parse_vonage_receipt),
}
_RENDERERS: dict[str, Callable[[DeliveryReceipt], str]] = {
    "smpp": render_smpp_receipt,
    "twilio": render_twilio_callback,
    "infobip": render_infobip_report,
    "vonage": render_vonage_receipt,
}


def _provider_entry(table: dict[str, _T], provider: str) -> _T:
    try:
        return table[provider]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
        ) from None


def parse_receipts(
    provider: str, payload: str, received_at: datetime | None = None
) -> list[DeliveryReceipt]:
    """The canonical receipts in one ``provider`` payload (one line of a sample file).

    SMPP, Twilio and Vonage payloads hold one receipt, an Infobip document one per report.
    ``received_at`` (default: now) is taken as UTC when naive and cut to milliseconds, as the
    store keeps it. Raises ``ReceiptParseError`` with a short reason for a malformed or
    impossible payload, and ValueError for an unknown provider.
    """
    parse = _provider_entry(_PARSERS, provider)
    if received_at is None:
        received_at = datetime.now(UTC)
    elif received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    else:
        received_at = received_at.astimezone(UTC)
    received_at = received_at.replace(microsecond=received_at.microsecond // 1000 * 1000)
    return parse(payload, received_at)


def render_receipt(provider: str, receipt: DeliveryReceipt) -> str:
    """``receipt`` as ``provider``'s payload, the inverse of ``parse_receipts``.

    ``parse_receipts(provider, render_receipt(provider, r), r.received_at)`` gives one receipt
    equal to ``r`` in every field the format carries, with ``raw`` = the rendered payload and
    ``event_id`` derived from it. ``r.event_id``, ``r.raw`` and ``r.received_at`` are not
    written (they are derived or our own clock), nor are fields the format cannot carry.
    To publish a consistent receipt, publish the parsed one. Field by field:

    - smpp: status (all), provider_message_id and error_code without whitespace (None ↔
      ``err:000``), segments_submitted / segments_delivered, submitted_at / done_at at
      second precision (12-digit dates). No message_id, mcc_mnc, price, currency.
    - twilio: status except EXPIRED / UNKNOWN, provider_message_id, error_code, done_at at
      minute precision (seconds = 0). No message_id, mcc_mnc, submitted_at, segments, price.
    - infobip: status except ACCEPTED / DELETED / UNKNOWN, provider_message_id, message_id,
      error_code (None, a decimal without leading zeros, or a name), mcc_mnc, submitted_at /
      done_at at millisecond precision, segments_submitted, price with its currency.
      No segments_delivered.
    - vonage: status except DELETED, provider_message_id, message_id, error_code (None ↔ "0"),
      mcc_mnc, done_at at minute precision (seconds = 0), price at 8 decimals with currency
      EUR. No submitted_at, segments.

    Raises ValueError for a status the provider cannot express (and, for Vonage, a currency
    other than EUR), or an unknown provider.
    """
    return _provider_entry(_RENDERERS, provider)(receipt)
