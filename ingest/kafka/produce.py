"""`dlrw produce`: canonical events from JSON lines, validated one by one, then published.

A line is one event as JSON with ``"type"`` of send, receipt or conversion and ISO-8601
timestamps. A send may carry a raw E.164 ``destination`` instead of ``destination_hash``; it is
hashed here, and no message ever shows it (or a ``sender_id``, which may be a number) unmasked.

The input is read in chunks of whole lines. Worker processes parse, check and encode the chunks,
a core each, while this process publishes their records in line order, so the events of a key
keep their order; an input of one chunk is encoded here, quicker than starting a worker.
"""

from __future__ import annotations

import codecs
import io
import multiprocessing
import os
import select
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, BinaryIO, Self

import msgspec
from fastavro.validation import ValidationError, ValidationErrorData, validate

from dlrw.ingest import strict_json
from dlrw.ingest.errors import DlrwError, ServiceUnavailable
from dlrw.ingest.kafka.pii import InvalidDestination, hash_destination, mask_number
from dlrw.ingest.kafka.producer import EventPublisher, PublishFailed
from dlrw.models.events import EVENT_TYPES, Event, InvalidEvent, event_problem
from dlrw.models.wire import Framing, encode, single_object, writer_schema

__all__ = ["EncodedLines", "ProduceReport", "encode_lines", "event_from_line", "produce_lines"]

# Fields that may hold a phone number, as text or as a JSON number: masked in every reason.
_NUMBER_FIELDS = ("destination", "sender_id")
# No phone number is shorter (E.164: at least 7 digits); masking shorter values mangles reasons.
_SHORTEST_NUMBER = 7
# Input handed to a worker at a time: large enough that handing it over costs little beside
# encoding it, small enough that a pipe's lines are published without waiting for more.
_CHUNK_BYTES = 1 << 20
# Workers at most: a worker takes longer to encode a line than this process takes to publish
# it, so one cannot keep up alone (docs/performance.md).
_WORKERS = 2
# The shape of every good line: an object of strings, numbers, booleans and nulls.
_FLAT_JSON = msgspec.json.Decoder(dict[str, str | int | float | bool | None])
# Avro ``int`` bounds; fastavro's validation refuses an int outside them.
_INT_RANGE = range(-(2**31), 2**31)
_MISSING = object()


@dataclass
class ProduceReport:
    """What ``produce_lines`` did: events published by type, and the bad lines."""

    published: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0


@dataclass(frozen=True)
class EncodedLines:
    """A chunk of lines made ready to publish: ``records`` as (line number, event type, key,
    value), the ``bad`` lines as (line number, reason), and the number of its ``last`` line."""

    last: int
    records: list[tuple[int, str, bytes, bytes]]
    bad: list[tuple[int, str]]


def event_from_line(line: str | bytes, hash_key: bytes) -> Event:
    """One validated event from a JSON line (strict JSON: ``ingest.strict_json``); raises
    ``InvalidEvent`` with a reason safe to show (a destination or sender_id in it is masked)."""
    cls, avro = _checked_record(line, hash_key)
    return cls.from_dict(avro)


def encode_lines(
    data: bytes, first: int, hash_key: bytes, framing: Framing = single_object
) -> EncodedLines:
    """The lines of ``data``, numbered from ``first``, checked and encoded (framed by
    ``framing``): each valid line is a record to publish, each invalid one a bad line with its
    reason; blank lines are neither."""
    records: list[tuple[int, str, bytes, bytes]] = []
    bad: list[tuple[int, str]] = []
    number = first - 1
    for number, line in enumerate(io.BytesIO(data), start=first):
        if not line.strip():
            continue
        try:
            cls, avro = _checked_record(line, hash_key)
        except InvalidEvent as exc:
            bad.append((number, str(exc)))
        else:
            value = encode(cls.event_type, avro, framing=framing)
            records.append((number, cls.event_type, cls.key_of(avro), value))
    return EncodedLines(number, records, bad)


def _checked_record(line: str | bytes, hash_key: bytes) -> tuple[type[Event], dict[str, Any]]:
    """The event type of a line and its Avro-form record, checked against the schema and the
    contract's rules: fastavro's writer is handed only records that pass them. The record is
    never made an ``Event``: publishing needs only its Avro form and key."""
    record = _json_object(line)
    try:
        cls, avro = _avro_record(record, hash_key)
        _check_types(cls.event_type, avro)
        problem = event_problem(cls.event_type, avro)
        if problem:
            raise InvalidEvent(problem)
    except InvalidEvent as exc:
        raise InvalidEvent(_masked(str(exc), record)) from None
    return cls, avro


def _json_object(line: str | bytes) -> dict[str, Any]:
    """The JSON object of a line (after a UTF-8 byte order mark, if any) as ``strict_json``
    reads it; ``InvalidEvent`` with the reason if the line is not one.

    msgspec's reader reads a flat object (every value a string, number, boolean or null) as
    strict_json does (tests/kafka/test_produce_lines.py) at a fraction of its cost
    (docs/performance.md); any other line gets strict_json's verdict and reason."""
    if isinstance(line, bytes):
        line = line.removeprefix(codecs.BOM_UTF8)
    try:
        return _FLAT_JSON.decode(line)
    except msgspec.ValidationError:
        pass  # JSON, but not a flat object, or a number beyond a double
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        _strict_json(line)
        # What strict_json takes and msgspec does not: a lone surrogate ("\ud800"), no UTF-8.
        raise InvalidEvent(f"not JSON: {exc}") from None
    value = _strict_json(line)
    if not isinstance(value, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(value).__name__}")
    return value


def _strict_json(line: str | bytes) -> Any:
    try:
        return strict_json.load(line.decode() if isinstance(line, bytes) else line)
    except UnicodeDecodeError:
        raise InvalidEvent("not UTF-8 text") from None
    except strict_json.JSONRefused as exc:
        raise InvalidEvent(str(exc)) from None


def _masked(message: str, record: dict[str, Any]) -> str:
    for name in _NUMBER_FIELDS:
        value = record.get(name)
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if len(text) >= _SHORTEST_NUMBER:
            message = message.replace(text, mask_number(text))
    return message


def produce_lines(
    source: BinaryIO,
    publisher: EventPublisher,
    hash_key: bytes,
    on_bad_line: Callable[[int, str], None],
    on_lines: Callable[[int], None] = lambda count: None,
    skip_lines: int = 0,
) -> ProduceReport:
    """Publish every valid line of ``source`` after the first ``skip_lines``, report each
    invalid one (line number, reason) and skip it; blank lines are ignored; ``on_lines`` is told
    how many more lines are done. Returns once Kafka has acknowledged every published event. If
    Kafka does not acknowledge one (``ServiceUnavailable``) or Ctrl-C stops it
    (``KeyboardInterrupt``), the error names the last line up to which every event is stored,
    and the ``--skip-lines`` that publishes exactly the rest."""
    report = ProduceReport()
    reader = _LineReader(source, skip_lines)
    handled = skip_lines  # every line up to here is published or needs no publishing
    counted = 0  # lines told to on_lines
    try:
        with _Encoders(hash_key, publisher.framing) as encoders:
            for chunk in encoders.encoded(reader):
                for number, reason in chunk.bad:
                    report.bad_lines += 1
                    on_bad_line(number, reason)
                for number, event_type, key, value in chunk.records:
                    publisher.publish_bytes(event_type, key, value, tag=number)
                    report.published[event_type] += 1
                    handled = number
                handled = chunk.last
                on_lines(handled - counted)
                counted = handled
        on_lines(reader.number - counted)
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


class _LineReader:
    """Chunks of whole lines from a file descriptor, after the first ``skip`` lines; ``ready``
    says whether more input is there to read without waiting (a pipe's may not be yet)."""

    def __init__(self, source: BinaryIO, skip: int) -> None:
        self._fd = source.fileno()
        self._skip = skip
        self._tail = b""
        self.number = 0  # lines read so far
        self.eof = False

    def ready(self) -> bool:
        return not self.eof and bool(select.select([self._fd], [], [], 0)[0])

    def read(self) -> tuple[bytes, int] | None:
        """The next chunk of lines and the number of its first line, waiting for input if
        there is none yet; None at the end of the input."""
        while True:
            chunk = self._read_lines()
            if not chunk:
                return None
            first = self.number + 1
            self.number += chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            if self.number <= self._skip:
                continue
            start = 0
            for _ in range(first, self._skip + 1):
                start = chunk.index(b"\n", start) + 1
            return chunk[start:], max(first, self._skip + 1)

    def _read_lines(self) -> bytes:
        """What can be read now, up to a chunk (at least one whole line, or the rest)."""
        data = bytearray(self._tail)
        whole = False  # whether data holds a whole line
        while not self.eof:
            block = os.read(self._fd, _CHUNK_BYTES)
            self.eof = not block
            data += block
            whole = whole or b"\n" in block
            if whole and (len(data) >= _CHUNK_BYTES or not self.ready()):
                break
        end = len(data) if self.eof else data.rindex(b"\n") + 1
        self._tail = bytes(data[end:])
        return bytes(data[:end])


class _Encoders:
    """Encodes chunks of lines (``encode_lines``) in worker processes, started once the input
    proves longer than a chunk; results come back in input order."""

    def __init__(self, hash_key: bytes, framing: Framing) -> None:
        self._hash_key = hash_key
        self._framing = framing
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        self._sent = 0
        self._received = 0

    def encoded(self, reader: _LineReader) -> Iterator[EncodedLines]:
        """Every chunk of ``reader``'s lines, encoded, in order. A chunk is yielded as soon as it
        is encoded when no more input is there yet, so a pipe's lines are published as they
        come."""
        first = reader.read()
        if first is None:
            return
        if reader.eof:
            yield encode_lines(*first, self._hash_key, self._framing)
            return
        self._start()
        self._send(first)
        while True:
            if self._sent == self._received:  # nothing is being encoded: wait for input
                chunk = reader.read()
                if chunk is None:
                    return
                self._send(chunk)
            self._fill(reader)
            result = self._receive()
            self._fill(reader)  # keep the worker busy while its last chunk is published
            yield result

    def _fill(self, reader: _LineReader) -> None:
        """Hand every idle worker a chunk, as far as there is input without waiting."""
        while self._sent - self._received < len(self._workers) and reader.ready():
            chunk = reader.read()
            if chunk is None:
                return
            self._send(chunk)

    def _start(self) -> None:
        # Spawned, not forked: this process runs a Kafka client's thread.
        context = multiprocessing.get_context("spawn")
        for index in range(min(_WORKERS, len(os.sched_getaffinity(0)))):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(theirs, self._hash_key, self._framing),
                name=f"dlrw-produce-{index}",
                daemon=True,
            )
            process.start()
            theirs.close()
            self._workers.append((process, mine))

    def _send(self, chunk: tuple[bytes, int]) -> None:
        # Each worker holds at most one chunk: a second could fill both ways of its pipe.
        self._workers[self._sent % len(self._workers)][1].send(chunk)
        self._sent += 1

    def _receive(self) -> EncodedLines:
        process, conn = self._workers[self._received % len(self._workers)]
        try:
            result: EncodedLines | DlrwError = conn.recv()
        except EOFError:
            raise RuntimeError(f"{process.name} ended (exit code {process.exitcode})") from None
        self._received += 1
        if isinstance(result, DlrwError):
            raise result
        return result

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process, conn in self._workers:
            conn.close()
            process.terminate()
            process.join()


def _serve(conn: Connection, hash_key: bytes, framing: Framing) -> None:
    """A worker: encodes the chunks it is sent until its parent closes the pipe. A failure the
    user can act on (the schema registry unreachable) goes back to the parent as the result."""
    # Ctrl-C reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while True:
            data, first = conn.recv()
            try:
                result: EncodedLines | DlrwError = encode_lines(data, first, hash_key, framing)
            except DlrwError as exc:
                result = exc
            conn.send(result)
    except (EOFError, OSError):
        return


def _avro_record(record: dict[str, Any], hash_key: bytes) -> tuple[type[Event], dict[str, Any]]:
    """The event type and Avro-form record of a JSON object, a raw destination hashed."""
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
    cls = EVENT_TYPES[event_type]
    return cls, cls.avro_record(record)


def _check_types(event_type: str, record: dict[str, Any]) -> None:
    """Wrong JSON types (e.g. ``"segments": "2"``) as a readable reason, before encoding."""
    if _plainly_valid(event_type, record):
        return
    try:
        validate(record, writer_schema(event_type).parsed, raise_errors=True)
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


def _plainly_valid(event_type: str, record: dict[str, Any]) -> bool:
    """Whether every field holds a value of a Python type that fastavro's validation accepts
    for its schema type (True implies it passes; False leaves the verdict to fastavro): its
    validation costs several times the rest of a line's checks (docs/performance.md)."""
    for name, types, symbols in _field_types(event_type):
        value = record.get(name, _MISSING)
        kind = type(value)
        if kind not in types:
            return False
        if kind is int and value not in _INT_RANGE and float not in types:
            return False
        if symbols and kind is str and value not in symbols:
            return False
    return True


@cache
def _field_types(event_type: str) -> list[tuple[str, frozenset[type], frozenset[str]]]:
    """Per field of the newest schema: the Python types a valid value has, and an enum's
    symbols. A schema type not named here makes every record go through fastavro."""
    plain: dict[str, set[type]] = {
        "null": {type(None)},
        "string": {str},
        "boolean": {bool},
        "int": {int},
        "double": {float, int},
        "long-timestamp-millis": {datetime},
    }
    fields = []
    for spec in writer_schema(event_type).parsed["fields"]:
        branches = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        types: set[type] = set()
        symbols: frozenset[str] = frozenset()
        for branch in branches:
            if isinstance(branch, dict) and branch.get("type") == "enum":
                types.add(str)
                symbols = frozenset(branch["symbols"])
            elif isinstance(branch, dict) and "logicalType" in branch:
                types |= plain.get(f"{branch['type']}-{branch['logicalType']}", set())
            elif isinstance(branch, str):
                types |= plain.get(branch, set())
        fields.append((spec["name"], frozenset(types), symbols))
    return fields
