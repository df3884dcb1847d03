"""Avro single-object encoding (0xC3 0x01, CRC-64-AVRO fingerprint, binary body) over the
versioned schemas in ``models/schemas``. Any reader knows from the first ten bytes which schema
wrote a record; older versions are resolved to the newest one on read. fastavro writes and reads
the bodies; ``single_object`` is the framing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
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
    "UnknownSchema",
    "decode",
    "encode",
    "encode_event",
    "registry",
    "single_object",
    "writer_schema",
]

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
SCHEMA_DIR = Path(str(files("dlrw.models") / "schemas"))


class UndecodableRecord(ValueError):
    """Bytes that are not a single-object-encoded record of a known schema."""


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


class _Registry:
    def __init__(self, directory: Path) -> None:
        by_name = {cls.schema_name: kind for kind, cls in EVENT_TYPES.items()}
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.latest: dict[str, SchemaVersion] = {}
        self.versions: dict[str, list[SchemaVersion]] = {}
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
    """Single-object encode an Avro-form record of ``event_type`` ('send', 'receipt', ...) with
    fastavro's writer; a field the record lacks takes its default. The record is not validated
    here: its producer checks it (``dlrw produce`` checks every line once, as it parses it)."""
    schema = writer_schema(event_type, version)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema.parsed, record)
    return single_object(schema, body.getvalue())


def encode_event(event: Event) -> bytes:
    """Single-object encode a canonical event with the newest schema of its type."""
    return encode(event.event_type, event.to_dict())


def single_object(schema: SchemaVersion, body: bytes) -> bytes:
    """The Avro single-object framing of a binary ``body`` written with ``schema``: the marker,
    then the schema's fingerprint, then the body."""
    return MAGIC + schema.fingerprint + body


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
