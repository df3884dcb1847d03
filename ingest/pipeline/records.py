"""One topic partition's records of a batch, as columns over one byte buffer.

The ingest consumer reads whole Kafka record batches (``ingest.kafka.batches``);
``PartitionRecords.from_batches`` decodes their records together with numpy, the way
``columnar`` decodes Avro: each record's length prefix is walked in one Python loop, then its
fields (timestamp and offset deltas, key, value, header count: zig-zag varints as in Avro) are
read for all records at once. Keys and values stay spans of the buffer; only the few records
that become dead letters are ever made into Python objects (``record``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from kafka import codec
from kafka.errors import CorruptRecordError, UnsupportedCodecError

from dlrw.ingest.kafka.batches import RecordBatch
from dlrw.ingest.pipeline.columnar import PADDING, Cursor

__all__ = ["Fetched", "OneRecord", "PartitionRecords", "SourceRecord"]

# A record batch's header (message format v2), up to its records.
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CODEC_MASK = 0x07
_LOG_APPEND_TIME = 0x08
_CODECS: dict[int, tuple[str, Callable[[], bool], Callable[[bytes], bytes]]] = {
    1: ("gzip", codec.has_gzip, codec.gzip_decode),
    2: ("snappy", codec.has_snappy, codec.snappy_decode),
    3: ("lz4", codec.has_lz4, codec.lz4_decode),
    4: ("zstd", codec.has_zstd, codec.zstd_decode),
}


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
class OneRecord:
    """A record kafka-python decoded itself (``dlrw ingest --exact``), held in the pending buffer
    as a record batch is: it spans its own offset."""

    topic: str
    partition: int
    first: int
    last: int
    record: Any

    @classmethod
    def of(cls, record: Any) -> OneRecord:
        return cls(record.topic, record.partition, record.offset, record.offset, record)

    @property
    def span(self) -> int:
        return self.last - self.first + 1


# What the consumer hands the pending buffer: record batches, or records on the exact path.
Fetched = RecordBatch | OneRecord


@dataclass(frozen=True, eq=False)
class PartitionRecords:
    """One topic partition's records in offset order: offsets and timestamps (-1: none), and
    keys and values as (start, size) spans of ``buffer`` (size -1: null)."""

    topic: str
    partition: int
    buffer: bytes
    offsets: np.ndarray
    timestamps: np.ndarray
    key_start: np.ndarray
    key_size: np.ndarray
    value_start: np.ndarray
    value_size: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def of(cls, topic: str, partition: int, records: Sequence[Any]) -> PartitionRecords:
        """From records with ``SourceRecord``'s attributes (kafka-python's ``ConsumerRecord``)."""
        parts: list[bytes] = []
        spans: list[list[int]] = [[], [], [], []]  # key start, key size, value start, value size
        at = 0
        for r in records:
            for field, content in ((0, r.key), (2, r.value)):
                spans[field].append(at)
                spans[field + 1].append(-1 if content is None else len(content))
                parts.append(content or b"")
                at += len(content or b"")
        return cls(
            topic,
            partition,
            b"".join(parts),
            np.array([r.offset for r in records], dtype=np.int64),
            np.array([-1 if r.timestamp is None else r.timestamp for r in records], np.int64),
            *(np.array(column, dtype=np.int64) for column in spans),
        )

    @classmethod
    def fetched(cls, items: Sequence[Fetched]) -> PartitionRecords:
        """The records of one topic partition as the consumer fetched them: record batches on the
        fast path, records kafka-python decoded on the exact one."""
        if isinstance(items[0], OneRecord):
            records = [i.record for i in items if isinstance(i, OneRecord)]
            return cls.of(items[0].topic, items[0].partition, records)
        return cls.from_batches([i for i in items if isinstance(i, RecordBatch)])

    @classmethod
    def from_batches(cls, batches: Sequence[RecordBatch]) -> PartitionRecords:
        """The records of one topic partition's record batches, given in offset order; raises
        ``CorruptRecordError`` for a batch whose records do not parse (its CRC held)."""
        topic, partition = batches[0].topic, batches[0].partition
        sections: list[bytes] = []
        heads: list[tuple[int, int, int, bool, int]] = []
        for batch in batches:
            base, _, _, _, _, attributes, _, first_ts, max_ts, _, _, _, count = _HEADER.unpack_from(
                batch.data
            )
            sections.append(_records_section(batch, attributes))
            heads.append((base, first_ts, max_ts, bool(attributes & _LOG_APPEND_TIME), count))
        buffer = b"".join(sections)
        padded = buffer + bytes(PADDING)
        starts, ends, batch_of = _walk(padded, [len(s) for s in sections], heads, topic, partition)
        cursor = Cursor(np.frombuffer(padded, dtype=np.uint8), starts, ends)
        everyone = np.ones(len(starts), dtype=bool)
        cursor.advance(everyone, 1)  # attributes: unused
        ts_delta = cursor.varint(everyone)
        offset_delta = cursor.varint(everyone)
        key_size = cursor.varint(everyone)
        key_start = cursor.pos.copy()
        cursor.advance(everyone, np.maximum(key_size, 0))
        value_size = cursor.varint(everyone)
        value_start = cursor.pos.copy()
        cursor.advance(everyone, np.maximum(value_size, 0))
        headers = cursor.varint(everyone)
        cursor.bad |= (headers < 0) | (key_size < -1) | (value_size < -1)
        for i in np.flatnonzero(headers > 0).tolist():
            cursor.pos[i] = _skip_headers(padded, int(cursor.pos[i]), int(headers[i]))
        if (cursor.bad | (cursor.pos != ends)).any():
            first = int(np.flatnonzero(cursor.bad | (cursor.pos != ends))[0])
            raise CorruptRecordError(
                f"a record of {topic}[{partition}] in the batch at offset "
                f"{heads[batch_of[first]][0]} does not parse"
            )
        base, first_ts, max_ts, log_append, _ = (
            np.array(c, np.int64) for c in zip(*heads, strict=True)
        )
        offsets = base[batch_of] + offset_delta
        timestamps = np.where(
            log_append[batch_of] == 1, max_ts[batch_of], first_ts[batch_of] + ts_delta
        )
        keep = offsets >= np.array([b.first for b in batches], np.int64)[batch_of]
        return cls(
            topic,
            partition,
            buffer,
            offsets[keep],
            timestamps[keep],
            key_start[keep],
            key_size[keep],
            value_start[keep],
            value_size[keep],
        )

    def key(self, i: int) -> bytes | None:
        return _span(self.buffer, int(self.key_start[i]), int(self.key_size[i]))

    def value(self, i: int) -> bytes | None:
        return _span(self.buffer, int(self.value_start[i]), int(self.value_size[i]))

    def record(self, i: int) -> SourceRecord:
        timestamp = int(self.timestamps[i])
        return SourceRecord(
            self.topic,
            self.partition,
            int(self.offsets[i]),
            None if timestamp < 0 else timestamp,
            self.key(i),
            self.value(i),
        )


def _span(buffer: bytes, start: int, size: int) -> bytes | None:
    return None if size < 0 else buffer[start : start + size]


def _records_section(batch: RecordBatch, attributes: int) -> bytes:
    """A batch's records, uncompressed."""
    body = batch.data[_HEADER.size :]
    compression = attributes & _CODEC_MASK
    if not compression:
        return body
    if compression not in _CODECS:
        raise UnsupportedCodecError(f"unknown compression type {compression} in a record batch")
    name, available, decompress = _CODECS[compression]
    if not available():
        raise UnsupportedCodecError(
            f"{batch.topic}[{batch.partition}] holds {name}-compressed record batches, and the "
            f"library kafka-python reads {name} with is not installed"
        )
    return bytes(decompress(body))


def _walk(
    buffer: bytes,
    sizes: list[int],
    heads: list[tuple[int, int, int, bool, int]],
    topic: str,
    partition: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each record's first byte after its length prefix, its end, and its batch's index: the
    length prefixes (zig-zag varints) chain the records, so this one step is a Python loop."""
    starts: list[int] = []
    ends: list[int] = []
    batch_of: list[int] = []
    at = 0
    for index, size in enumerate(sizes):
        end, count = at + size, heads[index][4]
        while at < end:
            byte = buffer[at]
            if byte < 0x80:  # one or two bytes: every record under 8KB
                value, at = byte, at + 1
            elif buffer[at + 1] < 0x80:
                value, at = (byte & 0x7F) | (buffer[at + 1] << 7), at + 2
            else:
                value, at = _varint(buffer, at)
            length = (value >> 1) ^ -(value & 1)
            starts.append(at)
            at += max(length, 0)
            ends.append(at)
        found = len(starts) - len(batch_of)
        if at != end or found != count:
            raise CorruptRecordError(
                f"the record batch of {topic}[{partition}] at offset {heads[index][0]} holds "
                f"{found} parseable records of {count}"
            )
        batch_of += [index] * found
    return (
        np.array(starts, dtype=np.int64),
        np.array(ends, dtype=np.int64),
        np.array(batch_of, dtype=np.int64),
    )


def _skip_headers(buffer: bytes, at: int, count: int) -> int:
    """Where a record's ``count`` headers end (rare: dlrw's producers send none)."""
    for _ in range(2 * count):  # a key, then a value (size -1: null)
        value, at = _varint(buffer, at)
        at += max((value >> 1) ^ -(value & 1), 0)
    return at


def _varint(buffer: bytes, at: int) -> tuple[int, int]:
    """The unsigned varint at ``at`` (ten bytes at most) and where it ends."""
    shift = value = 0
    while True:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80 or shift >= 63:
            return value, at
        shift += 7
