"""One batch of Kafka records turned into what gets written: store segments, one Arrow table per
raw table, and dead letters. No I/O happens here, so the whole transform is testable on its own.

This is the hot path. Each event type's records are decoded a column at a time straight into
Arrow (``columnar``) and screened a column at a time (``screen``); the few records either leaves
out — bad ones, older schema versions, rows the screen flags — are decoded and checked one at a
time by ``models.wire.decode`` and ``models.events.event_problem``, which word every dead
letter's reason. The store reuses each record's Avro body as it arrived instead of re-encoding it.

A topic may hold both framings (``models.wire``). The schema ids of registry-framed records are
looked up once each (``ingest.kafka.registry_client.SchemaIds``); a batch of single-object
records never asks a registry.
"""

from __future__ import annotations

import bisect
import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dlrw.ingest.pipeline.columnar import PADDING, ColumnarBatch, decode_columns
from dlrw.ingest.pipeline.records import PartitionRecords, SourceRecord
from dlrw.ingest.pipeline.screen import suspects
from dlrw.ingest.store.schema import QUARANTINE_KIND, store_schema
from dlrw.ingest.store.segments import encode_int, encode_long, encode_string, segment_path
from dlrw.ingest.warehouse.tables import LINEAGE_COLUMNS, QUARANTINE, RAW_TABLES, arrow_schema
from dlrw.models.events import event_problem
from dlrw.models.wire import (
    HEADER_SIZE,
    REGISTRY_HEADER_SIZE,
    REGISTRY_MAGIC,
    SchemaLookup,
    SchemaVersion,
    UndecodableRecord,
    decode,
    registry,
)

__all__ = ["DeadLetter", "PreparedBatch", "StagedSegment", "prepare_batch"]

# The field whose date partitions the store, by event type.
EVENT_DATE_FIELD = {"send": "submitted_at", "receipt": "received_at", "conversion": "occurred_at"}

_ARROW = {kind: arrow_schema(table) for kind, table in RAW_TABLES.items()}
# The event's own columns: what decoding gives, before the lineage is added.
_EVENT_ARROW = {
    kind: pa.schema([f for f in schema if f.name not in LINEAGE_COLUMNS])
    for kind, schema in _ARROW.items()
}
_QUARANTINE_ARROW = arrow_schema(QUARANTINE)
_DAY_MS = 86_400_000
_VARINT_MAX = 10
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be ingested, and why; it goes to the dead-letter topic and
    ``raw_quarantine``."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    error_class: str
    reason: str


@dataclass(frozen=True, slots=True)
class StagedSegment:
    """One store segment to write: its path, kind and records in Avro binary form."""

    path: Path
    kind: str
    bodies: list[bytes]


@dataclass
class PreparedBatch:
    """Everything one batch writes, and what it counts."""

    segments: list[StagedSegment] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    # The newest event time (its EVENT_DATE_FIELD) per event type, epoch milliseconds.
    newest_ms: dict[str, int] = field(default_factory=dict)


def prepare_batch(
    partitions: Sequence[PartitionRecords],
    topic_kinds: Mapping[str, str],
    store_dir: Path,
    ingested_at: datetime,
    now: datetime | None = None,
    *,
    schema_ids: SchemaLookup,
    columnar: bool = True,
) -> PreparedBatch:
    """Decode, check and lay out a batch.

    ``partitions`` hold each topic partition's records once; ``topic_kinds`` maps a topic to the
    event type it carries. ``ingested_at`` (UTC, whole milliseconds) stamps every row and store
    record of the batch. ``schema_ids`` names the schema of a registry-framed record's id (ingest
    asks the registry DLRW_SCHEMA_REGISTRY_URL names, on the first such record). Without
    ``columnar`` every record is decoded on its own with fastavro (``dlrw ingest --exact``).
    """
    now = now or datetime.now(UTC)
    lookup = schema_ids
    batch = PreparedBatch()
    by_kind: dict[str, list[PartitionRecords]] = defaultdict(list)
    for part in partitions:
        if len(part):
            by_kind[topic_kinds[part.topic]].append(part)
    for kind, parts in by_kind.items():
        _prepare_kind(batch, kind, parts, store_dir, ingested_at, now, lookup, columnar)
    if batch.dead_letters:
        batch.tables[QUARANTINE.name] = _quarantine_table(batch.dead_letters, ingested_at)
        batch.segments += _quarantine_segments(store_dir, batch.dead_letters, ingested_at)
    return batch


def _prepare_kind(
    batch: PreparedBatch,
    kind: str,
    partitions: list[PartitionRecords],
    store_dir: Path,
    ingested_at: datetime,
    now: datetime,
    lookup: SchemaLookup,
    columnar: bool,
) -> None:
    """Decode the records of one event type: whole columns at once where the columnar decoder
    and the screen pass them, one record at a time for the rest (and for every bad record)."""
    joined = _Joined.of(partitions)
    decoded = _decode_columns(joined, kind, lookup, columnar)
    passed, suspect = _screen(kind, decoded, now)
    exact, bodies = _decode_exact(
        joined, kind, np.union1d(decoded.slow, suspect), now, lookup, batch.dead_letters
    )
    if passed is None and exact is None:
        return
    rows = _in_record_order(passed, exact)
    rows = _with_lineage(joined, kind, rows, ingested_at)
    rows = _storable(joined, rows, batch.dead_letters)
    millis = rows.table[EVENT_DATE_FIELD[kind]].cast(pa.int64()).to_numpy()
    _count(batch, kind, rows.table, millis)
    batch.segments += _segments(
        joined, kind, rows, millis // _DAY_MS, bodies, store_dir, ingested_at
    )


@dataclass(frozen=True, slots=True)
class _Joined:
    """One event type's partitions of a batch as one run of records, numbered from 0 in
    partition order: their buffers joined, each value's span in it, and each record's
    partition (its position in ``partitions``) and offset."""

    partitions: list[PartitionRecords]
    starts: list[int]  # the number of each partition's first record, then the total
    buffer: bytes
    value_start: np.ndarray
    value_size: np.ndarray  # a null value's is 0
    framed: np.ndarray  # registry-framed values (the others are single-object encoded)
    part_of: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, partitions: list[PartitionRecords]) -> _Joined:
        sizes = [len(part) for part in partitions]
        # Each partition's values move by the bytes of the buffers before its own.
        shifts = np.cumsum([0, *(len(part.buffer) for part in partitions)])
        buffer = b"".join([*(part.buffer for part in partitions), bytes(PADDING)])
        value_start = np.concatenate(
            [
                part.value_start + shift
                for part, shift in zip(partitions, shifts[:-1].tolist(), strict=True)
            ]
        )
        value_size = np.maximum(np.concatenate([part.value_size for part in partitions]), 0)
        first_byte = np.frombuffer(buffer, dtype=np.uint8)[value_start]
        return cls(
            partitions,
            np.cumsum([0, *sizes]).tolist(),
            buffer,
            value_start,
            value_size,
            (first_byte == REGISTRY_MAGIC[0]) & (value_size >= REGISTRY_HEADER_SIZE),
            np.repeat(np.arange(len(partitions)), sizes),
            np.concatenate([part.offsets for part in partitions]),
        )

    def record(self, i: int) -> SourceRecord:
        part = bisect.bisect_right(self.starts, i) - 1
        return self.partitions[part].record(i - self.starts[part])


@dataclass(frozen=True, slots=True)
class _Rows:
    """Decoded rows, one per record: ``index`` holds each row's record number."""

    index: np.ndarray
    table: pa.Table


def _decode_columns(
    joined: _Joined, kind: str, lookup: SchemaLookup, columnar: bool
) -> ColumnarBatch:
    """The records the columnar decoder reads, and the others; without ``columnar``, every
    record is left to the exact decoder."""
    if not columnar:
        every = np.arange(len(joined.value_size), dtype=np.int64)
        return ColumnarBatch(pa.table({}), every[:0], every)
    starts = joined.value_start[joined.framed]
    newest_ids = _newest_ids(joined.buffer, starts, registry().latest[kind], lookup)
    return decode_columns(joined.buffer, joined.value_start, joined.value_size, kind, newest_ids)


def _screen(kind: str, decoded: ColumnarBatch, now: datetime) -> tuple[_Rows | None, np.ndarray]:
    """The columnar rows the screen passes, and the record numbers of those it flags: the
    exact decoder words their dead letters, or passes them after all."""
    if not len(decoded.fast):
        return None, decoded.fast
    suspect = suspects(kind, decoded.table, now)
    passed = decoded.table.filter(pa.array(~suspect)) if suspect.any() else decoded.table
    table = pa.Table.from_arrays(passed.columns, schema=_EVENT_ARROW[kind])
    return _Rows(decoded.fast[~suspect], table), decoded.fast[suspect]


def _decode_exact(
    joined: _Joined,
    kind: str,
    numbers: np.ndarray,
    now: datetime,
    lookup: SchemaLookup,
    dead_letters: list[DeadLetter],
) -> tuple[_Rows | None, dict[int, bytes]]:
    """The records ``numbers`` decoded and checked one at a time, each bad one a dead letter;
    and the store bodies of rows re-encoded from an older schema version, by record number."""
    bodies: dict[int, bytes] = {}
    rows: list[dict[str, Any]] = []
    index: list[int] = []
    for i in numbers.tolist():
        outcome = _decode_one(joined.record(i), kind, now, lookup)
        if isinstance(outcome, DeadLetter):
            dead_letters.append(outcome)
            continue
        row, body = outcome
        rows.append(row)
        index.append(i)
        if body is not None:
            bodies[i] = body
    if not rows:
        return None, bodies
    table = pa.Table.from_pylist(rows, schema=_EVENT_ARROW[kind])
    return _Rows(np.array(index, dtype=np.int64), table), bodies


def _in_record_order(*parts: _Rows | None) -> _Rows:
    """Rows from both decoders as one table, in record order."""
    present = [part for part in parts if part is not None]
    if len(present) == 1:
        return present[0]
    index = np.concatenate([part.index for part in present])
    order = np.argsort(index, kind="stable")
    table = pa.concat_tables([part.table for part in present]).take(pa.array(order))
    return _Rows(index[order], table)


def _with_lineage(joined: _Joined, kind: str, rows: _Rows, ingested_at: datetime) -> _Rows:
    """The rows with the lineage columns added: topic, partition, offset and ingest time."""
    part_of = joined.part_of[rows.index]
    partitions = joined.partitions
    lineage = [
        pa.array([part.topic for part in partitions], pa.string()).take(pa.array(part_of)),
        pa.array(np.array([part.partition for part in partitions], np.int32)[part_of]),
        pa.array(joined.offsets[rows.index]),
        pa.array(np.full(len(rows.index), _millis(ingested_at), np.int64), pa.timestamp("ms")),
    ]
    table = pa.Table.from_arrays([*rows.table.columns, *lineage], schema=_ARROW[kind])
    return _Rows(rows.index, table)


def _storable(joined: _Joined, rows: _Rows, dead_letters: list[DeadLetter]) -> _Rows:
    """The rows the warehouse can store; each other one a dead letter."""
    keep = ~_unstorable_text(rows.table)
    if keep.all():
        return rows
    for i in rows.index[~keep].tolist():
        dead_letters.append(
            _dead(
                joined.record(i),
                "InvalidEvent",
                "text contains a NUL character, which the warehouse cannot store",
            )
        )
    return _Rows(rows.index[keep], rows.table.filter(pa.array(keep)))


def _count(batch: PreparedBatch, kind: str, table: pa.Table, millis: np.ndarray) -> None:
    """Hand the batch a kind's raw table, its row count and its newest event time (``millis``:
    each row's, epoch milliseconds)."""
    batch.tables[RAW_TABLES[kind].name] = table
    batch.events[kind] += table.num_rows
    if len(millis):
        batch.newest_ms[kind] = int(millis.max())


def _segments(
    joined: _Joined,
    kind: str,
    rows: _Rows,
    days: np.ndarray,
    bodies: dict[int, bytes],
    store_dir: Path,
    ingested_at: datetime,
) -> list[StagedSegment]:
    """The rows' store records, one segment per partition and event day (``days``: each row's,
    since the epoch), each in offset order: a record's body as it arrived (or re-encoded:
    ``bodies``), then its lineage."""
    index = rows.index
    part_of, offsets = joined.part_of[index], joined.offsets[index]
    suffix = encode_long(_millis(ingested_at))
    value_end = joined.value_start + joined.value_size
    body_start = joined.value_start + np.where(joined.framed, REGISTRY_HEADER_SIZE, HEADER_SIZE)
    segments = []
    for (part, day), group in _groups(part_of, days).items():
        source = joined.partitions[part]
        prefix = encode_string(source.topic) + encode_int(source.partition)
        path = segment_path(
            store_dir,
            kind,
            _EPOCH + timedelta(days=day),
            source.topic,
            source.partition,
            int(offsets[group[0]]),
            int(offsets[group[-1]]),
        )
        blob, width, tails = _lineage_bytes(prefix, offsets[group], suffix)
        picked = index[group]
        stored = [
            (bodies.get(i) or joined.buffer[begin:end]) + blob[at : at + tail]
            for i, begin, end, at, tail in zip(
                picked.tolist(),
                body_start[picked].tolist(),
                value_end[picked].tolist(),
                range(0, len(blob), width),
                tails.tolist(),
                strict=True,
            )
        ]
        segments.append(StagedSegment(path, kind, stored))
    return segments


def _newest_ids(
    buffer: bytes, starts: np.ndarray, newest: SchemaVersion, lookup: SchemaLookup
) -> list[int]:
    """Which of the schema ids that registry-framed records at ``starts`` carry name ``newest``.
    Each distinct id is looked up here, before any record is decoded: a registry that cannot be
    reached stops the batch (``RegistryUnavailable``) rather than making its records dead."""
    if not len(starts):
        return []
    head = np.frombuffer(buffer, dtype=np.uint8)[starts[:, None] + np.arange(1, 5)]
    ids = np.unique(np.ascontiguousarray(head).view(">u4").reshape(-1)).tolist()
    return [i for i in ids if _names(lookup, i, newest)]


def _names(lookup: SchemaLookup, schema_id: int, schema: SchemaVersion) -> bool:
    try:
        return lookup(schema_id) is schema
    except UndecodableRecord:  # its records are dead letters, with the reason
        return False


def _groups(part_of: np.ndarray, days: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Row positions by (partition, event day), each in row order."""
    keys = part_of.astype(np.int64) * 1_000_000 + days
    unique, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
    return {
        (int(key) // 1_000_000, int(key) % 1_000_000): order[bounds[g] : bounds[g + 1]]
        for g, key in enumerate(unique.tolist())
    }


def _lineage_bytes(
    prefix: bytes, offsets: np.ndarray, suffix: bytes
) -> tuple[bytes, int, np.ndarray]:
    """Each offset's store-record tail (``prefix``, the offset as an Avro long, ``suffix``) laid
    out ``width`` bytes apart in one buffer, and each tail's length: the offsets are encoded
    together rather than one Python call each."""
    n, head = len(offsets), len(prefix)
    width = head + _VARINT_MAX + len(suffix)
    out = np.zeros((n, width), dtype=np.uint8)
    out[:, :head] = np.frombuffer(prefix, dtype=np.uint8)
    rest = offsets.astype(np.uint64) << np.uint64(1)  # zig-zag of a non-negative offset
    size = np.zeros(n, dtype=np.int64)
    for k in range(_VARINT_MAX):
        more = rest > 0x7F
        out[:, head + k] = np.where(more, (rest & 0x7F) | 0x80, rest & 0x7F)
        size += (rest > 0) | (k == 0)
        rest >>= np.uint64(7)
        if not more.any():
            break
    rows = np.arange(n)[:, None]
    out[rows, head + size[:, None] + np.arange(len(suffix))] = np.frombuffer(suffix, np.uint8)
    return out.tobytes(), width, head + size + len(suffix)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _decode_one(
    rec: Any, kind: str, now: datetime, lookup: SchemaLookup
) -> DeadLetter | tuple[dict[str, Any], bytes | None]:
    """One record decoded and checked exactly: its row and, when an older schema version wrote
    it, its body re-encoded in the newest (else None: the body as it arrived); or why not."""
    value = rec.value
    problem: str | None
    try:
        if value is None:
            raise UndecodableRecord("no value (a tombstone)")
        writer, row = decode(value, lookup)
        if writer.event_type != kind:
            problem = f"a {writer.event_type} record on the {kind} topic {rec.topic}"
        else:
            problem = event_problem(kind, row, now)
    except UndecodableRecord as exc:
        return _dead(rec, type(exc).__name__, str(exc))
    except Exception as exc:  # a check tripping on a strange value: still a bad record
        return _dead(rec, "InvalidEvent", f"{type(exc).__name__}: {exc}")
    if problem:
        return _dead(rec, "InvalidEvent", problem)
    latest = registry().latest[kind]
    return row, None if writer is latest else _encode(latest.parsed, row)


def _dead(rec: Any, error_class: str, reason: str) -> DeadLetter:
    return DeadLetter(
        rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value, error_class, reason
    )


def _encode(parsed_schema: Any, row: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema, row)
    return buffer.getvalue()


def _unstorable_text(table: pa.Table) -> np.ndarray:
    """Rows with a NUL character in any text: valid Avro, but PostgreSQL text cannot hold it,
    and both warehouses must hold the same rows. A column whose character data holds no zero
    byte at all (nearly always) needs no search."""
    bad = np.zeros(table.num_rows, dtype=bool)
    for index, column_field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_string(column_field.type) and not all(map(_no_zero_byte, column.chunks)):
            hits = pc.match_substring(column, "\x00")
            bad |= pc.fill_null(hits, False).to_numpy(zero_copy_only=False)
    return bad


def _no_zero_byte(chunk: pa.Array) -> bool:
    data = chunk.buffers()[2]
    return data is None or bool(np.frombuffer(data, dtype=np.uint8).all())


def _quarantine_rows(dead: Sequence[DeadLetter], ingested_at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "_topic": d.topic,
            "_partition": d.partition,
            "_offset": d.offset,
            "_ingested_at": ingested_at,
            "key": d.key,
            "payload": d.value or b"",
            "error_class": d.error_class,
            "reason": d.reason,
        }
        for d in dead
    ]


def _quarantine_table(dead: Sequence[DeadLetter], ingested_at: datetime) -> pa.Table:
    return pa.Table.from_pylist(_quarantine_rows(dead, ingested_at), schema=_QUARANTINE_ARROW)


def _quarantine_segments(
    store_dir: Path, dead: Sequence[DeadLetter], ingested_at: datetime
) -> list[StagedSegment]:
    """Quarantined records are stored too, so a rebuild restores ``raw_quarantine``; they are
    dated by their Kafka timestamp, as they may have no readable event time."""
    _, parsed = store_schema(QUARANTINE_KIND)
    groups: dict[tuple[str, int, date], list[tuple[int, bytes]]] = defaultdict(list)
    for d, row in zip(dead, _quarantine_rows(dead, ingested_at), strict=True):
        day = (
            datetime.fromtimestamp(d.timestamp / 1000, UTC).date()
            if d.timestamp is not None and d.timestamp >= 0
            else ingested_at.date()
        )
        groups[(d.topic, d.partition, day)].append((d.offset, _encode(parsed, row)))
    staged = []
    for (topic, partition, day), items in groups.items():
        items.sort()
        path = segment_path(
            store_dir, QUARANTINE_KIND, day, topic, partition, items[0][0], items[-1][0]
        )
        staged.append(StagedSegment(path, QUARANTINE_KIND, [body for _, body in items]))
    return staged
