"""Avro single-object encoding (0xC3 0x01, CRC-64-AVRO fingerprint, binary body) over the
versioned schemas in ``models/schemas``. Any reader knows from the first ten bytes which schema
wrote a record; older versions are resolved to the newest one on read.

Records are written by an encoder compiled per schema for the types the contract uses (string,
int, double, boolean, enum, timestamp-millis, each alone or in a union with null), byte for
byte what fastavro writes, in half its time; it takes values of exactly those Python types and
refuses any other (``UnencodableRecord``). A schema with another type does not load. fastavro
reads them.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from dlrw.models.events import EVENT_TYPES, Event

__all__ = [
    "MAGIC",
    "SchemaVersion",
    "UndecodableRecord",
    "UnencodableRecord",
    "UnknownSchema",
    "decode",
    "encode",
    "encode_event",
    "registry",
    "writer_schema",
]

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
SCHEMA_DIR = Path(str(files("dlrw.models") / "schemas"))


class UndecodableRecord(ValueError):
    """Bytes that are not a single-object-encoded record of a known schema."""


class UnencodableRecord(ValueError):
    """A record with a value its schema's type cannot hold; the message names the field."""


class UnknownSchema(UndecodableRecord):
    """A well-formed header whose fingerprint matches none of our schemas."""


@dataclass(frozen=True)
class SchemaVersion:
    """One ``.avsc`` file: the record it describes, its version and its fingerprint."""

    event_type: str
    name: str
    version: int
    path: Path
    parsed: Any
    fingerprint: bytes

    @property
    def header(self) -> bytes:
        return MAGIC + self.fingerprint


class _Registry:
    def __init__(self, directory: Path) -> None:
        by_name = {cls.schema_name: kind for kind, cls in EVENT_TYPES.items()}
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.latest: dict[str, SchemaVersion] = {}
        self.versions: dict[str, list[SchemaVersion]] = {}
        self.writers: dict[bytes, tuple[_Field, ...]] = {}  # by fingerprint
        for path in sorted(directory.glob("*.avsc")):
            raw = json.loads(path.read_text())
            parsed = fastavro.parse_schema(raw)
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO"))
            version = SchemaVersion(
                event_type=by_name[raw["name"]],
                name=raw["name"],
                version=int(raw["dlrw.version"]),
                path=path,
                parsed=parsed,
                fingerprint=fp,
            )
            self.by_fingerprint[fp] = version
            self.writers[fp] = _compile(parsed)
            self.versions.setdefault(version.event_type, []).append(version)
        for event_type, versions in self.versions.items():
            versions.sort(key=lambda v: v.version)
            self.latest[event_type] = versions[-1]


@cache
def registry() -> _Registry:
    """The schemas shipped in ``models/schemas``, loaded once."""
    return _Registry(SCHEMA_DIR)


def writer_schema(event_type: str, version: int | None = None) -> SchemaVersion:
    """The schema a producer writes with: the newest, or a given version."""
    reg = registry()
    if version is None:
        return reg.latest[event_type]
    for candidate in reg.versions[event_type]:
        if candidate.version == version:
            return candidate
    raise KeyError(f"no version {version} of the {event_type} schema")


def encode(event_type: str, record: dict[str, Any], version: int | None = None) -> bytes:
    """Single-object encode an Avro-form record of ``event_type`` ('send', 'receipt', ...); a
    field the record lacks takes its default. Raises ``UnencodableRecord`` for a value of
    another Python type than its schema type's (str, int, float or int, bool, an enum symbol,
    an aware datetime; None in a union with null), or beyond its range."""
    schema = writer_schema(event_type, version)
    out = bytearray(schema.header)
    for spec in registry().writers[schema.fingerprint]:
        value = record.get(spec.name, spec.default)
        try:
            _write(out, spec, value)
        except (TypeError, ValueError, OverflowError, KeyError, struct.error):
            raise UnencodableRecord(
                f"{spec.name}: not a value of type {spec.type} ({type(value).__name__})"
            ) from None
    return bytes(out)


def encode_event(event: Event) -> bytes:
    """Single-object encode a canonical event with the newest schema of its type."""
    return encode(event.event_type, event.to_dict())


# How _write writes a value, by schema type.
_STRING, _INT, _DOUBLE, _BOOLEAN, _ENUM, _TIMESTAMP = range(6)
_KINDS = {"string": _STRING, "int": _INT, "double": _DOUBLE, "boolean": _BOOLEAN}
_TIMESTAMPS = ("long", "timestamp-millis")
_INT_RANGE = range(-(2**31), 2**31)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_DOUBLE_LE = struct.Struct("<d").pack


@dataclass(frozen=True, slots=True)
class _Field:
    """How to write one field of a record: a union with null writes its branch first."""

    name: str
    type: str  # as the schema names it, for messages
    kind: int
    nullable: bool
    default: Any
    symbols: dict[str, int]


def _compile(parsed: Any) -> tuple[_Field, ...]:
    """The fields of a parsed record schema, in writing order; ``ValueError`` for a type the
    encoder does not write."""
    fields = []
    for spec in parsed["fields"]:
        branches = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        nullable = len(branches) == 2 and branches[0] == "null"
        base = branches[-1]
        symbols: dict[str, int] = {}
        if isinstance(base, str) and base in _KINDS:
            kind, name = _KINDS[base], base
        elif isinstance(base, dict) and base.get("type") == "enum" and not nullable:
            kind, name = _ENUM, "enum"
            symbols = {symbol: index for index, symbol in enumerate(base["symbols"])}
        elif isinstance(base, dict) and (base["type"], base.get("logicalType")) == _TIMESTAMPS:
            kind, name = _TIMESTAMP, "timestamp-millis"
        else:
            raise ValueError(f"{parsed['name']}.{spec['name']}: wire does not write {base}")
        if len(branches) != 1 + nullable:
            raise ValueError(f"{parsed['name']}.{spec['name']}: wire does not write {branches}")
        shown = f"null or {name}" if nullable else name
        fields.append(_Field(spec["name"], shown, kind, nullable, spec.get("default"), symbols))
    return tuple(fields)


def _write(out: bytearray, spec: _Field, value: Any) -> None:
    """Append the Avro binary form of ``value``; raises for a value the type cannot hold."""
    if spec.nullable:
        if value is None:
            out.append(0)
            return
        out.append(2)  # branch 1, zig-zag
    kind = spec.kind
    if kind == _STRING:
        if type(value) is not str:
            raise TypeError
        data = value.encode()
        _write_long(out, len(data))
        out += data
    elif kind == _INT:
        if type(value) is not int or value not in _INT_RANGE:
            raise TypeError
        _write_long(out, value)
    elif kind == _DOUBLE:
        if type(value) is not float and type(value) is not int:
            raise TypeError
        out += _DOUBLE_LE(value)
    elif kind == _BOOLEAN:
        if type(value) is not bool:
            raise TypeError
        out.append(value)
    elif kind == _ENUM:
        if type(value) is not str:
            raise TypeError
        _write_long(out, spec.symbols[value])
    elif type(value) is not datetime or value.tzinfo is None:
        raise TypeError  # naive times would depend on the writer's time zone
    else:
        _write_long(out, (value - _EPOCH) // _MILLISECOND)


def _write_long(out: bytearray, value: int) -> None:
    """A 64-bit integer as a zig-zag varint."""
    if not -(2**63) <= value < 2**63:
        raise OverflowError
    value = (value << 1) ^ (value >> 63)
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def decode(data: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
    """The writer schema and the record (resolved to the newest schema of its type).

    Raises ``UnknownSchema`` for an unknown fingerprint and ``UndecodableRecord`` for anything
    else that is not a valid record.
    """
    if len(data) < HEADER_SIZE or data[:2] != MAGIC:
        raise UndecodableRecord("not Avro single-object encoding (no C3 01 header)")
    reg = registry()
    writer = reg.by_fingerprint.get(data[2:HEADER_SIZE])
    if writer is None:
        raise UnknownSchema(f"unknown schema fingerprint {data[2:HEADER_SIZE].hex()}")
    reader = reg.latest[writer.event_type]
    buf = io.BytesIO(data)
    buf.seek(HEADER_SIZE)
    try:
        record = fastavro.schemaless_reader(
            buf, writer.parsed, None if reader is writer else reader.parsed
        )
    except Exception as exc:  # fastavro raises many types on corrupt input
        raise UndecodableRecord(
            f"corrupt {writer.name} v{writer.version} body: {type(exc).__name__}: {exc}"
        ) from exc
    if buf.tell() != len(data):
        raise UndecodableRecord(
            f"{len(data) - buf.tell()} trailing bytes after a {writer.name} record"
        )
    if not isinstance(record, dict):
        raise UndecodableRecord(f"{writer.name} body did not decode to a record")
    return writer, record
