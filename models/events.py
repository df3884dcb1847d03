"""Canonical event types. Domain objects are kept apart from the wire format: ``to_dict`` gives
the Avro-ready record (aware UTC datetimes), ``to_json_dict`` the JSON form (ISO-8601 strings),
and ``from_dict`` takes either."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

from dlrw.models.status import Status

__all__ = [
    "AMOUNT_FIELDS",
    "EARLIEST_TIME",
    "EVENT_TYPES",
    "FUTURE_SLACK",
    "MAX_AMOUNT",
    "MAX_TEXT_LENGTH",
    "PAYLOAD_FIELDS",
    "ConversionEvent",
    "DeliveryReceipt",
    "Event",
    "InvalidEvent",
    "SendEvent",
    "event_problem",
    "parse_timestamp",
]


class InvalidEvent(ValueError):
    """An event that breaks the contract; the message says which field and why."""


EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# Receipts and sends are "now"-ish; anything a year ahead is a clock or unit error.
FUTURE_SLACK = timedelta(days=366)
# ASCII only, matched whole: \d takes other scripts' digits and $ a final newline.
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC_MNC = re.compile(r"[0-9]{5,6}")
_CURRENCY = re.compile(r"[A-Z]{3}")
# Avro ``int`` fields: a value outside 32 bits cannot be encoded.
_INT32_FIELDS = ("route_tier", "segments", "segments_submitted", "segments_delivered")
# Amounts become DECIMAL(18, 6) in the marts (macro money): 12 integer digits, one kept spare
# because PostgreSQL rounds a double to 15 significant digits before the cast.
MAX_AMOUNT = 1e11
AMOUNT_FIELDS = ("price", "value")
# Text the marts join on or group by; only the provider's raw payload is free text.
MAX_TEXT_LENGTH = 200
PAYLOAD_FIELDS = frozenset({"raw"})


def parse_timestamp(value: Any, field: str = "timestamp") -> datetime:
    """An aware UTC datetime from a datetime, ISO-8601 text or epoch milliseconds."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidEvent(f"{field}: not an ISO-8601 timestamp: {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            ts = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidEvent(f"{field}: epoch milliseconds out of range") from None
    else:
        raise InvalidEvent(f"{field}: expected a timestamp, got {type(value).__name__}")
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        raise InvalidEvent(f"{field}: {ts.isoformat()} is out of range in UTC") from None


def _check_time(record: dict[str, Any], field: str, now: datetime) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, datetime):
        return f"{field}: expected a timestamp"
    if value < EARLIEST_TIME or value > now + FUTURE_SLACK:
        return f"{field}: {value.isoformat()} is outside {EARLIEST_TIME.year}..{now.year + 1}"
    return None


def _required_text(record: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    for field in fields:
        value = record.get(field)
        if not isinstance(value, str) or not value.strip():
            return f"{field}: must be a non-empty string"
    return None


def event_problem(
    event_type: str, record: dict[str, Any], now: datetime | None = None
) -> str | None:
    """Why an Avro-form record is impossible (schema-valid but wrong), or None when it is fine.

    Shared by ``produce`` (reject before publishing) and ``ingest`` (dead-letter after reading).
    """
    now = now or datetime.now(UTC)
    cls = EVENT_TYPES[event_type]
    problem = _required_text(record, cls.required_text)
    if problem:
        return problem
    for field in cls.time_fields:
        problem = _check_time(record, field, now)
        if problem:
            return problem
    for field, text in record.items():
        if isinstance(text, str) and field not in PAYLOAD_FIELDS and len(text) > MAX_TEXT_LENGTH:
            return f"{field}: {len(text)} characters, more than {MAX_TEXT_LENGTH}"
    for field in _INT32_FIELDS:
        count = record.get(field)
        if count is not None and not -(2**31) <= count < 2**31:
            return f"{field}: {count!r} does not fit a 32-bit int"
    mcc_mnc = record.get("mcc_mnc")
    if mcc_mnc is not None and not _MCC_MNC.fullmatch(mcc_mnc):
        return f"mcc_mnc: {mcc_mnc!r} is not 5-6 digits"
    currency = record.get("currency")
    if currency is not None and not _CURRENCY.fullmatch(currency):
        return f"currency: {currency!r} is not an ISO 4217 code"
    for field in AMOUNT_FIELDS:
        amount = record.get(field)
        if amount is not None and amount < 0:
            return f"{field}: {amount!r} is negative"
        if amount is not None and not amount < MAX_AMOUNT:
            return f"{field}: {amount!r} is not a finite amount below {MAX_AMOUNT:g}"
    if event_type == "send":
        if not _COUNTRY.fullmatch(record["country"]):
            return f"country: {record['country']!r} is not an ISO alpha-2 code"
        if record["route_tier"] not in (1, 2, 3, 4):
            return f"route_tier: {record['route_tier']!r} is outside 1-4"
        if record["segments"] < 1:
            return f"segments: {record['segments']!r} is below 1"
    elif event_type == "receipt" and Status(record["status"]).is_final != record["is_final"]:
        return f"is_final: {record['is_final']} contradicts status {record['status']}"
    return None


@dataclass(frozen=True, slots=True)
class Event:
    """Base of the canonical events; subclasses set the class variables."""

    event_type: ClassVar[str]
    schema_name: ClassVar[str]
    topic: ClassVar[str]
    time_fields: ClassVar[tuple[str, ...]]
    required_text: ClassVar[tuple[str, ...]]
    # The fields whose values, joined by ':', make the Kafka record key the contract gives.
    key_fields: ClassVar[tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        """The Avro-ready record: enums as their names, timestamps as aware datetimes."""
        out = {name: getattr(self, name) for name, _ in _LAYOUTS[type(self)].fields}
        for key, value in out.items():
            if isinstance(value, Status):
                out[key] = value.value
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready record: timestamps as ISO-8601 UTC text."""
        out = self.to_dict()
        for field in self.time_fields:
            if out[field] is not None:
                out[field] = out[field].isoformat().replace("+00:00", "Z")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from an Avro or JSON record; unknown keys are an error, missing optionals None."""
        return cls(**cls.avro_record(data))

    @classmethod
    def avro_record(cls, data: dict[str, Any]) -> dict[str, Any]:
        """What ``from_dict(data).to_dict()`` gives, without building the event: unknown keys
        are an error, missing optionals None, timestamps parsed, a status checked."""
        layout = _LAYOUTS[cls]
        keys = data.keys()
        if not keys <= layout.names:
            unknown = ", ".join(sorted(keys - layout.names))
            raise InvalidEvent(f"unknown field(s): {unknown}")
        if not keys >= layout.required:
            absent = layout.required - keys
            missing = next(name for name, _ in layout.fields if name in absent)
            raise InvalidEvent(f"{missing}: missing")
        out = {name: data.get(name, default) for name, default in layout.fields}
        for field in cls.time_fields:
            if out[field] is not None:
                out[field] = parse_timestamp(out[field], field)
        if "status" in out:
            out["status"] = _status(out["status"]).value
        return out

    @classmethod
    def key_of(cls, record: dict[str, Any]) -> bytes:
        """The Kafka record key of an Avro-form record of this type."""
        return ":".join([record[name] for name in cls.key_fields]).encode()

    def key(self) -> bytes:
        """The Kafka record key the contract gives this event's topic."""
        return ":".join([getattr(self, name) for name in self.key_fields]).encode()

    def problem(self, now: datetime | None = None) -> str | None:
        """Why this event breaks the contract, or None."""
        return event_problem(self.event_type, self.to_dict(), now)


@dataclass(frozen=True)
class _Layout:
    """An event class's fields, looked up once: ``dataclasses.fields`` rebuilds its answer on
    every call."""

    # Each field's name and default (``dataclasses.MISSING`` if it has none), in order.
    fields: tuple[tuple[str, Any], ...]
    # The names a record may hold (the fields and ``type``), and those it must.
    names: frozenset[str]
    required: frozenset[str]


def _layout(cls: type[Event]) -> _Layout:
    fields = tuple((f.name, f.default) for f in dataclasses.fields(cls))
    return _Layout(
        fields,
        frozenset(name for name, _ in fields) | {"type"},
        frozenset(name for name, default in fields if default is dataclasses.MISSING),
    )


def _status(value: Any) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise InvalidEvent(f"status: {value!r} is not in the status model") from None


@dataclass(frozen=True, slots=True)
class SendEvent(Event):
    """A message submitted to a provider, with its routing decision."""

    event_type: ClassVar[str] = "send"
    schema_name: ClassVar[str] = "SendEvent"
    topic: ClassVar[str] = "sms.sends"
    time_fields: ClassVar[tuple[str, ...]] = ("submitted_at",)
    required_text: ClassVar[tuple[str, ...]] = (
        "event_id",
        "message_id",
        "provider",
        "destination_hash",
        "country",
        "route_id",
    )
    key_fields: ClassVar[tuple[str, ...]] = ("message_id",)

    event_id: str
    message_id: str
    provider: str
    destination_hash: str
    country: str
    route_id: str
    route_tier: int
    segments: int
    submitted_at: datetime
    provider_message_id: str | None = None
    campaign_id: str | None = None
    sender_id: str | None = None
    mcc_mnc: str | None = None
    encoding: str | None = None
    price: float | None = None
    currency: str | None = None
    template_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt(Event):
    """A provider's delivery report in canonical form."""

    event_type: ClassVar[str] = "receipt"
    schema_name: ClassVar[str] = "DeliveryReceipt"
    topic: ClassVar[str] = "sms.receipts"
    time_fields: ClassVar[tuple[str, ...]] = ("submitted_at", "done_at", "received_at")
    required_text: ClassVar[tuple[str, ...]] = ("event_id", "provider", "provider_message_id")
    key_fields: ClassVar[tuple[str, ...]] = ("provider", "provider_message_id")

    event_id: str
    provider: str
    provider_message_id: str
    status: Status
    is_final: bool
    received_at: datetime
    raw: str
    message_id: str | None = None
    error_code: str | None = None
    mcc_mnc: str | None = None
    submitted_at: datetime | None = None
    done_at: datetime | None = None
    segments_submitted: int | None = None
    segments_delivered: int | None = None
    price: float | None = None
    currency: str | None = None
    network_error_code: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", _status(self.status))


@dataclass(frozen=True, slots=True)
class ConversionEvent(Event):
    """Something the recipient did after a message."""

    event_type: ClassVar[str] = "conversion"
    schema_name: ClassVar[str] = "ConversionEvent"
    topic: ClassVar[str] = "sms.conversions"
    time_fields: ClassVar[tuple[str, ...]] = ("occurred_at",)
    required_text: ClassVar[tuple[str, ...]] = ("event_id", "message_id", "kind")
    key_fields: ClassVar[tuple[str, ...]] = ("message_id",)

    event_id: str
    message_id: str
    kind: str
    occurred_at: datetime
    value: float | None = None
    currency: str | None = None
    device_os: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    "send": SendEvent,
    "receipt": DeliveryReceipt,
    "conversion": ConversionEvent,
}
# Every event class, once the classes exist.
_LAYOUTS = {cls: _layout(cls) for cls in EVENT_TYPES.values()}
