"""`dlrw produce`'s line checks without Kafka: a chunk encoded at once is each of its lines
encoded alone, and the schema check's fast path never lets through what fastavro refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastavro.validation import validate
from hypothesis import given, settings
from hypothesis import strategies as st

from dlrw.ingest import strict_json
from dlrw.ingest.kafka.produce import _json_object, encode_lines, event_from_line
from dlrw.models.events import InvalidEvent
from dlrw.models.wire import encode_event, writer_schema
from tests.kafka.test_produce_cli import CONVERSION, NUMBER, RECEIPT, SEND

KEY = b"test-hash-key"
# A value of every JSON type, and the values at the edges of the Avro types' ranges.
_VALUES: list[Any] = [None, True, False, 0, 1, 4, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1]
_VALUES += [2**63, 10**30, 0.0, 0.5, 1e300, "", "x", "2025-03-01T10:00:05Z", "DELIVERED", "GB"]
_VALUES += ["23410", "EUR", "+447700900123", [], [1], {}, {"a": 1}]


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode() + b"\n"


def test_a_chunk_is_encoded_as_its_lines_are_one_by_one() -> None:
    lines = [
        _line(SEND),
        b"{not json\n",
        b"\n",
        _line({**SEND, "event_id": "e-send-2", "segments": 2**31}),
        "\ufeff".encode() + _line(RECEIPT),  # a byte order mark
        b"\xff\xfe\n",
        _line({**RECEIPT, "status": "SENT"}),
        _line(CONVERSION)[:-1] + b"\r\n",
        b"   \r\n",
        _line({**SEND, "sender_id": int(NUMBER)}),
        _line({**CONVERSION, "value": True}),
        _line(CONVERSION)[:-1],  # the last line, without its newline
    ]
    chunk = encode_lines(b"".join(lines), 41, KEY)

    records, bad = [], []
    for number, line in enumerate(lines, start=41):
        if not line.strip():
            continue
        try:
            event = event_from_line(line, KEY)
        except InvalidEvent as exc:
            bad.append((number, str(exc)))
        else:
            records.append((number, event.event_type, event.key(), encode_event(event)))
    assert chunk.records == records
    assert chunk.bad == bad
    assert chunk.last == 40 + len(lines)
    assert [number for number, _ in bad] == [42, 44, 46, 47, 50, 51]


@pytest.mark.parametrize("example", [SEND, RECEIPT, CONVERSION], ids=lambda e: e["type"])
def test_an_event_accepted_is_one_fastavro_validates(example: dict[str, Any]) -> None:
    """The fast path of the type check (exact Python types per schema type) accepts a record
    only if fastavro's validation would; anything else gets fastavro's verdict and reason.
    Every field takes a value of every JSON type in turn."""
    accepted = 0
    for name in sorted(set(example) - {"type", "destination"}):
        for value in _VALUES:
            try:
                event = event_from_line(json.dumps(example | {name: value}), KEY)
            except InvalidEvent as exc:
                assert str(exc)
                continue
            accepted += 1
            schema = writer_schema(event.event_type).parsed
            assert validate(event.to_dict(), schema, raise_errors=False), (name, value)
    assert accepted  # some changes are valid: the check above was reached


def _reason(record: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as info:
        event_from_line(json.dumps(record), KEY)
    return str(info.value)


def test_a_wrong_type_is_named_as_fastavro_names_it() -> None:
    assert _reason({**SEND, "segments": "2"}) == "segments: expected int, got str '2'"
    assert _reason({**SEND, "segments": 2**31}) == "segments: expected int, got int 2147483648"
    assert _reason({**SEND, "route_tier": True}) == "route_tier: expected int, got bool True"
    assert _reason({**SEND, "price": "0.5"}) == "price: expected null or double, got str '0.5'"
    assert _reason({**SEND, "campaign_id": 7}) == "campaign_id: expected null or string, got int 7"
    assert _reason({**RECEIPT, "is_final": 1}) == "is_final: expected boolean, got int 1"
    assert event_from_line(json.dumps({**SEND, "price": 1}), KEY).to_dict()["price"] == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("segments", True),  # fastavro's writer would write 1
        ("segments", 2.0),
        ("segments", 2**31),  # fastavro's writer would write it; no Avro reader reads it back
        ("route_id", None),
        ("price", False),
        ("price", 10**400),  # no double holds it
        ("sender_id", 12345678),
        ("submitted_at", 10**30),
    ],
    ids=lambda value: value if isinstance(value, str) and value.isidentifier() else None,
)
def test_a_value_the_writer_would_get_wrong_is_refused(name: str, value: Any) -> None:
    assert _reason({**SEND, name: value}).startswith(f"{name}: ")


def test_a_lone_surrogate_is_refused_not_written() -> None:
    """strict_json takes ``\\ud800``; no UTF-8 writer can write it, so the line is refused."""
    line = json.dumps(CONVERSION).replace('"click"', '"\\ud800"').encode()
    with pytest.raises(InvalidEvent, match=r"^not JSON: "):
        event_from_line(line, KEY)


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_PIECES = st.sampled_from(
    [
        *('{"a":', "}", "[", "]", ",", '"x"', "1e400", "-0", "01", "1.", ".5", "NaN", "Infinity"),
        *('"\\ud800"', "\\u0000", "\x00", "\x1f", "\u2028", "\ufeff", " ", "\t", "true", "null"),
    ]
)


@settings(max_examples=2000, deadline=None, database=None)
@given(
    st.one_of(
        st.dictionaries(st.text(max_size=5), _SCALARS, max_size=6).map(json.dumps),
        st.lists(_PIECES, max_size=12).map("".join),
    )
)
def test_a_line_is_read_as_strict_json_reads_it(text: str) -> None:
    """msgspec's reader, produce's quick path, takes the same values as strict_json (float
    digits, huge integers, non-finite numbers, stray bytes) or refuses the line with a reason."""
    try:
        value = _json_object(text.encode("utf-8", "surrogatepass"))
    except InvalidEvent as exc:
        assert str(exc)
        return
    strict = strict_json.load(text)
    assert repr(value) == repr(strict)  # repr: -0.0 is not 0.0, 1 is not 1.0 nor True
