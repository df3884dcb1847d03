"""The two framings of an Avro record on dlrw's topics, over the versioned schemas in
``models/schemas``; fastavro writes and reads the bodies, and older versions are resolved to the
newest one on read.

- ``single_object``: the Avro specification's single-object encoding (0xC3 0x01, the schema's
  CRC-64-AVRO fingerprint, the body). Any reader knows the writer schema from the first ten
  bytes, with no registry: dlrw's default.
- ``registry_framed``: the schema registry wire format that Kafka's Avro tools read (0x00, the
  schema's 4-byte big-endian id in a Confluent-compatible registry, the body). The ids belong to
  the registry, so encoding and decoding it take a lookup (``dlrw.ingest.kafka.registry_client``).

The first byte tells the two apart.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
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
    "REGISTRY_HEADER_SIZE",
    "REGISTRY_MAGIC",
    "Framing",
    "IncompatibleSchema",
    "SchemaLookup",
    "SchemaVersion",
    "UndecodableRecord",
    "UnknownSchema",
    "decode",
    "encode",
    "encode_event",
    "registry",
    "registry_framed",
    "single_object",
    "writer_schema",
]

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
REGISTRY_MAGIC = b"\x00"
REGISTRY_HEADER_SIZE = len(REGISTRY_MAGIC) + 4
SCHEMA_DIR = Path(str(files("dlrw.models") / "schemas"))


class UndecodableRecord(ValueError):
    """Bytes that are not a single-object-encoded record of a known schema."""


class UnknownSchema(UndecodableRecord):
    """A well-formed header whose fingerprint (or registry schema id) names no schema known."""


class IncompatibleSchema(UndecodableRecord):
    """A registry schema id whose schema is none of the versions in ``models/schemas``."""


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


# How a record body written with a schema is framed on a topic: ``single_object``, or the registry
# framing with the schema's id (``dlrw.ingest.kafka.registry_client.RegistryFraming``).
Framing = Callable[[SchemaVersion, bytes], bytes]
# The schema a registry id names; raises ``UnknownSchema`` or ``IncompatibleSchema``.
SchemaLookup = Callable[[int], SchemaVersion]


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


def single_object(schema: SchemaVersion, body: bytes) -> bytes:
    """The Avro single-object framing of a binary ``body`` written with ``schema``: the marker,
    then the schema's fingerprint, then the body."""
    return MAGIC + schema.fingerprint + body


def registry_framed(schema_id: int, body: bytes) -> bytes:
    """The schema registry framing of a binary ``body``: a zero byte, then the id its writer
    schema has in the registry (4 bytes, big-endian), then the body."""
    return REGISTRY_MAGIC + schema_id.to_bytes(4, "big") + body


def encode(
    event_type: str,
    record: dict[str, Any],
    version: int | None = None,
    framing: Framing = single_object,
) -> bytes:
    """Encode an Avro-form record of ``event_type`` ('send', 'receipt', ...) with fastavro's
    writer, framed by ``framing``; a field the record lacks takes its default. The record is not
    validated here: its producer checks it (``dlrw produce`` checks every line once, as it parses
    it)."""
    schema = writer_schema(event_type, version)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema.parsed, record)
    return framing(schema, body.getvalue())


def encode_event(event: Event, framing: Framing = single_object) -> bytes:
    """Encode a canonical event with the newest schema of its type, framed by ``framing``."""
    return encode(event.event_type, event.to_dict(), framing=framing)


def decode(
    data: bytes, schema_by_id: SchemaLookup | None = None
) -> tuple[SchemaVersion, dict[str, Any]]:
    """The writer schema and the record (resolved to the newest schema of its type), in either
    framing; ``schema_by_id`` names the writer schema of a registry-framed record.

    Raises ``UnknownSchema`` for an unknown fingerprint or schema id, ``IncompatibleSchema`` for
    an id whose schema is not one of ours, and ``UndecodableRecord`` for anything else that is
    not a valid record.
    """
    writer, start = _writer(data, schema_by_id)
    reader = registry().latest[writer.event_type]
    buf = io.BytesIO(data)
    buf.seek(start)
    try:
        record = fastavro.schemaless_reader(
            buf, writer.parsed, None if reader is writer else reader.parsed
        )
    except Exception as exc:  # fastavro raises many types on corrupt input
        raise UndecodableRecord(
            f"corrupt {writer.name} v{writer.version} body: {type(exc).__name__}: {_plain(exc)}"
        ) from exc
    if buf.tell() != len(data):
        raise UndecodableRecord(
            f"{len(data) - buf.tell()} trailing bytes after a {writer.name} record"
        )
    if not isinstance(record, dict):
        raise UndecodableRecord(f"{writer.name} body did not decode to a record")
    return writer, record


# fastavro names its buffer by repr; an address would make one bad record's reason differ per run.
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")


def _plain(exc: Exception) -> str:
    """The exception's text, with object reprs named alike on every run."""
    return _OBJECT_REPR.sub("the record", str(exc))


def _writer(data: bytes, schema_by_id: SchemaLookup | None) -> tuple[SchemaVersion, int]:
    """The writer schema the header of ``data`` names, and where the body starts."""
    if data[:1] == REGISTRY_MAGIC and len(data) >= REGISTRY_HEADER_SIZE:
        if schema_by_id is None:
            raise UnknownSchema("a schema registry record, and no registry to look its id up in")
        return schema_by_id(int.from_bytes(data[1:REGISTRY_HEADER_SIZE], "big")), (
            REGISTRY_HEADER_SIZE
        )
    if len(data) < HEADER_SIZE or data[:2] != MAGIC:
        raise UndecodableRecord(
            "not Avro single-object encoding (no C3 01 header) nor the schema registry format "
            "(no 00 byte and schema id)"
        )
    writer = registry().by_fingerprint.get(data[2:HEADER_SIZE])
    if writer is None:
        raise UnknownSchema(f"unknown schema fingerprint {data[2:HEADER_SIZE].hex()}")
    return writer, HEADER_SIZE
