"""Bad input never crashes the adapters, the event parser of `dlrw produce`, the Avro decoder or
the batch transform: every input is parsed, or refused with ``ReceiptParseError`` /
``InvalidEvent`` / ``UndecodableRecord`` — never another exception.

Examples per target: DLRW_FUZZ_EXAMPLES (a few hundred by default; `make soak` runs 6,000 per
target: 120,000 over the adapters, 150,000 in all).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlrw.ingest.adapters import PROVIDERS, ReceiptParseError, parse_receipts
from dlrw.ingest.kafka.produce import event_from_line
from dlrw.ingest.pipeline.batch import prepare_batch
from dlrw.ingest.pipeline.records import PartitionRecords, SourceRecord
from dlrw.models.events import DeliveryReceipt, InvalidEvent
from dlrw.models.wire import HEADER_SIZE, UndecodableRecord, decode, encode_event, registry
from tests.adapters.hostile import DEEP, HUGE_INT
from tests.conftest import SAMPLES_DIR
from tests.models.test_wire_registry import lookup
from tests.pipeline.conftest import conversion, receipt, send
from tests.reliability.conftest import fuzz_examples

FUZZ = settings(
    max_examples=fuzz_examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_SAMPLE_FILES = {
    "smpp": "smpp.txt",
    "twilio": "twilio.txt",
    "infobip": "infobip.jsonl",
    "vonage": "vonage.txt",
}


def _samples(provider: str) -> list[str]:
    path = Path(SAMPLES_DIR) / _SAMPLE_FILES[provider]
    return [line for line in path.read_text().splitlines() if line.strip()]


@st.composite
def _mutated(draw: st.DrawFn, originals: list[str]) -> str:
    """A real payload with a few random edits: deletions, insertions, replacements, splices."""
    text = draw(st.sampled_from(originals))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "splice"]))
        at = draw(st.integers(0, len(text)))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif op == "insert":
            text = text[:at] + draw(st.text(max_size=12)) + text[at:]
        elif op == "replace" and text:
            at = min(at, len(text) - 1)
            text = text[:at] + draw(st.characters()) + text[at + 1 :]
        elif op == "truncate":
            text = text[:at]
        else:
            other = draw(st.sampled_from(originals))
            text = text[:at] + other[draw(st.integers(0, len(other))) :]
    return text


def _parse_or_refuse(provider: str, payload: str) -> None:
    try:
        receipts = parse_receipts(provider, payload, RECEIVED)
    except ReceiptParseError as exc:
        assert str(exc) and "\n" not in str(exc)  # a one-line reason to show
        return
    for parsed in receipts:
        assert isinstance(parsed, DeliveryReceipt)
        assert parsed.problem() is None
        encode_event(parsed)  # anything parsed can be published
        json.dumps(parsed.to_json_dict(), allow_nan=False)  # and printed as strict JSON
        assert parse_receipts(provider, parsed.raw, RECEIVED) == [parsed]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_arbitrary_text_is_parsed_or_refused(provider: str) -> None:
    @FUZZ
    @given(st.text(max_size=400))
    def check(payload: str) -> None:
        _parse_or_refuse(provider, payload)

    check()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mutated_real_payloads_are_parsed_or_refused(provider: str) -> None:
    @FUZZ
    @given(_mutated(_samples(provider)))
    def check(payload: str) -> None:
        _parse_or_refuse(provider, payload)

    check()


# -- hostile input: arbitrary JSON, form and SMPP text to every adapter and the event parser ----

# Values that crashed a parser, or nearly: numbers past a float or past int(), NaN, deep nesting.
_HOSTILE_JSON = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", HUGE_INT, "9" * 4300, DEEP]
_HOSTILE_JSON += ["[" * 40 + "]" * 40, "1E308", "-0", "1e-400", "2147483648", "-2147483649"]
# Texts that crashed a parser, or nearly: non-ASCII digits, years 0001/9999 with an offset, ...
_HOSTILE_TEXT = ["\u00b2", "\u0663", "\uff11", "9" * 5000, "NaN", "Infinity", "1e999", "-1", ""]
_HOSTILE_TEXT += ["0001-01-01T00:00:00.000+0100", "9999-12-31T23:59:59.000-0100", "9912312359"]
_HOSTILE_TEXT += ["0001-01-01T00:00:00+01:00", "2403121016", "240312101659", "+447700900123"]
_HOSTILE_TEXT += ["DELIVRD", "delivered", "DELIVERED_TO_HANDSET", "DELIVERED", "23410", "EUR"]
# Field names the adapters and the event parser read, so generated documents reach their rules.
_KEYS = ["results", "messageId", "status", "name", "groupName", "error", "id", "sentAt", "doneAt"]
_KEYS += ["smsCount", "mccMnc", "mccmnc", "price", "pricePerMessage", "currency", "to"]
_KEYS += ["recipient", "callbackData", "err-code", "network-code", "scts", "client-ref", "msisdn"]
_KEYS += ["type", "event_id", "message_id", "provider", "provider_message_id", "is_final"]
_KEYS += ["received_at", "submitted_at", "done_at", "occurred_at", "segments", "route_tier"]
_KEYS += ["destination", "sender_id", "raw", "value", "kind", "country", "route_id"]
_FORM_KEYS = ["MessageSid", "MessageStatus", "SmsStatus", "ErrorCode", "RawDlrDoneDate", "To"]
_FORM_KEYS += ["messageId", "status", "err-code", "network-code", "price", "scts", "msisdn"]
_FORM_KEYS += ["client-ref", "sig", "timestamp", "nonce"]
_SMPP_NAMES = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text", "SUB", "Id"]
_EVENTS = [e.to_json_dict() | {"type": e.event_type} for e in (send(1), receipt(3), conversion(5))]
_HOLE = "\x00hole{}\x00"


def _any_of(values: list[str]) -> st.SearchStrategy[str]:
    """One of ``values``, by index: a strategy that quotes 5,000-digit values in its repr makes
    hypothesis's output unreadable."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


_hostile_text = st.one_of(st.text(max_size=16), _any_of(_HOSTILE_TEXT))
_json_scalar = st.one_of(
    _any_of(["null", "true", "false", *_HOSTILE_JSON]),
    st.integers().map(str),
    st.floats().map(json.dumps),
    _hostile_text.map(json.dumps),
)
_json_text = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(_KEYS), st.text(max_size=6)).map(json.dumps), inner
            ),
            max_size=6,
        ).map(lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"),
    ),
    max_leaves=16,
)


def _json_samples() -> list[Any]:
    documents = [json.loads(line) for line in _samples("infobip")]
    return documents + [json.loads(line) for line in _samples("vonage") if line.startswith("{")]


def _node_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [path]
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            paths += _node_paths(child, (*path, key))
    return paths


@st.composite
def _json_with_hostile_values(draw: st.DrawFn, originals: list[Any]) -> str:
    """A real document with a few values replaced (or keys added) by arbitrary JSON text."""
    document = copy.deepcopy(draw(st.sampled_from(originals)))
    holes = draw(st.integers(1, 3))
    for hole in range(holes):
        path = draw(st.sampled_from(_node_paths(document)[1:]))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            parent[draw(st.sampled_from(_KEYS))] = _HOLE.format(hole)
        else:
            parent[path[-1]] = _HOLE.format(hole)
    text = json.dumps(document)
    for hole in range(holes):
        text = text.replace(json.dumps(_HOLE.format(hole)), draw(_json_text))
    return text


_json_payloads = st.one_of(
    _json_text,
    _json_text.map(lambda report: '{"results":[' + report + "]}"),
    _json_with_hostile_values(_json_samples()),
)


@st.composite
def _form_payloads(draw: st.DrawFn) -> str:
    """Form text: real callbacks' fields with values replaced, or arbitrary fields."""
    pairs = draw(
        st.one_of(
            st.sampled_from(_samples("twilio") + _samples("vonage")[1:]).map(parse_qsl),
            st.lists(st.tuples(st.sampled_from(_FORM_KEYS), _hostile_text), max_size=8),
        )
    )
    pairs = list(pairs)
    for _ in range(draw(st.integers(0, 3))):
        if pairs:
            index = draw(st.integers(0, len(pairs) - 1))
            pairs[index] = (pairs[index][0], draw(_hostile_text))
    pairs += draw(st.lists(st.tuples(st.sampled_from(_FORM_KEYS), _hostile_text), max_size=3))
    if draw(st.booleans()):
        return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in pairs)


@st.composite
def _smpp_payloads(draw: st.DrawFn) -> str:
    """SMPP receipt text with an id and a stat, other fields in any order, values hostile."""
    stat = st.one_of(st.sampled_from(["DELIVRD", "UNDELIV", "ENROUTE", "deliVRD"]), _hostile_text)
    fields = [("id", draw(_hostile_text)), ("stat", draw(stat))]
    fields += draw(st.lists(st.tuples(st.sampled_from(_SMPP_NAMES), _hostile_text), max_size=7))
    separator = draw(st.sampled_from([" ", "  ", "\t", "\r\n "]))
    return separator.join(f"{name}:{value}" for name, value in draw(st.permutations(fields)))


_PAYLOADS = {"json": _json_payloads, "form": _form_payloads(), "smpp": _smpp_payloads()}


@pytest.mark.parametrize("kind", _PAYLOADS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_hostile_payloads_are_parsed_or_refused(provider: str, kind: str) -> None:
    @FUZZ
    @given(_PAYLOADS[kind])
    def check(payload: str) -> None:
        _parse_or_refuse(provider, payload)

    check()


@FUZZ
@given(st.one_of(_json_text, _json_with_hostile_values(_EVENTS)), st.booleans())
def test_hostile_event_lines_are_events_or_refused(line: str, as_bytes: bool) -> None:
    try:
        event = event_from_line(line.encode() if as_bytes else line, b"fuzz-hash-key")
    except InvalidEvent as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert event.problem() is None
    encode_event(event)


# -- the Avro decoder ---------------------------------------------------------------------------

_REAL = [encode_event(e) for e in (send(1), send(2), receipt(3), receipt(4), conversion(5))]


def _decode_or_refuse(data: bytes) -> None:
    try:
        writer, record = decode(data)
    except UndecodableRecord as exc:
        assert str(exc)
        return
    assert isinstance(record, dict)
    assert writer.fingerprint == data[2:HEADER_SIZE]


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_are_decoded_or_refused(data: bytes) -> None:
    _decode_or_refuse(data)


@FUZZ
@given(st.sampled_from(sorted(registry().by_fingerprint, key=bytes.hex)), st.binary(max_size=400))
def test_known_header_with_random_body_is_decoded_or_refused(fp: bytes, body: bytes) -> None:
    _decode_or_refuse(b"\xc3\x01" + fp + body)


@FUZZ
@given(st.sampled_from(_REAL), st.data())
def test_truncated_and_bit_flipped_records_are_decoded_or_refused(
    record: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(record)))
    _decode_or_refuse(record[:cut])
    flipped = bytearray(record)
    for _ in range(data.draw(st.integers(1, 8))):
        bit = data.draw(st.integers(0, len(record) * 8 - 1))
        flipped[bit // 8] ^= 1 << (bit % 8)
    _decode_or_refuse(bytes(flipped))


# -- the batch transform: every record ends as an event or a dead letter -------------------------


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(_REAL),
            st.builds(lambda r, n: r[:n], st.sampled_from(_REAL), st.integers(0, 120)),
            st.none(),
        ),
        max_size=30,
    )
)
def test_every_record_of_a_batch_is_an_event_or_a_dead_letter(values: list[bytes | None]) -> None:
    by_topic: dict[tuple[str, int], list[SourceRecord]] = {}
    for offset, value in enumerate(values):
        topic = ("t.sends", "t.receipts", "t.conversions")[offset % 3]
        by_topic.setdefault((topic, 0), []).append(
            SourceRecord(topic, 0, offset, 1_700_000_000_000, b"k", value)
        )
    kinds = {"t.sends": "send", "t.receipts": "receipt", "t.conversions": "conversion"}
    partitions = [PartitionRecords.of(t, p, records) for (t, p), records in by_topic.items()]
    batch = prepare_batch(
        partitions, kinds, Path("/nonexistent"), RECEIVED, RECEIVED, schema_ids=lookup
    )
    assert sum(batch.events.values()) + len(batch.dead_letters) == len(values)
    assert all(d.reason for d in batch.dead_letters)
