"""Event ids come from content (not from when we got it); raw is redacted and re-parses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from dlrw.ingest.adapters import PROVIDERS, parse_receipts

FILES = {
    "smpp": "smpp.txt",
    "twilio": "twilio.txt",
    "infobip": "infobip.jsonl",
    "vonage": "vonage.txt",
}


def _sample_payloads(samples_dir: Path) -> list[tuple[str, str]]:
    return [
        (provider, line)
        for provider, name in FILES.items()
        for line in samples_dir.joinpath(name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def test_same_receipt_twice_gets_the_same_event_id(samples_dir: Path) -> None:
    for provider, payload in _sample_payloads(samples_dir):
        first = parse_receipts(provider, payload, datetime(2024, 3, 12, 11, tzinfo=UTC))
        again = parse_receipts(provider, payload, datetime(2024, 3, 13, 9, tzinfo=UTC))
        assert [r.event_id for r in first] == [r.event_id for r in again]


def test_different_content_gets_a_different_event_id(samples_dir: Path) -> None:
    ids = [
        receipt.event_id
        for provider, payload in _sample_payloads(samples_dir)
        for receipt in parse_receipts(provider, payload)
    ]
    assert len(set(ids)) == len(ids)


def test_same_payload_from_two_providers_is_two_events() -> None:
    payload = "messageId=1&MessageSid=1&status=delivered&MessageStatus=delivered"
    [twilio] = parse_receipts("twilio", payload)
    [vonage] = parse_receipts("vonage", payload)
    assert twilio.event_id != vonage.event_id


def test_event_id_is_sha256_of_provider_and_normalised_raw(samples_dir: Path) -> None:
    payload = samples_dir.joinpath("smpp.txt").read_text().splitlines()[0]
    [receipt] = parse_receipts("smpp", payload + "\r\n\x00")
    assert receipt.event_id == hashlib.sha256(f"smpp\n{payload}".encode()).hexdigest()[:32]


def test_json_key_order_does_not_change_the_event_id() -> None:
    forward = (
        '{"messageId":"0B00","status":"delivered","msisdn":"447547232824","scts":"1810251310"}'
    )
    backward = (
        '{"scts":"1810251310","msisdn":"447547232824","status":"delivered","messageId":"0B00"}'
    )
    assert (
        parse_receipts("vonage", forward)[0].event_id
        == parse_receipts("vonage", backward)[0].event_id
    )


def test_recipient_number_does_not_change_the_event_id() -> None:
    # one collect time: two calls of "now" can fall in different milliseconds
    at = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    first = parse_receipts("twilio", "To=%2B447700900123&MessageSid=SM1&MessageStatus=sent", at)
    second = parse_receipts("twilio", "To=%2B447700900999&MessageSid=SM1&MessageStatus=sent", at)
    assert first == second


def test_raw_re_parses_to_the_same_receipt(samples_dir: Path) -> None:
    for provider, payload in _sample_payloads(samples_dir):
        for receipt in parse_receipts(provider, payload):
            assert parse_receipts(provider, receipt.raw, receipt.received_at) == [receipt]


def test_received_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    [receipt] = parse_receipts("twilio", "MessageSid=SM1&MessageStatus=sent")
    assert before <= receipt.received_at <= datetime.now(UTC)
    assert receipt.received_at.tzinfo is UTC


def test_received_at_is_utc_and_cut_to_milliseconds() -> None:
    local = datetime(2024, 3, 12, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    [aware] = parse_receipts("twilio", "MessageSid=SM1&MessageStatus=sent", local)
    [naive] = parse_receipts(
        "twilio", "MessageSid=SM1&MessageStatus=sent", datetime(2024, 3, 12, 11)
    )
    assert aware.received_at == datetime(2024, 3, 12, 11, 0, 0, 123000, tzinfo=UTC)
    assert naive.received_at == datetime(2024, 3, 12, 11, tzinfo=UTC)


def test_unknown_provider_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown provider 'sinch'; expected one of smpp, twilio"):
        parse_receipts("sinch", "x")


def test_providers_lists_every_adapter() -> None:
    assert PROVIDERS == ("smpp", "twilio", "infobip", "vonage")
