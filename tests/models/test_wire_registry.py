"""The schema registry framing beside single-object encoding: the same Avro body, a zero byte and a
4-byte big-endian schema id before it, and decoding told apart by the first byte."""

from __future__ import annotations

import pytest

from dlrw.models.wire import (
    HEADER_SIZE,
    REGISTRY_HEADER_SIZE,
    SchemaVersion,
    UndecodableRecord,
    UnknownSchema,
    decode,
    encode,
    encode_event,
    registry,
    registry_framed,
    writer_schema,
)

from .test_wire import CONVERSION, RECEIPT, SEND

# Ids as a registry might hand them out: any number, not the schema's order.
IDS = {
    schema.fingerprint: 1000 + 7 * n for n, schema in enumerate(registry().by_fingerprint.values())
}
BY_ID = {IDS[schema.fingerprint]: schema for schema in registry().by_fingerprint.values()}


def framing(schema: SchemaVersion, body: bytes) -> bytes:
    return registry_framed(IDS[schema.fingerprint], body)


def lookup(schema_id: int) -> SchemaVersion:
    if schema_id not in BY_ID:
        raise UnknownSchema(f"schema id {schema_id} is not in the schema registry")
    return BY_ID[schema_id]


@pytest.mark.parametrize("event", [SEND, RECEIPT, CONVERSION], ids=lambda e: e.event_type)
def test_registry_framing_wraps_the_single_object_body(event):
    framed = encode_event(event, framing)
    single = encode_event(event)
    schema_id = IDS[writer_schema(event.event_type).fingerprint]
    assert framed[:REGISTRY_HEADER_SIZE] == b"\x00" + schema_id.to_bytes(4, "big")
    assert framed[REGISTRY_HEADER_SIZE:] == single[HEADER_SIZE:]
    schema, record = decode(framed, lookup)
    assert schema is writer_schema(event.event_type)
    assert type(event).from_dict(record) == event


def test_an_older_version_in_the_registry_framing_is_resolved_to_the_newest():
    v1 = writer_schema("send", 1)
    framed = encode("send", SEND.to_dict(), version=1, framing=framing)
    assert framed[1:REGISTRY_HEADER_SIZE] == IDS[v1.fingerprint].to_bytes(4, "big")
    schema, record = decode(framed, lookup)
    assert schema is v1
    assert record == decode(encode("send", SEND.to_dict(), version=1))[1]
    assert set(record) == {f["name"] for f in writer_schema("send").parsed["fields"]}


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (registry_framed(42, b"\x02a"), UnknownSchema, "schema id 42 is not in"),
        (b"\x00\x00\x00", UndecodableRecord, "no C3 01 header"),
        (
            registry_framed(IDS[writer_schema("send").fingerprint], encode_event(SEND)[10:30]),
            UndecodableRecord,
            r"corrupt SendEvent v\d+ body",
        ),
    ],
    ids=["unknown-id", "short", "truncated"],
)
def test_bad_registry_records_are_reported_with_a_reason(data, error, reason):
    with pytest.raises(error, match=reason):
        decode(data, lookup)


def test_a_registry_record_without_a_lookup_is_an_unknown_schema():
    with pytest.raises(UnknownSchema, match="no registry"):
        decode(encode_event(SEND, framing))
