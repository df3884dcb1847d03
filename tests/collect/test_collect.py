"""`dlrw collect` end to end: real HTTP requests to the service running as a subprocess, and the
records read back from the real broker."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from dlrw.ingest.adapters import parse_receipts
from dlrw.ingest.config import Settings
from dlrw.models.events import DeliveryReceipt
from dlrw.models.wire import decode
from tests.conftest import SAMPLES_DIR

from .conftest import (
    FORM,
    JSON,
    SECRETS,
    Service,
    free_port,
    read_topic,
    topic_size,
    twilio_headers,
    vonage_signed,
)

pytestmark = pytest.mark.broker

SHARED = {"X-Dlrw-Secret": SECRETS["DLRW_COLLECT_SHARED_SECRET"]}


def _lines(name: str) -> list[str]:
    return [line for line in (SAMPLES_DIR / name).read_text().splitlines() if line.strip()]


def _send_samples(service: Service) -> list[str]:
    """Every sample, sent the way its provider sends it, signed; the event ids answered."""
    replies = []
    for body in _lines("twilio.txt"):
        replies.append(service.request("/receipts/twilio", body, twilio_headers(body)))
    for line in _lines("vonage.txt"):
        if line.startswith("{"):
            document = vonage_signed(json.loads(line))
            replies.append(service.request("/receipts/vonage", json.dumps(document), JSON))
        else:
            # Appended, so the receipt's own fields keep their order and encoding.
            signed = vonage_signed(dict(parse_qsl(line, keep_blank_values=True)))
            extra = {k: signed[k] for k in ("timestamp", "nonce", "sig")}
            replies.append(service.request(f"/receipts/vonage?{line}&{urlencode(extra)}"))
    for report in _lines("infobip.jsonl"):
        replies.append(service.request("/receipts/infobip", report, JSON | SHARED))
    # A gateway forwards several receipt lines at once, with the token in the URL.
    smpp = (SAMPLES_DIR / "smpp.txt").read_bytes()
    token = SECRETS["DLRW_COLLECT_SHARED_SECRET"]
    replies.append(service.request(f"/receipts/smpp?token={token}", smpp))
    assert [r.status for r in replies] == [200] * len(replies), [r.body for r in replies]
    return [event_id for r in replies for event_id in r.body["event_ids"]]


def _expected() -> dict[str, DeliveryReceipt]:
    receipts = []
    for provider, name in [
        ("twilio", "twilio.txt"),
        ("vonage", "vonage.txt"),
        ("infobip", "infobip.jsonl"),
        ("smpp", "smpp.txt"),
    ]:
        for line in _lines(name):
            receipts += parse_receipts(provider, line)
    return {r.event_id: r for r in receipts}


def _without_received_at(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "received_at"}


def test_every_sample_arrives_on_the_receipts_topic_exactly_once(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    expected = _expected()
    with collect(broker_settings, **SECRETS) as service:
        answered = _send_samples(service)
    assert sorted(answered) == sorted(expected)

    records = read_topic(broker_settings, "receipt")
    assert len(records) == topic_size(broker_settings, "receipt")
    decoded = [(record.key, decode(record.value)[1]) for record in records]
    counts = Counter(fields["event_id"] for _, fields in decoded)
    assert counts == Counter(expected.keys())  # each once, none missing, nothing else
    for key, fields in decoded:
        receipt = expected[fields["event_id"]]
        assert key == receipt.key()
        assert _without_received_at(fields) == _without_received_at(receipt.to_dict())
    assert topic_size(broker_settings, "deadletter") == 0


def test_bad_signatures_are_refused_and_nothing_is_published(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    twilio = _lines("twilio.txt")[1]
    vonage = json.loads(_lines("vonage.txt")[0])
    tampered = vonage_signed(vonage) | {"status": "failed"}
    infobip = _lines("infobip.jsonl")[0]
    smpp = _lines("smpp.txt")[0]
    with collect(broker_settings, **SECRETS) as service:
        replies = {
            "twilio unsigned": service.request("/receipts/twilio", twilio, FORM),
            "twilio wrong token": service.request(
                "/receipts/twilio",
                twilio,
                FORM | {"X-Twilio-Signature": twilio_headers(twilio)["X-Twilio-Signature"][::-1]},
            ),
            # Signed for the internal URL, not the public one Twilio called.
            "twilio wrong url": service.request(
                "/receipts/twilio",
                twilio,
                twilio_headers(twilio, service.url + "/receipts/twilio"),
            ),
            "vonage unsigned": service.request("/receipts/vonage", json.dumps(vonage), JSON),
            "vonage tampered": service.request("/receipts/vonage", json.dumps(tampered), JSON),
            "infobip wrong secret": service.request(
                "/receipts/infobip", infobip, JSON | {"X-Dlrw-Secret": "guess"}
            ),
            "smpp no secret": service.request("/receipts/smpp", smpp),
            "smpp wrong token": service.request("/receipts/smpp?token=guess", smpp),
        }
        log = service.log()
    assert {name: r.status for name, r in replies.items()} == dict.fromkeys(replies, 403)
    assert all(r.body["error"] for r in replies.values())
    assert topic_size(broker_settings, "receipt") == 0
    assert topic_size(broker_settings, "deadletter") == 0
    assert log.count(" 403 ") == len(replies)


def test_unparseable_bodies_are_dead_lettered_with_their_reason(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    smpp_lines = _lines("smpp.txt")
    bad: dict[str, tuple[str, str | bytes, str]] = {
        # A signed Twilio callback without a MessageSid: authentic, but not a receipt.
        "twilio": ("/receipts/twilio", "MessageStatus=delivered&To=%2B447700900123", "MessageSid"),
        "infobip": ("/receipts/infobip", '{"results": [{"messageId": ', "JSON"),
        # One bad line makes the whole forwarded batch bad: nothing of it is published.
        "smpp": (
            "/receipts/smpp",
            "\n".join([smpp_lines[0], "id:1 stat:WHATEVER err:000", smpp_lines[1]]),
            "WHATEVER",
        ),
        "smpp bytes": ("/receipts/smpp", b"id:\xff\xfe stat:DELIVRD", "UTF-8"),
    }
    with collect(broker_settings, **SECRETS) as service:
        replies = {}
        for name, (path, body, _) in bad.items():
            headers = twilio_headers(body) if isinstance(body, str) and name == "twilio" else SHARED
            replies[name] = service.request(path, body, headers)
        log = service.log()
    for name, (_, _, words) in bad.items():
        assert replies[name].status == 400, replies[name]
        assert words in replies[name].body["error"]

    letters = read_topic(broker_settings, "deadletter")
    assert len(letters) == len(bad) == topic_size(broker_settings, "deadletter")
    by_value = {record.value: dict(record.headers) for record in letters}
    for name, (path, body, _) in bad.items():
        raw = body.encode() if isinstance(body, str) else body
        headers = by_value[raw]
        assert headers["dlrw.error.class"] == b"ReceiptParseError"
        assert headers["dlrw.error.reason"] == replies[name].body["error"].encode()
        assert headers["dlrw.source.http"] == f"POST {path}".encode()
    assert topic_size(broker_settings, "receipt") == 0
    # The phone number in the Twilio body is kept on the dead-letter topic, never logged.
    assert "447700900123" not in log


def test_broker_down_answers_503_and_acknowledges_nothing(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    nowhere = broker_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    with collect(nowhere) as service:
        assert service.request("/healthz").status == 200
        ready = service.request("/readyz")
        first = service.request("/receipts/smpp", _lines("smpp.txt")[0])
        time.sleep(1.2)  # past the pause after a failed connection: a fresh attempt fails too
        second = service.request("/receipts/twilio", _lines("twilio.txt")[0], FORM)
    assert ready.status == 503
    assert "not reachable" in ready.body["error"]
    assert (first.status, second.status) == (503, 503)
    # The same topics on the real broker: nothing reached them.
    assert topic_size(broker_settings, "receipt") == 0
    assert topic_size(broker_settings, "deadletter") == 0


def test_endpoints_without_a_secret_accept_unsigned_callbacks_and_say_so(
    broker_settings: Settings, collect: Callable[..., Any], tmp_path: Path
) -> None:
    with collect(broker_settings) as service:
        ready = service.request("/readyz")
        reply = service.request("/receipts/twilio", _lines("twilio.txt")[2], FORM)
        openapi = service.request("/openapi.json")
        log = service.log()
    assert ready.status == 200
    assert reply.status == 200
    assert reply.body["received"] == 1
    for provider in ("twilio", "vonage", "infobip", "smpp"):
        assert f"/receipts/{provider} accepts unsigned requests" in log
        assert f"/receipts/{provider}" in openapi.body["paths"]
    assert "/readyz" in openapi.body["paths"]
    assert "POST /receipts/twilio 200" in log
    assert "+919800000001" not in log
