"""Avro single-object encoding: header, fingerprints, round trips and every way to be corrupt."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st

from dlrw.models import ConversionEvent, DeliveryReceipt, SendEvent, Status
from dlrw.models.wire import (
    MAGIC,
    SchemaVersion,
    UndecodableRecord,
    UnknownSchema,
    decode,
    encode,
    encode_event,
    registry,
)

T0 = datetime(2026, 3, 12, 10, 15, 30, 123000, tzinfo=UTC)

SEND = SendEvent(
    event_id="e-1",
    message_id="m-1",
    provider="twilio",
    provider_message_id="SM1",
    campaign_id="c-1",
    sender_id="ACME",
    destination_hash="ab" * 32,
    country="GB",
    mcc_mnc="23410",
    route_id="r-GB-t1-a",
    route_tier=1,
    segments=2,
    encoding="GSM7",
    price=0.042,
    currency="EUR",
    submitted_at=T0,
)
RECEIPT = DeliveryReceipt(
    event_id="r-1",
    provider="smpp",
    provider_message_id="1891273321",
    status=Status.DELIVERED,
    is_final=True,
    received_at=T0,
    raw="id:1891273321 stat:DELIVRD",
    done_at=T0,
    error_code=None,
)
CONVERSION = ConversionEvent(
    event_id="c-1", message_id="m-1", kind="click", device_os="ios", occurred_at=T0
)


def _crc64_avro(data: bytes) -> int:
    """The Avro spec's reference CRC-64-AVRO, written out independently of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.mark.parametrize("event", [SEND, RECEIPT, CONVERSION], ids=lambda e: e.event_type)
def test_event_round_trips_through_single_object_encoding(event):
    data = encode_event(event)
    schema, record = decode(data)
    assert data[:2] == MAGIC
    assert schema.event_type == event.event_type
    assert type(event).from_dict(record) == event


def test_header_carries_the_little_endian_crc64_of_the_canonical_schema():
    for schema in registry().by_fingerprint.values():
        raw = json.loads(schema.path.read_text())
        canonical = to_parsing_canonical_form(raw).encode()
        assert schema.fingerprint == _crc64_avro(canonical).to_bytes(8, "little")
        assert (
            encode(schema.event_type, _minimal(schema.event_type), version=schema.version)[2:10]
            == schema.fingerprint
        )


def test_crc64_reference_vector_from_the_avro_spec():
    # The spec's test vector: fingerprint of the schema "null".
    assert _crc64_avro(b'"null"') == 7195948357588979594


def _minimal(event_type: str) -> dict:
    return {"send": SEND, "receipt": RECEIPT, "conversion": CONVERSION}[event_type].to_dict()


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (b"", UndecodableRecord, "no C3 01 header"),
        (b"hello world, not avro", UndecodableRecord, "no C3 01 header"),
        (MAGIC + b"\x00" * 8 + b"\x02a", UnknownSchema, "unknown schema fingerprint"),
        (encode_event(SEND)[:20], UndecodableRecord, r"corrupt SendEvent v\d+ body"),
        (encode_event(SEND) + b"\x00", UndecodableRecord, "trailing bytes"),
    ],
    ids=["empty", "text", "unknown-fingerprint", "truncated", "trailing"],
)
def test_bad_bytes_are_reported_with_a_reason(data, error, reason):
    with pytest.raises(error, match=reason):
        decode(data)


def test_a_truncated_record_s_reason_is_the_same_on_every_run():
    """A dead letter's reason names no memory address, so replays give the same reason."""
    data = encode_event(SEND)[:136]
    with pytest.raises(UndecodableRecord) as caught:
        decode(data)
    assert re.fullmatch(
        r"corrupt SendEvent v\d+ body: EOFError: cannot read \w+ from the record", str(caught.value)
    ), caught.value


def test_every_schema_is_registered_once_with_a_version():
    reg = registry()
    assert set(reg.latest) == {"send", "receipt", "conversion"}
    assert all(v.version >= 1 for v in reg.by_fingerprint.values())


# -- the encoder: fastavro's writer, framed; the bytes never change ------------------------------

# What encode_event wrote for SEND, RECEIPT and CONVERSION when these were pinned; a change here
# is a change of the wire format, which every stored record and running consumer depends on.
_PINNED = {
    "send": (
        "c3017d633e4a018b942706652d31066d2d310c7477696c696f0206534d310206632d31020841434d"
        "45800161626162616261626162616261626162616261626162616261626162616261626162616261"
        "626162616261626162616261626162616261626162616261626162044742020a323334313012722d"
        "47422d74312d610204020847534d37021b2fdd240681a53f020645555296c9da989c6700"
    ),
    "receipt": (
        "c301a32b8451b83a632006722d3108736d707014313839313237333332310004010000000296c9da"
        "989c6796c9da989c67000000003469643a3138393132373333323120737461743a44454c49565244"
        "00"
    ),
    "conversion": "c3015e7fab94b937bd2d06632d31066d2d310a636c69636b00000206696f7396c9da989c67",
}


@pytest.mark.parametrize("event", [SEND, RECEIPT, CONVERSION], ids=lambda e: e.event_type)
def test_the_bytes_written_are_the_pinned_ones(event) -> None:
    assert encode_event(event).hex() == _PINNED[event.event_type]


_MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))  # the wire keeps millis
_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=12),
    "int": st.integers(-(2**31), 2**31 - 1),
    "double": st.floats(allow_nan=False),
    "boolean": st.booleans(),
    "timestamp-millis": st.one_of(
        _MOMENTS, _MOMENTS.map(lambda t: t.astimezone(timezone(timedelta(hours=-7))))
    ),
}


@st.composite
def _any_record(draw: st.DrawFn, schema: SchemaVersion) -> dict[str, Any]:
    """A record of ``schema`` with any value of each field's type, a field now and then left
    out (it takes its default)."""
    record = {}
    for field in schema.parsed["fields"]:
        branches = field["type"] if isinstance(field["type"], list) else [field["type"]]
        base = branches[-1]
        if isinstance(base, dict) and base["type"] == "enum":
            value = st.sampled_from(base["symbols"])
        else:
            value = _BY_TYPE[base.get("logicalType", "") if isinstance(base, dict) else base]
        if "null" in branches:
            value = st.one_of(st.none(), value)
        if "default" not in field or draw(st.integers(0, 9)):
            record[field["name"]] = draw(value)
    return record


@pytest.mark.parametrize(
    "schema",
    list(registry().by_fingerprint.values()),
    ids=lambda schema: f"{schema.event_type}-v{schema.version}",
)
def test_fastavro_reads_back_what_is_written(schema: SchemaVersion) -> None:
    """Every schema version: fastavro's reader, given the body after the single-object header,
    reads back the record written (a field left out as its default)."""

    @settings(max_examples=300, deadline=None, database=None)
    @given(_any_record(schema))
    def check(record: dict[str, Any]) -> None:
        data = encode(schema.event_type, record, schema.version)
        assert data[:2] == MAGIC
        assert data[2:10] == schema.fingerprint
        read = fastavro.schemaless_reader(io.BytesIO(data[10:]), schema.parsed, None)
        defaults = {f["name"]: f.get("default") for f in schema.parsed["fields"]}
        assert read == defaults | record

    check()
