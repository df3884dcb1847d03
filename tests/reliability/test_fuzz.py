"""Bad input never crashes the adapters, the Avro decoder or the batch transform: every input is
parsed, or refused with ``ReceiptParseError`` / ``UndecodableRecord`` — never another exception.

Examples per target: DLRW_FUZZ_EXAMPLES (a few hundred by default; `make soak` runs 20,000 per
target, over 100,000 in all).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.adapters import PROVIDERS, ReceiptParseError, parse_receipts
from ingest.pipeline.batch import prepare_batch
from ingest.pipeline.records import PartitionRecords, SourceRecord
from models.events import DeliveryReceipt
from models.wire import HEADER_SIZE, UndecodableRecord, decode, encode_event, registry
from tests.conftest import SAMPLES_DIR
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
        assert str(exc)  # a reason to show
        return
    for parsed in receipts:
        assert isinstance(parsed, DeliveryReceipt)
        assert parsed.problem() is None
        encode_event(parsed)  # anything parsed can be published


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
    batch = prepare_batch(partitions, kinds, Path("/nonexistent"), RECEIVED, RECEIVED)
    assert sum(batch.events.values()) + len(batch.dead_letters) == len(values)
    assert all(d.reason for d in batch.dead_letters)
