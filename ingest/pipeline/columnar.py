"""Many Avro records of one event type decoded at once, field by field, straight into Arrow
columns: the ingest hot path. Records may come in either framing (``models.wire``): single-object
encoded, or in the schema registry format with an id the caller names as the newest schema's.

Decoding a record at a time with fastavro costs about 10 µs in Python objects that Arrow then
converts back. Here a batch's values lie in one byte buffer (the Kafka records they came in)
and every field is read for all records together with numpy: a position per record advances
through the Avro binary form (zig-zag varints, length-prefixed strings, union branch indexes).
Strings become Arrow string views into the buffer, then one compact string column, so no
per-value Python object is made.

This decoder only takes what it can decode exactly. A record whose header does not name the
newest schema of its type, whose bytes run past or stop short of its end, whose varints are
overlong, whose union, enum or boolean bytes are out of range, or whose text is not UTF-8 is left
out and named in ``slow``: the caller decodes those one at a time with ``models.wire.decode``, which
resolves older schema versions and words the reason of a bad record. So the output is the same
as decoding every record with fastavro, only faster (``tests/pipeline/test_columnar.py`` holds
them to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from dlrw.models.wire import (
    HEADER_SIZE,
    MAGIC,
    REGISTRY_HEADER_SIZE,
    REGISTRY_MAGIC,
    registry,
)

__all__ = ["PADDING", "ColumnarBatch", "Cursor", "decode_columns"]

_VARINT_MAX = 10
_K = np.arange(_VARINT_MAX, dtype=np.int64)
_SHIFTS = (7 * _K).astype(np.uint64)
_INLINE = 12  # an Arrow string view holds up to 12 bytes inline
_INLINE_POSITIONS = np.arange(_INLINE)[None, :]
# Bytes a buffer holds after its last record, so reads at a record's end (a varint's ten bytes,
# a string view's inline bytes) never leave it.
PADDING = 16 + _INLINE
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class ColumnarBatch:
    """``table`` holds the records at indexes ``fast`` (ascending) of the input, one row each, in
    the newest schema's field order; ``slow`` are the indexes left for record-at-a-time decoding.
    A schema with a type this decoder does not read leaves every record slow, and ``table``
    without columns."""

    table: pa.Table
    fast: np.ndarray
    slow: np.ndarray


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # string, int, long, double, boolean, enum
    arrow: pa.DataType
    nullable: bool
    null_branch: int  # the union index of "null"; -1 when not a union
    symbols: tuple[str, ...] = ()


def _field(field: dict[str, Any]) -> _Field | None:
    """How to read one field, or None for a type this decoder does not take."""
    avro = field["type"]
    null_branch = -1
    if isinstance(avro, list):
        if len(avro) != 2 or "null" not in avro:
            return None
        null_branch = avro.index("null")
        avro = avro[1 - null_branch]
    symbols: tuple[str, ...] = ()
    if isinstance(avro, dict):
        if avro.get("logicalType") == "timestamp-millis" and avro["type"] == "long":
            return _Field(field["name"], "long", pa.timestamp("ms"), null_branch >= 0, null_branch)
        if "logicalType" in avro:
            return None
        if avro["type"] == "enum":
            symbols = tuple(avro["symbols"])
        avro = avro["type"]
    if not isinstance(avro, str):
        return None
    arrow = {
        "string": pa.string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "enum": pa.string(),
    }.get(avro)
    if arrow is None:
        return None
    return _Field(field["name"], avro, arrow, null_branch >= 0, null_branch, symbols)


@cache
def _plan(event_type: str) -> tuple[int, list[_Field]] | None:
    """The newest schema's fingerprint (as a little-endian integer) and its fields' readers."""
    latest = registry().latest[event_type]
    fields = [_field(f) for f in latest.parsed["fields"]]
    if any(f is None for f in fields):
        return None
    return int.from_bytes(latest.fingerprint, "little"), [f for f in fields if f is not None]


class Cursor:
    """A read position per record over one buffer (``PADDING`` bytes after the last record's
    end); ``bad`` marks records whose reads went wrong."""

    def __init__(self, buf: np.ndarray, pos: np.ndarray, end: np.ndarray) -> None:
        self.buf = buf
        # Every ten-byte window of the buffer, as rows (no copy): what a varint may span.
        self.windows = np.lib.stride_tricks.as_strided(
            buf, shape=(len(buf) - _VARINT_MAX + 1, _VARINT_MAX), strides=(1, 1), writeable=False
        )
        self.pos = pos
        self.end = end
        self.bad = np.zeros(len(pos), dtype=bool)

    def advance(self, live: np.ndarray, step: np.ndarray | int) -> None:
        pos = np.where(live, self.pos + step, self.pos)
        over = pos > self.end
        self.bad |= over
        self.pos = np.minimum(pos, self.end)

    def varint(self, live: np.ndarray) -> np.ndarray:
        """A zig-zag long at each live record's position; other records' values are junk."""
        first = self.buf[self.pos]
        if not (first[live] & 0x80).any():  # every value fits one byte: the common case
            unsigned = first.astype(np.uint64)
            self.advance(live, 1)
        else:
            window = self.windows[self.pos]
            more = window >= 0x80
            size = np.argmin(more, axis=1) + 1
            # Ten bytes would hold values past 2**62; leave those to the exact decoder.
            self.bad |= live & (more.all(axis=1) | (size >= _VARINT_MAX))
            width = int(size.max())
            low = (window[:, :width] & 0x7F).astype(np.uint64)
            low *= _K[None, :width] < size[:, None]
            unsigned = (low << _SHIFTS[:width]).sum(axis=1, dtype=np.uint64)
            self.advance(live, size)
        one = np.uint64(1)
        return (unsigned >> one).astype(np.int64) ^ -(unsigned & one).astype(np.int64)

    def fixed(self, live: np.ndarray, size: int) -> np.ndarray:
        """``size`` raw bytes (up to ten) at each record's position, as an (n, size) array."""
        window = self.windows[self.pos, :size]
        self.advance(live, size)
        return window


def _string_column(
    buf: np.ndarray, buffer: pa.Buffer, start: np.ndarray, length: np.ndarray, valid: np.ndarray
) -> pa.Array:
    """A string column of the byte ranges (start, length) of ``buf``; raises ``pa.ArrowInvalid``
    for text that is not UTF-8."""
    n = len(start)
    length = np.where(valid, length, 0)
    # Every 12-byte window of the buffer, as rows (no copy): a string's row is its inline bytes.
    windows = np.lib.stride_tricks.as_strided(
        buf, shape=(len(buf) - _INLINE + 1, _INLINE), strides=(1, 1), writeable=False
    )
    views = np.empty((n, 16), dtype=np.uint8)
    # Bytes 4-15: the string's bytes (zero past its end) if it fits, else its first four...
    np.multiply(windows[start], length[:, None] > _INLINE_POSITIONS, out=views[:, 4:])
    words = views.view("<i4")
    words[:, 0] = length
    # ...then, for a longer one, buffer 0 and its offset in it.
    long_ = length > _INLINE
    words[:, 2] = np.where(long_, 0, words[:, 2])
    words[:, 3] = np.where(long_, start, words[:, 3])
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    view = pa.Array.from_buffers(pa.binary_view(), n, [bitmap, pa.py_buffer(views), buffer])
    return view.cast(pa.string())


def _read(plan: list[_Field], cursor: Cursor) -> dict[str, tuple[Any, ...]]:
    """Read every field of every record; what each column is built from, by field name."""
    everyone = np.ones(len(cursor.pos), dtype=bool)
    parts: dict[str, tuple[Any, ...]] = {}
    for field in plan:
        live = everyone
        if field.null_branch >= 0:
            branch = cursor.varint(everyone)
            cursor.bad |= (branch != 0) & (branch != 1)
            live = branch == 1 - field.null_branch
        if field.kind == "string":
            length = cursor.varint(live)
            cursor.bad |= live & (length < 0)
            length = np.where(live & (length > 0), length, 0)
            start = cursor.pos.copy()
            cursor.advance(live, length)
            parts[field.name] = ("string", start, length, live)
        elif field.kind in ("int", "long", "enum"):
            value = cursor.varint(live)
            if field.kind == "int":
                cursor.bad |= live & ((value < _INT32[0]) | (value > _INT32[1]))
            elif field.kind == "enum":
                cursor.bad |= live & ((value < 0) | (value >= len(field.symbols)))
            parts[field.name] = (field.kind, value, live)
        elif field.kind == "double":
            raw = np.ascontiguousarray(cursor.fixed(live, 8))
            parts[field.name] = ("double", raw.view("<f8").reshape(-1), live)
        else:  # boolean
            byte = cursor.fixed(live, 1).reshape(-1)
            cursor.bad |= live & (byte > 1)
            parts[field.name] = ("boolean", byte == 1, live)
    cursor.bad |= cursor.pos != cursor.end
    return parts


def _column(field: _Field, part: tuple[Any, ...], rows: np.ndarray, buf: Any) -> pa.Array:
    kind = part[0]
    if kind == "string":
        _, start, length, live = part
        return _string_column(buf[0], buf[1], start[rows], length[rows], live[rows])
    _, value, live = part
    value, mask = value[rows], ~live[rows]
    if kind == "enum":
        indices = pa.array(np.where(mask, 0, value).astype(np.int32), mask=mask)
        return pa.array(field.symbols, pa.string()).take(indices)
    if kind == "boolean":
        return pa.array(value, type=field.arrow, mask=mask if mask.any() else None)
    # Fixed-width values straight into an array's buffers: ``pa.array`` with a mask takes a
    # slow path for timestamps (a millisecond per 20,000 values, against microseconds here).
    value = np.ascontiguousarray(value, dtype=np.int32 if kind == "int" else value.dtype)
    bitmap = pa.py_buffer(np.packbits(~mask, bitorder="little")) if mask.any() else None
    return pa.Array.from_buffers(field.arrow, len(value), [bitmap, pa.py_buffer(value)])


def _columns(
    fields: list[_Field], parts: dict[str, tuple[Any, ...]], good: np.ndarray, buf: Any, buffer: Any
) -> list[pa.Array]:
    rows = np.flatnonzero(good)
    return [_column(f, parts[f.name], rows, (buf, buffer)) for f in fields]


def decode_columns(
    buffer: bytes,
    starts: np.ndarray,
    sizes: np.ndarray,
    event_type: str,
    registry_ids: Sequence[int] = (),
) -> ColumnarBatch:
    """Decode the records at spans (``starts``, ``sizes``) of ``buffer``: records meant to be
    ``event_type``, single-object encoded or registry framed with one of ``registry_ids`` (the
    ids the registry gave the newest schema of ``event_type``); ``buffer`` ends ``PADDING``
    bytes after the last."""
    n = len(starts)
    every = np.arange(n, dtype=np.int64)
    plan = _plan(event_type)
    ends = starts + sizes
    # String views address the buffer with 32-bit offsets.
    if plan is None or len(buffer) >= 2**31:
        return ColumnarBatch(pa.table({}), every[:0], every)
    fingerprint, fields = plan
    schema = pa.schema([pa.field(f.name, f.arrow) for f in fields])
    if n == 0:
        return ColumnarBatch(schema.empty_table(), every, every)
    if int(ends.max()) + PADDING > len(buffer):
        raise ValueError("the buffer lacks the padding after its last record")
    buf = np.frombuffer(buffer, dtype=np.uint8)
    head = buf[starts[:, None] + np.arange(HEADER_SIZE)]
    single = (
        (sizes >= HEADER_SIZE)
        & (head[:, 0] == MAGIC[0])
        & (head[:, 1] == MAGIC[1])
        & (np.ascontiguousarray(head[:, 2:]).view("<u8").reshape(-1) == np.uint64(fingerprint))
    )
    framed = (
        (sizes >= REGISTRY_HEADER_SIZE)
        & (head[:, 0] == REGISTRY_MAGIC[0])
        & np.isin(_schema_ids(head), np.array(registry_ids, dtype=np.uint32))
    )
    ours = single | framed
    candidates = every[ours]
    body = starts + np.where(framed, REGISTRY_HEADER_SIZE, HEADER_SIZE)
    cursor = Cursor(buf, body[ours], ends[ours])
    parts = _read(fields, cursor)
    arrow_buffer = pa.py_buffer(buffer)
    good = ~cursor.bad
    try:
        columns = _columns(fields, parts, good, buf, arrow_buffer)
    except pa.ArrowInvalid:
        good &= _utf8_rows(fields, parts, buf)
        columns = _columns(fields, parts, good, buf, arrow_buffer)
    table = pa.table(columns, schema=schema)
    fast = candidates[good]
    slow = np.setdiff1d(every, fast, assume_unique=True)
    return ColumnarBatch(table, fast, slow)


def _schema_ids(head: np.ndarray) -> np.ndarray:
    """The schema id of each registry-framed record (bytes 1-4 of its header, big-endian)."""
    return np.ascontiguousarray(head[:, 1:REGISTRY_HEADER_SIZE]).view(">u4").reshape(-1)


def _utf8_rows(fields: list[_Field], parts: dict[str, tuple[Any, ...]], buf: np.ndarray) -> Any:
    """Which records' text is all valid UTF-8 (the rare path, after a column failed the check)."""
    ok = np.ones(len(next(iter(parts.values()))[1]), dtype=bool)
    for field in fields:
        part = parts[field.name]
        if part[0] != "string":
            continue
        _, start, length, live = part
        for i in np.flatnonzero(live):
            try:
                bytes(buf[start[i] : start[i] + length[i]]).decode()
            except UnicodeDecodeError:
                ok[i] = False
    return ok
