"""One batch of Kafka records turned into what gets written: store segments, one Arrow table per
raw table, and dead letters. No I/O happens here, so the whole transform is testable on its own.

This is the hot path. Records are decoded once (``models.wire.decode``) and checked once
(``models.events.event_problem``); the decoded dicts feed Arrow directly, without building event
objects, and the store reuses each record's Avro body as it arrived instead of re-encoding it.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.compute as pc

from ingest.store.schema import QUARANTINE_KIND, store_schema
from ingest.store.segments import encode_int, encode_long, encode_string, segment_path
from ingest.warehouse.tables import QUARANTINE, RAW_TABLES, arrow_schema
from models.events import event_problem
from models.wire import HEADER_SIZE, UndecodableRecord, decode, registry

__all__ = ["DeadLetter", "PreparedBatch", "SourceRecord", "StagedSegment", "prepare_batch"]

# The field whose date partitions the store, by event type.
EVENT_DATE_FIELD = {"send": "submitted_at", "receipt": "received_at", "conversion": "occurred_at"}

_ARROW = {kind: arrow_schema(table) for kind, table in RAW_TABLES.items()}
_QUARANTINE_ARROW = arrow_schema(QUARANTINE)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """The parts of a Kafka record the pipeline uses (kafka-python's ``ConsumerRecord`` fits)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None


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
    # The next offset to commit per (topic, partition): one past the last record seen.
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass
class _Good:
    """Decoded events of one type, with what their store records need, row-aligned."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    # (source record, event date, store record body)
    placements: list[tuple[Any, date, bytes]] = field(default_factory=list)


def prepare_batch(
    records_by_partition: Mapping[tuple[str, int], Sequence[Any]],
    topic_kinds: Mapping[str, str],
    store_dir: Path,
    ingested_at: datetime,
    now: datetime | None = None,
) -> PreparedBatch:
    """Decode, check and lay out a batch.

    ``records_by_partition`` maps (topic, partition) to its records in offset order (anything
    with ``SourceRecord``'s attributes); ``topic_kinds`` maps a topic to the event type it carries.
    ``ingested_at`` (UTC, whole milliseconds) stamps every row and store record of the batch.
    """
    now = now or datetime.now(UTC)
    batch = PreparedBatch()
    good: dict[str, _Good] = defaultdict(_Good)
    reg = registry()
    ingested_ms = int(ingested_at.timestamp() * 1000)
    ingested_suffix = encode_long(ingested_ms)
    for (topic, partition), records in records_by_partition.items():
        if not records:
            continue
        batch.next_offsets[(topic, partition)] = records[-1].offset + 1
        kind = topic_kinds[topic]
        latest = reg.latest[kind]
        date_field = EVENT_DATE_FIELD[kind]
        lineage_prefix = encode_string(topic) + encode_int(partition)
        bucket = good[kind]
        for rec in records:
            value = rec.value
            problem: str | None
            try:
                if value is None:
                    raise UndecodableRecord("no value (a tombstone)")
                writer, row = decode(value)
                if writer.event_type != kind:
                    problem = f"a {writer.event_type} record on the {kind} topic {topic}"
                else:
                    problem = event_problem(kind, row, now)
            except UndecodableRecord as exc:
                batch.dead_letters.append(_dead(rec, type(exc).__name__, str(exc)))
                continue
            except Exception as exc:  # a check tripping on a strange value: still a bad record
                batch.dead_letters.append(
                    _dead(rec, "InvalidEvent", f"{type(exc).__name__}: {exc}")
                )
                continue
            if problem:
                batch.dead_letters.append(_dead(rec, "InvalidEvent", problem))
                continue
            # The body as it arrived is the store record's event part unless an older schema
            # version wrote it; then it is re-encoded in the newest, as the warehouse holds it.
            body = value[HEADER_SIZE:] if writer is latest else _encode(latest.parsed, row)
            offset = rec.offset
            bucket.placements.append(
                (
                    rec,
                    row[date_field].date(),
                    body + lineage_prefix + encode_long(offset) + ingested_suffix,
                )
            )
            row["_topic"] = topic
            row["_partition"] = partition
            row["_offset"] = offset
            row["_ingested_at"] = ingested_at
            bucket.rows.append(row)
    for kind, bucket in good.items():
        if not bucket.rows:
            continue
        table = pa.Table.from_pylist(bucket.rows, schema=_ARROW[kind])
        table, placements = _unstorable_text(table, bucket, batch)
        batch.tables[RAW_TABLES[kind].name] = table
        batch.events[kind] += table.num_rows
        batch.segments += _segments(store_dir, kind, placements)
    if batch.dead_letters:
        batch.tables[QUARANTINE.name] = _quarantine_table(batch.dead_letters, ingested_at)
        batch.segments += _quarantine_segments(store_dir, batch.dead_letters, ingested_at)
    return batch


def _dead(rec: Any, error_class: str, reason: str) -> DeadLetter:
    return DeadLetter(
        rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value, error_class, reason
    )


def _encode(parsed_schema: Any, row: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema, row)
    return buffer.getvalue()


def _unstorable_text(
    table: pa.Table, bucket: _Good, batch: PreparedBatch
) -> tuple[pa.Table, list[tuple[Any, date, bytes]]]:
    """Move rows with a NUL character in any text to the dead letters: valid Avro, but
    PostgreSQL text cannot hold it, and both warehouses must hold the same rows."""
    bad = None
    for index, column_field in enumerate(table.schema):
        if pa.types.is_string(column_field.type):
            hits = pc.match_substring(table.column(index), "\x00")
            if pc.any(hits).as_py():
                hits = pc.fill_null(hits, False)
                bad = hits if bad is None else pc.or_(bad, hits)
    if bad is None:
        return table, bucket.placements
    flags = bad.to_pylist()
    keep = [i for i, flag in enumerate(flags) if not flag]
    for i, flag in enumerate(flags):
        if flag:
            batch.dead_letters.append(
                _dead(
                    bucket.placements[i][0],
                    "InvalidEvent",
                    "text contains a NUL character, which the warehouse cannot store",
                )
            )
    return table.take(keep), [bucket.placements[i] for i in keep]


def _segments(
    store_dir: Path, kind: str, placements: Iterable[tuple[Any, date, bytes]]
) -> list[StagedSegment]:
    groups: dict[tuple[str, int, date], list[tuple[int, bytes]]] = defaultdict(list)
    for rec, day, body in placements:
        groups[(rec.topic, rec.partition, day)].append((rec.offset, body))
    staged = []
    for (topic, partition, day), items in groups.items():
        path = segment_path(store_dir, kind, day, topic, partition, items[0][0], items[-1][0])
        staged.append(StagedSegment(path, kind, [body for _, body in items]))
    return staged


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
