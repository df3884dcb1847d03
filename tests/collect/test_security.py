"""`dlrw collect` against forged, replayed and unauthenticated callbacks: what it refuses writes
nothing to any topic, and what it logs holds no phone number."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from dlrw.ingest.collect.signatures import vonage_signature
from dlrw.ingest.config import Settings
from dlrw.models.wire import decode
from tests.conftest import SAMPLES_DIR

from .conftest import (
    FORM,
    JSON,
    SECRETS,
    Reply,
    read_topic,
    topic_size,
    twilio_headers,
    vonage_signed,
)

pytestmark = pytest.mark.broker

VONAGE_JSON, VONAGE_QUERY = (SAMPLES_DIR / "vonage.txt").read_text().splitlines()[:2]
TWILIO = (SAMPLES_DIR / "twilio.txt").read_text().splitlines()[1]
FORGED = {"messageId": "FORGED-0001", "status": "delivered", "price": "999"}


def _signed_query(line: str, timestamp: float | None = None) -> str:
    """The query-string receipt ``line`` as Vonage signs it: the signing fields appended."""
    signed = vonage_signed(dict(parse_qsl(line, keep_blank_values=True)), timestamp)
    return f"{line}&{urlencode({k: signed[k] for k in ('timestamp', 'nonce', 'sig')})}"


def _signed_json(timestamp: float | None = None) -> str:
    return json.dumps(vonage_signed(json.loads(VONAGE_JSON), timestamp))


def _published_ids(settings: Settings) -> list[str]:
    return [decode(r.value)[1]["provider_message_id"] for r in read_topic(settings, "receipt")]


def _statuses(replies: dict[str, Reply]) -> dict[str, int]:
    return {name: reply.status for name, reply in replies.items()}


def test_a_forged_prefix_on_a_signed_vonage_callback_is_refused(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    query = _signed_query(VONAGE_QUERY)
    document = _signed_json()
    # Fields put in front of a captured callback: its signature still covers the later copies.
    forged_query = urlencode(FORGED) + "&" + query
    forged_json = json.dumps(FORGED)[:-1] + ", " + document[1:]
    with collect(broker_settings, **SECRETS) as service:
        replies = {
            "query (GET)": service.request(f"/receipts/vonage?{forged_query}"),
            "query (POST form)": service.request("/receipts/vonage", forged_query, FORM),
            "json": service.request("/receipts/vonage", forged_json, JSON),
        }
        genuine = service.request("/receipts/vonage", document, JSON)
    assert _statuses(replies) == dict.fromkeys(replies, 403)
    assert all("given twice" in reply.body["error"] for reply in replies.values())
    assert genuine.status == 200
    assert _published_ids(broker_settings) == [json.loads(VONAGE_JSON)["messageId"]]
    assert topic_size(broker_settings, "deadletter") == 0


def test_a_repeated_field_is_refused_in_signed_twilio_and_vonage_callbacks(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    # Twilio signs the sorted set of name-value pairs: a copy of a pair, or the values of a
    # field given twice in another order, leave the signature as it was.
    copied = TWILIO + "&MessageStatus=delivered"
    two_statuses = TWILIO.replace("MessageStatus=delivered", "MessageStatus=sent")
    two_statuses += "&MessageStatus=delivered"
    swapped = TWILIO + "&MessageStatus=sent"
    vonage = _signed_query(VONAGE_QUERY)
    with collect(broker_settings, **SECRETS) as service:
        replies = {
            "twilio copied pair": service.request(
                "/receipts/twilio", copied, twilio_headers(TWILIO)
            ),
            "twilio values swapped": service.request(
                "/receipts/twilio", swapped, twilio_headers(two_statuses)
            ),
            "vonage copied pair": service.request(f"/receipts/vonage?{vonage}&status=delivered"),
        }
    assert _statuses(replies) == dict.fromkeys(replies, 403)
    assert all("given twice" in reply.body["error"] for reply in replies.values())
    assert topic_size(broker_settings, "receipt") == 0
    assert topic_size(broker_settings, "deadletter") == 0


def test_signed_vonage_callbacks_outside_the_timestamp_window_are_refused(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    unstamped = json.loads(VONAGE_JSON) | {"nonce": "6d8b5f0c-test"}
    unstamped["sig"] = vonage_signature(unstamped, SECRETS["DLRW_VONAGE_SIGNATURE_SECRET"])
    with collect(broker_settings, **SECRETS) as service:
        now = time.time()
        replies = {
            "stale": service.request("/receipts/vonage", _signed_json(now - 400), JSON),
            "future": service.request(f"/receipts/vonage?{_signed_query(VONAGE_QUERY, now + 400)}"),
            "no timestamp": service.request("/receipts/vonage", json.dumps(unstamped), JSON),
        }
        fresh = service.request("/receipts/vonage", _signed_json(now - 60), JSON)
    assert _statuses(replies) == dict.fromkeys(replies, 403)
    assert "s old, outside the 300s window" in replies["stale"].body["error"]
    assert "s ahead of our clock, outside the 300s window" in replies["future"].body["error"]
    assert replies["no timestamp"].body["error"] == "signed callback without a timestamp"
    assert fresh.status == 200

    with collect(broker_settings, **SECRETS, DLRW_VONAGE_TIMESTAMP_WINDOW="30") as service:
        narrow = service.request("/receipts/vonage", _signed_json(time.time() - 60), JSON)
        within = service.request("/receipts/vonage", _signed_json(time.time() - 5), JSON)
    assert narrow.status == 403
    assert "outside the 30s window" in narrow.body["error"]
    assert within.status == 200
    assert topic_size(broker_settings, "receipt") == 2  # fresh and within, nothing else
    assert topic_size(broker_settings, "deadletter") == 0


def test_unauthenticated_vonage_garbage_is_refused_and_never_dead_lettered(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    signed = _signed_query(VONAGE_QUERY)
    bodies: dict[str, bytes] = {
        "bytes, no sig": b"\xff\xfe\x00" + b"\x9c" * 4096,
        "bytes, wrong sig": VONAGE_QUERY.encode() + b"&sig=00ff&x=\xff",
        "bytes in a signed callback": signed.encode() + b"&x=\xff",
        "not JSON": b'{"messageId": "0B00000127FDBC63", "status": ',
        "JSON array": b"[1, 2, 3]",
        "no receipt, no sig": b"hello",
    }
    with collect(broker_settings, **SECRETS) as service:
        replies = {
            name: service.request("/receipts/vonage", body, FORM) for name, body in bodies.items()
        }
        twilio = service.request("/receipts/twilio", b"MessageSid=\xff", FORM)
    assert _statuses(replies) == dict.fromkeys(replies, 403)
    assert "not UTF-8" in replies["bytes, no sig"].body["error"]
    assert twilio.status == 403
    assert topic_size(broker_settings, "deadletter") == 0
    assert topic_size(broker_settings, "receipt") == 0


def test_without_a_vonage_secret_unreadable_callbacks_are_dead_lettered(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    bodies = [b"\xff\xfe garbage", (VONAGE_QUERY + "&status=failed").encode()]
    with collect(broker_settings) as service:
        replies = [service.request("/receipts/vonage", body, FORM) for body in bodies]
    assert [r.status for r in replies] == [400, 400]
    assert replies[1].body["error"] == "field 'status' given twice"
    letters = read_topic(broker_settings, "deadletter")
    assert sorted(record.value for record in letters) == sorted(bodies)
    assert topic_size(broker_settings, "receipt") == 0


def test_phone_numbers_written_with_spaces_are_masked_in_the_log(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    numbers = [
        "+44 7700 900 123",
        "+44 (0)7700-900-124",
        "+1 415.867.5309",
        "0044\u00a07700\u00a0900\u00a0125",
        "+447700900126",
    ]
    with collect(broker_settings, **SECRETS) as service:
        replies = []
        for number in numbers:
            body = TWILIO.replace("MessageStatus=delivered", urlencode({"MessageStatus": number}))
            replies.append(service.request("/receipts/twilio", body, twilio_headers(body)))
        log = service.log()
    # The number is the reason the callback was refused: the provider is told, the log is not.
    assert [r.status for r in replies] == [400] * len(numbers)
    assert all("status" in r.body["error"] for r in replies)
    assert log.count("unknown Twilio status '<digits>'") == len(numbers), log
    for number in numbers:
        assert number not in log
        assert repr(number)[1:-1] not in log
