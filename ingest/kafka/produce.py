"""`dlrw produce`: canonical events from JSON lines, validated one by one, then published.

A line is one event as JSON with ``"type"`` of send, receipt or conversion and ISO-8601
timestamps. A send may carry a raw E.164 ``destination`` instead of ``destination_hash``; it is
hashed here, and no message ever shows it (or a ``sender_id``, which may be a number) unmasked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastavro.validation import ValidationError, ValidationErrorData, validate

from ingest import strict_json
from ingest.errors import ServiceUnavailable
from ingest.kafka.pii import InvalidDestination, hash_destination, mask_number
from ingest.kafka.producer import EventPublisher, PublishFailed
from models.events import EVENT_TYPES, Event, InvalidEvent
from models.wire import writer_schema

__all__ = ["ProduceReport", "event_from_line", "produce_lines"]

# Fields that may hold a phone number, as text or as a JSON number: masked in every reason.
_NUMBER_FIELDS = ("destination", "sender_id")
# No phone number is shorter (E.164: at least 7 digits); masking shorter values mangles reasons.
_SHORTEST_NUMBER = 7


@dataclass
class ProduceReport:
    """What ``produce_lines`` did: events published by type, and the bad lines."""

    published: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0


def event_from_line(line: str | bytes, hash_key: bytes) -> Event:
    """One validated event from a JSON line (strict JSON: ``ingest.strict_json``); raises
    ``InvalidEvent`` with a reason safe to show (a destination or sender_id in it is masked)."""
    try:
        text = line.decode("utf-8-sig") if isinstance(line, bytes) else line
        record = strict_json.load(text)
    except UnicodeDecodeError:
        raise InvalidEvent("not UTF-8 text") from None
    except strict_json.JSONRefused as exc:
        raise InvalidEvent(str(exc)) from None
    if not isinstance(record, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(record).__name__}")
    try:
        return _event_from_record(record, hash_key)
    except InvalidEvent as exc:
        raise InvalidEvent(_masked(str(exc), record)) from None


def _masked(message: str, record: dict[str, Any]) -> str:
    for name in _NUMBER_FIELDS:
        value = record.get(name)
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if len(text) >= _SHORTEST_NUMBER:
            message = message.replace(text, mask_number(text))
    return message


def produce_lines(
    lines: Iterable[str | bytes],
    publisher: EventPublisher,
    hash_key: bytes,
    on_bad_line: Callable[[int, str], None],
    on_line: Callable[[], None] = lambda: None,
    skip_lines: int = 0,
) -> ProduceReport:
    """Publish every valid line after the first ``skip_lines``, report each invalid one (line
    number, reason) and skip it; blank lines are ignored. Returns once Kafka has acknowledged
    every published event. If Kafka does not acknowledge one (``ServiceUnavailable``) or Ctrl-C
    stops it (``KeyboardInterrupt``), the error names the last line up to which every event is
    stored, and the ``--skip-lines`` that publishes exactly the rest."""
    report = ProduceReport()
    handled = skip_lines  # every line up to here is published or needs no publishing
    try:
        for number, line in enumerate(lines, start=1):
            on_line()
            if number <= skip_lines:
                continue
            if line.strip():
                try:
                    event = event_from_line(line, hash_key)
                except InvalidEvent as exc:
                    report.bad_lines += 1
                    on_bad_line(number, str(exc))
                else:
                    publisher.publish(event, tag=number)
                    report.published[event.event_type] += 1
            handled = number
        publisher.flush()
    except PublishFailed as exc:
        raise ServiceUnavailable(
            f"Kafka did not acknowledge line {exc.tag} ({exc.reason}): {_stored(exc.tag - 1)}"
        ) from exc
    except KeyboardInterrupt:
        first = publisher.first_unacknowledged()
        raise KeyboardInterrupt(_stored(handled if first is None else first - 1)) from None
    return report


def _stored(last: int) -> str:
    """Which lines are stored, and how to publish exactly the others."""
    if last == 0:
        return "no line is stored; rerun with the whole file"
    return f"lines 1-{last} are stored; rerun with --skip-lines {last}"


def _event_from_record(record: dict[str, Any], hash_key: bytes) -> Event:
    event_type = record.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        expected = ", ".join(EVENT_TYPES)
        raise InvalidEvent(f"type: expected one of {expected}, got {event_type!r}")
    if "destination" in record and event_type == "send":
        record = dict(record)
        destination = record.pop("destination")
        if "destination_hash" in record:
            raise InvalidEvent("give destination or destination_hash, not both")
        if not isinstance(destination, str):
            raise InvalidEvent("destination: must be an E.164 string ('+' and digits)")
        try:
            record["destination_hash"] = hash_destination(destination, hash_key)
        except InvalidDestination as exc:
            raise InvalidEvent(str(exc)) from None
    event = EVENT_TYPES[event_type].from_dict(record)
    _check_types(event)
    problem = event.problem()
    if problem:
        raise InvalidEvent(problem)
    return event


def _check_types(event: Event) -> None:
    """Wrong JSON types (e.g. ``"segments": "2"``) as a readable reason, before encoding."""
    try:
        validate(event.to_dict(), writer_schema(event.event_type).parsed, raise_errors=True)
    except ValidationError as exc:
        errors = [e for e in exc.errors if isinstance(e, ValidationErrorData)]
        if not errors:
            raise InvalidEvent(str(exc)) from None
        # One entry per branch of a union: name them all ("expected double or null").
        field_path = errors[0].field or ""
        expected = " or ".join(
            dict.fromkeys(str(e.schema) for e in errors if e.field == field_path)
        )
        name = field_path.rsplit(".", 1)[-1]
        got = type(errors[0].datum).__name__
        raise InvalidEvent(f"{name}: expected {expected}, got {got} {errors[0].datum!r}") from None
