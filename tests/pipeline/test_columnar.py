"""The columnar decoder and the screen against the record-at-a-time path they speed up: every
row the decoder takes equals fastavro's decoding of that record, every record it leaves out is
named, every record ``event_problem`` rejects is flagged by the screen, and a whole batch comes
out the same as decoding and checking its records one at a time."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlrw.ingest.pipeline.batch import prepare_batch
from dlrw.ingest.pipeline.columnar import PADDING, ColumnarBatch, decode_columns
from dlrw.ingest.pipeline.records import PartitionRecords, SourceRecord
from dlrw.ingest.pipeline.screen import suspects
from dlrw.ingest.warehouse.tables import LINEAGE_COLUMNS, RAW_TABLES, arrow_schema
from dlrw.models.events import MAX_AMOUNT, MAX_TEXT_LENGTH, event_problem
from dlrw.models.status import Status
from dlrw.models.wire import UndecodableRecord, decode, encode, encode_event, registry
from tests.models.test_wire_registry import lookup
from tests.pipeline.conftest import conversion, receipt, send, traffic
from tests.reliability.conftest import fuzz_examples

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KINDS = ("send", "receipt", "conversion")
FUZZ = settings(
    max_examples=fuzz_examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _event_schema(kind: str) -> pa.Schema:
    full = arrow_schema(RAW_TABLES[kind])
    return pa.schema([f.with_nullable(True) for f in full if f.name not in LINEAGE_COLUMNS])


def _columns_of(values: list[bytes], kind: str) -> ColumnarBatch:
    """Decode ``values`` laid end to end in one padded buffer, as the pipeline lays them."""
    sizes = np.array([len(v) for v in values], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    return decode_columns(b"".join([*values, bytes(PADDING)]), starts, sizes, kind)


def _reference(values: list[bytes], kind: str) -> pa.Table:
    """The records decoded one at a time by fastavro, as a table."""
    return pa.Table.from_pylist([decode(v)[1] for v in values], schema=_event_schema(kind))


def _assert_fast_rows_match(values: list[bytes], kind: str) -> np.ndarray:
    """Decode ``values``; the rows taken must equal fastavro's. Returns the indexes taken."""
    out = _columns_of(values, kind)
    assert sorted([*out.fast.tolist(), *out.slow.tolist()]) == list(range(len(values)))
    assert out.table.num_rows == len(out.fast)
    if len(out.fast):
        expected = _reference([values[i] for i in out.fast.tolist()], kind)
        assert out.table.cast(expected.schema).equals(expected)
    return out.fast


def test_simulated_traffic_decodes_like_fastavro() -> None:
    by_kind: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    for event in traffic(3000):
        by_kind[event.event_type].append(encode_event(event))
    for kind, values in by_kind.items():
        fast = _assert_fast_rows_match(values, kind)
        # Well-formed records of the newest schema all take the columnar path.
        assert len(fast) == len(values), kind


def test_optional_fields_absent_and_present_decode_alike() -> None:
    values = []
    for i in range(50):
        record = receipt(i).to_dict()
        if i % 2:
            for name in ("message_id", "error_code", "mcc_mnc", "submitted_at", "done_at"):
                record[name] = None
            record["price"] = None
            record["raw"] = "é" * (i % 20)  # multi-byte text, short and long
        values.append(encode("receipt", record))
    assert len(_assert_fast_rows_match(values, "receipt")) == len(values)


def test_records_it_cannot_take_are_left_out() -> None:
    good = encode_event(send(1))
    older = encode("send", send(2).to_dict() | {"template_id": None}, version=1)
    other_type = encode_event(receipt(3))
    bad_utf8 = encode("send", send(4).to_dict() | {"route_id": "R" * 20})
    bad_utf8 = bad_utf8.replace(b"R" * 20, b"\xff" * 20)
    values = [good, good[:-1], good + b"\x00", older, other_type, b"", bad_utf8, b"\xc3\x01"]
    out = _columns_of(values, "send")
    assert out.fast.tolist() == [0]
    assert out.slow.tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_out_of_range_union_enum_and_boolean_bytes_are_left_out() -> None:
    """Bytes fastavro may read leniently or refuse: either way they are its call, not ours."""

    def changed(name: str, a: Any, b: Any, wrong: int) -> bytes:
        """A receipt whose byte for ``name`` (where ``name`` = a and = b differ) is ``wrong``."""
        base = receipt(1).to_dict()
        one, two = encode("receipt", base | {name: a}), encode("receipt", base | {name: b})
        (at,) = [i for i, (x, y) in enumerate(zip(one, two, strict=True)) if x != y]
        return one[:at] + bytes([wrong]) + one[at + 1 :]

    cases = [
        changed("is_final", True, False, 2),  # a boolean is one byte, 0 or 1
        changed("status", "DELIVERED", "EXPIRED", 2 * 8),  # enum index 8 of 8 symbols
        # The last field's union branch index (zig-zag 2 = branch 2 of two).
        encode("receipt", receipt(1).to_dict() | {"network_error_code": None})[:-1] + b"\x04",
    ]
    out = _columns_of([encode_event(receipt(1)), *cases], "receipt")
    assert out.fast.tolist() == [0]


def _mutations() -> st.SearchStrategy[bytes]:
    real = [encode_event(e) for e in (send(1), receipt(2), conversion(3), receipt(4))]

    def flip(record: bytes, bits: list[int]) -> bytes:
        out = bytearray(record)
        for bit in bits:
            out[10 + bit // 8 % (len(record) - 10)] ^= 1 << (bit % 8)
        return bytes(out)

    return st.one_of(
        st.sampled_from(real),
        st.builds(lambda r, n: r[:n], st.sampled_from(real), st.integers(0, 400)),
        st.builds(flip, st.sampled_from(real), st.lists(st.integers(0, 4000), max_size=6)),
        st.builds(lambda r, b: r[:10] + b, st.sampled_from(real), st.binary(max_size=300)),
    )


@FUZZ
@given(st.sampled_from(KINDS), st.lists(_mutations(), max_size=25))
def test_mutated_records_are_decoded_exactly_or_left_out(kind: str, values: list[bytes]) -> None:
    out = _columns_of(values, kind)
    assert sorted([*out.fast.tolist(), *out.slow.tolist()]) == list(range(len(values)))
    for row, i in zip(out.table.to_pylist(), out.fast.tolist(), strict=True):
        try:
            writer, expected = decode(values[i])
        except UndecodableRecord as exc:  # pragma: no cover - the failure being tested for
            pytest.fail(f"took record {i}, which fastavro refuses: {exc}")
        assert writer.event_type == kind
        for name, value in expected.items():
            if isinstance(value, datetime):
                value = value.replace(tzinfo=None)
            assert row[name] == value or value != value, name  # NaN equals nothing


# -- the screen ---------------------------------------------------------------------------------

# Text at and past the length bound, in one-byte and two-byte characters.
_LONG = ["x" * MAX_TEXT_LENGTH, "é" * MAX_TEXT_LENGTH, "x" * (MAX_TEXT_LENGTH + 1)]
_TEXT = st.one_of(
    st.sampled_from(["x", "", " ", "\t", "\u3000", "\x85", " a", "a ", "\x1c", "ok", *_LONG]),
    st.text(max_size=4),
)
_OPTIONAL_TEXT = st.one_of(st.none(), st.sampled_from(["", "E1", *_LONG]))
_TIMES = st.one_of(
    st.sampled_from(
        [
            datetime(2000, 1, 1, tzinfo=UTC),
            datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
            NOW + timedelta(days=366),
            NOW + timedelta(days=366, milliseconds=1),
            NOW,
        ]
    ),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
)
_CODES = st.one_of(
    st.none(),
    st.sampled_from(["310260", "23415", "1234", "1234567", "٣١٠٢٦٠", "31026\n", "EUR", "usd"]),
    st.text(max_size=7),
)
_PRICES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([MAX_AMOUNT, math.nextafter(MAX_AMOUNT, 0), 1e12, -0.0, 0.0, -1e-300]),
)


_TEXT_FIELDS = {
    "send": ("event_id", "message_id", "provider", "destination_hash", "route_id"),
    "receipt": ("event_id", "provider", "provider_message_id"),
    "conversion": ("event_id", "message_id", "kind"),
}
_OTHER_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "send": {
        "country": st.one_of(st.sampled_from(["US", "us", "U", "USA", "Ü1"]), _TEXT),
        "mcc_mnc": _CODES,
        "currency": _CODES,
        "price": _PRICES,
        "route_tier": st.integers(-2, 6),
        "segments": st.integers(-2, 3),
        "submitted_at": _TIMES,
        "provider_message_id": _OPTIONAL_TEXT,
        "campaign_id": _OPTIONAL_TEXT,
        "template_id": _OPTIONAL_TEXT,
    },
    "receipt": {
        "status": st.sampled_from([s.value for s in Status]),
        "is_final": st.booleans(),
        "submitted_at": st.one_of(st.none(), _TIMES),
        "done_at": st.one_of(st.none(), _TIMES),
        "received_at": _TIMES,
        "mcc_mnc": _CODES,
        "currency": _CODES,
        "price": _PRICES,
        "message_id": _OPTIONAL_TEXT,
        "error_code": _OPTIONAL_TEXT,
        "network_error_code": _OPTIONAL_TEXT,
    },
    "conversion": {
        "currency": _CODES,
        "occurred_at": _TIMES,
        "value": _PRICES,
        "device_os": _OPTIONAL_TEXT,
    },
}
_EXAMPLES = {"send": send, "receipt": receipt, "conversion": conversion}


@st.composite
def _records(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A good record with one or two fields changed: a record with several problems would be
    flagged for any one of them and hide a screen that misses another."""
    record = _EXAMPLES[kind](draw(st.integers(0, 100))).to_dict()
    fields = {name: _TEXT for name in _TEXT_FIELDS[kind]} | _OTHER_FIELDS[kind]
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=2)):
        record[name] = draw(fields[name])
    return record


_RECORDS = {kind: _records(kind) for kind in KINDS}


@FUZZ
@given(st.sampled_from(KINDS).flatmap(lambda k: st.tuples(st.just(k), st.lists(_RECORDS[k]))))
def test_the_screen_flags_every_record_the_rules_reject(case: tuple[str, list[dict]]) -> None:
    kind, records = case
    values = [encode(kind, record) for record in records]
    out = _columns_of(values, kind)
    flagged = suspects(kind, out.table, NOW)
    for i, flag in zip(out.fast.tolist(), flagged.tolist(), strict=True):
        problem = event_problem(kind, decode(values[i])[1], NOW)
        assert flag or problem is None, f"screen passed a record the rules reject: {problem}"


# -- a whole batch ------------------------------------------------------------------------------


def test_a_mixed_batch_comes_out_as_if_each_record_were_checked_alone(tmp_path: Path) -> None:
    values = [encode_event(e) for e in traffic(400)]
    values += [
        encode("send", send(7).to_dict() | {"template_id": None}, version=1),  # older schema
        encode("send", send(8).to_dict() | {"mcc_mnc": "٣١٠٢٦٠"}),  # flagged, yet good
        encode("send", send(9).to_dict() | {"route_tier": 5}),  # impossible
        encode("send", send(10).to_dict() | {"route_id": "a\x00b"}),  # unstorable
        b"\xc3\x01" + b"\x00" * 8 + b"junk",  # unknown schema
        encode_event(send(11))[:-3],  # truncated
    ]
    kinds = {"t.s": "send", "t.r": "receipt", "t.c": "conversion"}
    topic_of = {kind: topic for topic, kind in kinds.items()}
    by_partition: dict[tuple[str, int], list[SourceRecord]] = {}
    expected: dict[str, list[tuple[int, dict[str, Any]]]] = {kind: [] for kind in KINDS}
    dead: set[int] = set()
    for offset, value in enumerate(values):
        try:
            writer, row = decode(value)
            kind = writer.event_type
            problem = event_problem(kind, row, NOW)
            if any(isinstance(v, str) and "\x00" in v for v in row.values()):
                problem = "NUL"
        except UndecodableRecord:
            kind, problem = "send", "undecodable"
        record = SourceRecord(topic_of[kind], offset % 3, offset, 0, None, value)
        by_partition.setdefault((record.topic, record.partition), []).append(record)
        if problem:
            dead.add(offset)
        else:
            expected[kind].append((offset, row))
    partitions = [PartitionRecords.of(t, p, records) for (t, p), records in by_partition.items()]
    batch = prepare_batch(partitions, kinds, tmp_path, NOW, NOW, schema_ids=lookup)
    assert {d.offset for d in batch.dead_letters} == dead
    for kind, rows in expected.items():
        table = batch.tables[RAW_TABLES[kind].name].sort_by("_offset")
        assert table["_offset"].to_pylist() == [offset for offset, _ in rows]
        want = pa.Table.from_pylist([row for _, row in rows], schema=_event_schema(kind))
        got = table.select(want.column_names).cast(want.schema)
        assert got.equals(want), kind
        stored = sum(len(s.bodies) for s in batch.segments if s.kind == kind)
        assert stored == len(rows)
    assert registry()  # the schemas the records were written with are the shipped ones
