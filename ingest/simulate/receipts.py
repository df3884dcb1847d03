"""Receipts in each provider's own payload format, exactly as the adapters write and read them.

The canonical receipt published with a payload must be what ``parse_receipts`` makes of that
payload, and the payload what the adapters' ``render_receipt`` writes for it. Going through
the adapters for every receipt was most of the simulator's run time (a receipt object to
render, dates formatted by ``strftime``, JSON written, read back and re-sorted for the event
id), so the factory writes each format itself, straight from epoch milliseconds, following the
round-trip contract ``render_receipt`` documents (the fields the format carries, at the
format's time precision; ``raw`` = the payload; ``event_id`` from the payload, for JSON formats
from the report as canonical JSON). A deterministic sample — the first receipt of each
(provider, status, error code) and every n-th one, or every receipt with ``verify=1`` — is
rendered by the adapter and parsed by it, and both must agree exactly, so a change in an
adapter fails loudly instead of drifting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring
from urllib.parse import quote_plus

from dlrw.ingest.adapters import REDACTED, parse_receipts, render_receipt
from dlrw.ingest.adapters.smpp import STAT_NAMES as SMPP_STAT
from dlrw.ingest.adapters.twilio import STATUS_VALUES as TWILIO_STATUS
from dlrw.ingest.adapters.vonage import CURRENCY as VONAGE_CURRENCY
from dlrw.ingest.adapters.vonage import STATUS_VALUES as VONAGE_STATUS
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import INTERMEDIATE_STATUSES, Status

__all__ = ["ReceiptDrift", "ReceiptFactory"]

_MINUTE_MS = 60_000

# Infobip's status object, its keys already in sorted (canonical) order.
_INFOBIP_STATUS = {
    status: f'{{"groupId":{group_id},"groupName":"{group}","id":{status_id},"name":"{name}"}}'
    for status, (group_id, group, status_id, name) in {
        Status.ENROUTE: (1, "PENDING", 7, "PENDING_ENROUTE"),
        Status.UNDELIVERABLE: (2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED"),
        Status.DELIVERED: (3, "DELIVERED", 5, "DELIVERED_TO_HANDSET"),
        Status.EXPIRED: (4, "EXPIRED", 15, "EXPIRED_EXPIRED"),
        Status.REJECTED: (5, "REJECTED", 6, "REJECTED_NETWORK"),
    }.items()
}
_INFOBIP_NO_ERROR = '{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","permanent":false}'
_REDACTED = encode_basestring(REDACTED)


# DeliveryReceipt's fields in order: the builders pass them by position (keywords cost a tenth
# of a receipt), so the order is checked once here.
_RECEIPT_FIELDS = (
    "event_id",
    "provider",
    "provider_message_id",
    "status",
    "is_final",
    "received_at",
    "raw",
    "message_id",
    "error_code",
    "mcc_mnc",
    "submitted_at",
    "done_at",
    "segments_submitted",
    "segments_delivered",
    "price",
    "currency",
    "network_error_code",
)
if tuple(f.name for f in fields(DeliveryReceipt)) != _RECEIPT_FIELDS:
    raise ImportError("DeliveryReceipt's fields changed: update ingest.simulate.receipts")


class ReceiptDrift(RuntimeError):
    """The adapters render or parse a receipt differently from their documented round trip."""


def _datetime(ms: int) -> datetime:
    # Exact: a float's error at today's epoch seconds is far below the microsecond it rounds to.
    return datetime.fromtimestamp(ms / 1000, UTC)


@lru_cache(maxsize=8192)
def _minute_texts(minute: int) -> tuple[str, str]:
    """One UTC minute (since the epoch) as ``YYMMDDhhmm`` and as ``YYYY-MM-DDThh:mm:``."""
    at = datetime.fromtimestamp(minute * 60, UTC)
    return at.strftime("%y%m%d%H%M"), at.strftime("%Y-%m-%dT%H:%M:")


def _short_minute(ms: int) -> str:
    """``YYMMDDhhmm`` (adapters' ``format_short_date`` without seconds)."""
    return _minute_texts(ms // _MINUTE_MS)[0]


def _short_second(ms: int) -> str:
    """``YYMMDDhhmmss`` (adapters' ``format_short_date`` with seconds)."""
    return f"{_minute_texts(ms // _MINUTE_MS)[0]}{ms // 1000 % 60:02d}"


def _infobip_time(ms: int) -> str:
    """JSON string of Infobip's ``2026-01-05T16:00:00.123+0000``."""
    return f'"{_minute_texts(ms // _MINUTE_MS)[1]}{ms // 1000 % 60:02d}.{ms % 1000:03d}+0000"'


def _form(value: str) -> str:
    """``quote_plus(value)``, without the call for the usual letters and digits."""
    return value if value.isascii() and value.isalnum() else quote_plus(value)


def _json_text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _event_id(provider: str, source: str) -> str:
    return hashlib.sha256(f"{provider}\n{source}".encode()).hexdigest()[:32]


def _no_error(code: str | None) -> str | None:
    """Formats that write "no error" as zeros read all-zero codes back as None."""
    return None if code is None or not code.strip("0") else code


class ReceiptFactory:
    """Turns draft receipts into published ones: the payload in the provider's format and the
    receipt the adapter parses from it. Checked against the adapter's own rendering and
    parsing: the first receipt of every (provider, status, error code) — each way a format is
    written — and every ``verify``-th receipt (``verify=1``: all; 0: none at all)."""

    def __init__(self, verify: int = 200) -> None:
        self.verify = verify
        self.built = 0
        self._checked: set[tuple[str, Status, str | None]] = set()
        self._builders: dict[str, Callable[..., DeliveryReceipt]] = {
            "smpp": self._smpp,
            "twilio": self._twilio,
            "infobip": self._infobip,
            "vonage": self._vonage,
        }

    def build(
        self,
        provider: str,
        provider_message_id: str,
        status: Status,
        received_ms: int,
        message_id: str | None,
        error_code: str | None,
        mcc_mnc: str | None,
        submitted_ms: int | None,
        done_ms: int | None,
        segments_submitted: int | None,
        segments_delivered: int | None,
        price: float | None,
        currency: str | None,
    ) -> DeliveryReceipt:
        """The receipt ``parse_receipts`` gives for the payload ``render_receipt`` writes for
        these values (times in epoch milliseconds), received at ``received_ms``. Raises
        ValueError for an unknown provider or a status the provider cannot express."""
        try:
            builder = self._builders[provider]
        except KeyError:
            raise ValueError(f"unknown provider {provider!r}") from None
        receipt = builder(
            provider_message_id,
            status,
            _datetime(received_ms),
            message_id,
            error_code,
            mcc_mnc,
            submitted_ms,
            done_ms,
            segments_submitted,
            segments_delivered,
            price,
            currency,
        )
        self.built += 1
        if self.verify:
            shape = (provider, status, error_code)
            if shape not in self._checked or self.built % self.verify == 1 % self.verify:
                self._checked.add(shape)
                self._check(receipt)
        return receipt

    # One builder per format; each takes build()'s values in its order, received_at as a
    # datetime, and keeps only what its format carries.

    @staticmethod
    def _smpp(
        pmid: str,
        status: Status,
        received_at: datetime,
        _message_id: str | None,
        error_code: str | None,
        _mcc_mnc: str | None,
        submitted_ms: int | None,
        done_ms: int | None,
        segments_submitted: int | None,
        segments_delivered: int | None,
        _price: float | None,
        _currency: str | None,
    ) -> DeliveryReceipt:
        """``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:``, dates at
        second precision."""
        try:
            stat = SMPP_STAT[status]
        except KeyError:
            raise ValueError(f"SMPP has no stat for {status}") from None
        error_code = _no_error(error_code)
        head = f"id:{pmid}"
        if segments_submitted is not None:
            head += f" sub:{segments_submitted:03d}"
        if segments_delivered is not None:
            head += f" dlvrd:{segments_delivered:03d}"
        submitted_at = done_at = None
        if submitted_ms is not None:
            submitted_ms -= submitted_ms % 1000
            submitted_at = _datetime(submitted_ms)
            head += f" submit date:{_short_second(submitted_ms)}"
        if done_ms is not None:
            done_ms -= done_ms % 1000
            done_at = _datetime(done_ms)
            head += f" done date:{_short_second(done_ms)}"
        payload = f"{head} stat:{stat} err:{error_code or '000'} text:"
        return DeliveryReceipt(  # positional: see _RECEIPT_FIELDS
            _event_id("smpp", payload),  # event_id
            "smpp",  # provider
            pmid,  # provider_message_id
            status,  # status
            status not in INTERMEDIATE_STATUSES,  # is_final
            received_at,  # received_at
            payload,  # raw
            None,  # message_id
            error_code,  # error_code
            None,  # mcc_mnc
            submitted_at,  # submitted_at
            done_at,  # done_at
            segments_submitted,  # segments_submitted
            segments_delivered,  # segments_delivered
        )

    @staticmethod
    def _twilio(
        pmid: str,
        status: Status,
        received_at: datetime,
        _message_id: str | None,
        error_code: str | None,
        _mcc_mnc: str | None,
        _submitted_ms: int | None,
        done_ms: int | None,
        _segments_submitted: int | None,
        _segments_delivered: int | None,
        _price: float | None,
        _currency: str | None,
    ) -> DeliveryReceipt:
        """The form-encoded status callback, ``RawDlrDoneDate`` at minute precision."""
        try:
            value = TWILIO_STATUS[status]
        except KeyError:
            raise ValueError(f"Twilio has no status for {status}") from None
        error_code = error_code or None
        sid = _form(pmid)
        payload = (
            f"To={REDACTED}&MessageSid={sid}&MessageStatus={value}&SmsSid={sid}&SmsStatus={value}"
        )
        if error_code is not None:
            payload += f"&ErrorCode={_form(error_code)}"
        done_at = None
        if done_ms is not None:
            done_ms -= done_ms % _MINUTE_MS
            done_at = _datetime(done_ms)
            payload += f"&RawDlrDoneDate={_short_minute(done_ms)}"
        payload += "&ApiVersion=2010-04-01"
        return DeliveryReceipt(  # positional: see _RECEIPT_FIELDS
            _event_id("twilio", payload),  # event_id
            "twilio",  # provider
            pmid,  # provider_message_id
            status,  # status
            status not in INTERMEDIATE_STATUSES,  # is_final
            received_at,  # received_at
            payload,  # raw
            None,  # message_id
            error_code,  # error_code
            None,  # mcc_mnc
            None,  # submitted_at
            done_at,  # done_at
        )

    @staticmethod
    def _infobip(
        pmid: str,
        status: Status,
        received_at: datetime,
        message_id: str | None,
        error_code: str | None,
        mcc_mnc: str | None,
        submitted_ms: int | None,
        done_ms: int | None,
        segments_submitted: int | None,
        _segments_delivered: int | None,
        price: float | None,
        currency: str | None,
    ) -> DeliveryReceipt:
        """``{"results":[report]}``, times at millisecond precision."""
        try:
            status_object = _INFOBIP_STATUS[status]
        except KeyError:
            raise ValueError(f"Infobip has no status for {status}") from None
        is_final = status not in INTERMEDIATE_STATUSES
        error_code = _no_error(error_code)
        if error_code is None:
            error = _INFOBIP_NO_ERROR
        elif error_code.isdigit():
            error = f'{{"id":{int(error_code)},"permanent":{"true" if is_final else "false"}}}'
        else:
            error = (
                f'{{"name":{encode_basestring(error_code)}'
                f',"permanent":{"true" if is_final else "false"}}}'
            )
        message_id, mcc_mnc = message_id or None, mcc_mnc or None
        # The optional members, each with its trailing comma ("" when absent): the payload
        # keeps the adapter's order, the event id reads the report with sorted keys.
        callback = sent = done = count = network = price_member = canonical_price = ""
        if message_id is not None:
            callback = f'"callbackData":{encode_basestring(message_id)},'
        submitted_at = done_at = None
        if submitted_ms is not None:
            submitted_at = _datetime(submitted_ms)
            sent = f'"sentAt":{_infobip_time(submitted_ms)},'
        if done_ms is not None:
            done_at = _datetime(done_ms)
            done = f'"doneAt":{_infobip_time(done_ms)},'
        if segments_submitted is not None:
            count = f'"smsCount":{segments_submitted!r},'
        if mcc_mnc is not None:
            network = f'"mccMnc":{encode_basestring(mcc_mnc)},'
        if price is not None:
            amount, unit = f'"pricePerMessage":{price!r}', f'"currency":{_json_text(currency)}'
            price_member = f'"price":{{{amount},{unit}}},'
            canonical_price = f'"price":{{{unit},{amount}}},'
        else:
            currency = None
        pmid_member = f'"messageId":{encode_basestring(pmid)}'
        error = f'"error":{error}'
        status_member = f'"status":{status_object}'
        payload = (
            f'{{"results":[{{{pmid_member},"to":{_REDACTED},{callback}{sent}{done}{count}'
            f"{network}{price_member}{status_member},{error}}}]}}"
        )
        canonical = (
            f"{{{callback}{done}{error},{network}{pmid_member},{canonical_price}{sent}{count}"
            f'{status_member},"to":{_REDACTED}}}'
        )
        return DeliveryReceipt(  # positional: see _RECEIPT_FIELDS
            _event_id("infobip", canonical),  # event_id
            "infobip",  # provider
            pmid,  # provider_message_id
            status,  # status
            is_final,  # is_final
            received_at,  # received_at
            payload,  # raw
            message_id,  # message_id
            error_code,  # error_code
            mcc_mnc,  # mcc_mnc
            submitted_at,  # submitted_at
            done_at,  # done_at
            segments_submitted,  # segments_submitted
            None,  # segments_delivered
            price,  # price
            currency or None,  # currency
        )

    @staticmethod
    def _vonage(
        pmid: str,
        status: Status,
        received_at: datetime,
        message_id: str | None,
        error_code: str | None,
        mcc_mnc: str | None,
        _submitted_ms: int | None,
        done_ms: int | None,
        _segments_submitted: int | None,
        _segments_delivered: int | None,
        price: float | None,
        currency: str | None,
    ) -> DeliveryReceipt:
        """The JSON receipt: ``scts`` at minute precision, price with 8 decimals in EUR."""
        try:
            value = VONAGE_STATUS[status]
        except KeyError:
            raise ValueError(f"Vonage has no status for {status}") from None
        if price is not None and currency not in (None, VONAGE_CURRENCY):
            raise ValueError(f"Vonage prices are {VONAGE_CURRENCY}, not {currency}")
        error_code = _no_error(error_code)
        message_id, mcc_mnc = message_id or None, mcc_mnc or None
        err = f'"err-code":{encode_basestring(error_code or "0")}'
        pmid_member = f'"messageId":{encode_basestring(pmid)}'
        recipient = f'"msisdn":{_REDACTED}'
        network = "" if mcc_mnc is None else f',"network-code":{encode_basestring(mcc_mnc)}'
        price_member = scts = client_ref = ""
        if price is not None:
            text = f"{price:.8f}"
            price = float(text)
            price_member = f',"price":"{text}"'
        done_at = None
        if done_ms is not None:
            done_ms -= done_ms % _MINUTE_MS
            done_at = _datetime(done_ms)
            scts = f',"scts":"{_short_minute(done_ms)}"'
        status_member = f',"status":"{value}"'
        if message_id is not None:
            client_ref = f'"client-ref":{encode_basestring(message_id)}'
        payload = (
            f"{{{err},{pmid_member},{recipient}{network}{price_member}{scts}{status_member}"
            f"{',' if client_ref else ''}{client_ref}}}"
        )
        canonical = (
            f"{{{client_ref}{',' if client_ref else ''}{err},{pmid_member},{recipient}"
            f"{network}{price_member}{scts}{status_member}}}"
        )
        return DeliveryReceipt(  # positional: see _RECEIPT_FIELDS
            _event_id("vonage", canonical),  # event_id
            "vonage",  # provider
            pmid,  # provider_message_id
            status,  # status
            status not in INTERMEDIATE_STATUSES,  # is_final
            received_at,  # received_at
            payload,  # raw
            message_id,  # message_id
            error_code,  # error_code
            mcc_mnc,  # mcc_mnc
            None,  # submitted_at
            done_at,  # done_at
            None,  # segments_submitted
            None,  # segments_delivered
            price,  # price
            None if price is None else VONAGE_CURRENCY,  # currency
        )

    def _check(self, receipt: DeliveryReceipt) -> None:
        rendered = render_receipt(receipt.provider, receipt)
        parsed = parse_receipts(receipt.provider, receipt.raw, receipt.received_at)
        if rendered == receipt.raw and parsed == [receipt]:
            return
        differ = [
            f.name
            for f in fields(receipt)
            if len(parsed) != 1 or getattr(parsed[0], f.name) != getattr(receipt, f.name)
        ]
        if rendered != receipt.raw:
            differ.append(f"payload (the adapter writes {rendered})")
        raise ReceiptDrift(
            f"the {receipt.provider} adapter renders or parses a receipt differently "
            f"({', '.join(differ)}); payload: {receipt.raw}"
        )
