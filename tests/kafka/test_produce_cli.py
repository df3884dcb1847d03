"""`dlrw produce FILE.jsonl`: good lines published, bad ones reported, numbers hashed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.pii import InvalidDestination, hash_destination, mask_number
from dlrw.models.events import SendEvent
from dlrw.models.wire import decode
from tests.adapters.hostile import DEEP, HUGE_INT
from tests.kafka.conftest import ROOT

pytestmark = pytest.mark.broker

NUMBER = "+447700900123"
SEND = {
    "type": "send",
    "event_id": "e-send-1",
    "message_id": "m-1",
    "provider": "twilio",
    "destination": NUMBER,
    "country": "GB",
    "route_id": "uk-direct",
    "route_tier": 1,
    "segments": 1,
    "submitted_at": "2025-03-01T10:00:00.123Z",
}
RECEIPT = {
    "type": "receipt",
    "event_id": "e-receipt-1",
    "provider": "twilio",
    "provider_message_id": "SM1",
    "message_id": "m-1",
    "status": "DELIVERED",
    "is_final": True,
    "received_at": "2025-03-01T10:00:05Z",
    "done_at": "2025-03-01T10:00:04+00:00",
    "raw": "{}",
}
CONVERSION = {
    "type": "conversion",
    "event_id": "e-conv-1",
    "message_id": "m-1",
    "kind": "click",
    "occurred_at": "2025-03-01T10:05:00Z",
    "value": 12.5,
}


def _lines() -> list[str]:
    return [
        json.dumps(SEND),  # 1 good
        "{not json",  # 2
        json.dumps({**SEND, "event_id": "e-send-2", "country": "gb"}),  # 3: carries NUMBER
        json.dumps(RECEIPT),  # 4 good
        "",  # 5 blank: ignored
        json.dumps({**SEND, "event_id": "e-send-3", "destination": "+44 7700 900123"}),  # 6
        json.dumps({**RECEIPT, "event_id": "e-receipt-2", "is_final": False}),  # 7
        json.dumps({**CONVERSION, "type": "click"}),  # 8
        json.dumps({**SEND, "event_id": "e-send-4", "segments": "2"}),  # 9
        json.dumps(CONVERSION),  # 10 good
        json.dumps({**SEND, "event_id": "e-send-5", "message_id": "m-5"}),  # 11 good
    ]


def test_produce_publishes_good_lines_and_reports_bad_ones(
    broker_settings: Settings, tmp_path: Path, run_dlrw, dlrw_env, read_topics
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(_lines()) + "\n")

    result = run_dlrw(["produce", str(path)], dlrw_env(broker_settings))

    assert result.returncode == 1, result.stderr
    bad = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in bad] == [f"line {n}" for n in (2, 3, 6, 7, 8, 9)]
    assert "line 3: country" in result.stderr
    assert "line 9: segments: expected int" in result.stderr
    assert "Traceback" not in result.stderr
    assert "published 4 events (2 send, 1 receipt, 1 conversion)" in result.stdout
    assert "6 bad lines" in result.stdout

    topics = [broker_settings.topic(t) for t in ("send", "receipt", "conversion", "deadletter")]
    records = read_topics(broker_settings, topics)
    ids = sorted(decode(value)[1]["event_id"] for t in topics for _, value in records[t])
    assert ids == ["e-conv-1", "e-receipt-1", "e-send-1", "e-send-5"]

    expected_hash = hash_destination(NUMBER, b"test-hash-key")
    sends = [SendEvent.from_dict(decode(v)[1]) for _, v in records[topics[0]]]
    assert {s.destination_hash for s in sends} == {expected_hash}
    digits = NUMBER.lstrip("+")
    everything = b"".join(k + v for t in topics for k, v in records[t])
    assert digits.encode() not in everything
    assert digits not in result.stdout + result.stderr


def _hostile_lines() -> list[tuple[str, str]]:
    """(line, reason) for lines that crashed `dlrw produce` mid-file (issue 16)."""
    huge = json.dumps({**SEND, "event_id": "e-huge", "segments": 0})
    return [
        (
            '{"type": "conversion", "event_id": "e-deep", "kind": ' + DEEP + "}",
            "JSON nested deeper than 32 levels",
        ),
        (
            huge.replace('"segments": 0', f'"segments": {HUGE_INT}'),
            "JSON integer longer than 4300 digits",
        ),
        (
            json.dumps({**CONVERSION, "occurred_at": "0001-01-01T00:00:00+01:00"}),
            "occurred_at: 0001-01-01T00:00:00+01:00 is out of range in UTC",
        ),
        (
            json.dumps({**RECEIPT, "done_at": "9999-12-31T23:59:59-01:00"}),
            "done_at: 9999-12-31T23:59:59-01:00 is out of range in UTC",
        ),
        (
            json.dumps({**CONVERSION, "occurred_at": 10**30}),
            "occurred_at: epoch milliseconds out of range",
        ),
        (
            json.dumps({**CONVERSION, "value": 0.5}).replace("0.5", "1e999"),
            "not JSON: number 1e999 is out of range",
        ),
        (
            json.dumps({**SEND, "sender_id": int(NUMBER)}),
            f"sender_id: expected null or string, got int {mask_number(NUMBER[1:])}",
        ),
    ]


def test_produce_reports_lines_that_crashed_it_and_reads_on(
    broker_settings: Settings, tmp_path: Path, run_dlrw, dlrw_env, read_topics
) -> None:
    hostile = _hostile_lines()
    lines = [json.dumps(CONVERSION), *(line for line, _ in hostile), json.dumps(RECEIPT)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = run_dlrw(["produce", str(path)], dlrw_env(broker_settings))

    assert result.returncode == 1, result.stderr
    bad = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert bad == [f"line {n}: {reason}" for n, (_, reason) in enumerate(hostile, start=2)]
    assert "published 2 events (0 send, 1 receipt, 1 conversion)" in result.stdout
    assert NUMBER[1:] not in result.stdout + result.stderr
    topics = [broker_settings.topic(t) for t in ("receipt", "conversion")]
    records = read_topics(broker_settings, topics)
    ids = sorted(decode(value)[1]["event_id"] for t in topics for _, value in records[t])
    assert ids == ["e-conv-1", "e-receipt-1"]


def test_produce_reads_stdin_and_exits_zero_when_all_lines_are_good(
    broker_settings: Settings, run_dlrw, dlrw_env
) -> None:
    result = run_dlrw(
        ["produce", "-"], dlrw_env(broker_settings), stdin=json.dumps(CONVERSION) + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert "published 1 events" in result.stdout


def test_produce_missing_file_is_one_line(settings: Settings, run_dlrw, dlrw_env) -> None:
    result = run_dlrw(["produce", "/nonexistent/events.jsonl"], dlrw_env(settings))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "cannot read /nonexistent/events.jsonl" in result.stderr


def test_hash_destination_is_keyed_and_rejects_non_e164() -> None:
    assert hash_destination(NUMBER, b"a") == hash_destination(NUMBER, b"a")
    assert hash_destination(NUMBER, b"a") != hash_destination(NUMBER, b"b")
    assert len(hash_destination(NUMBER, b"a")) == 64
    for bad in (
        "447700900123",
        "+0447700900123",
        "+44 7700 900123",
        "+1234567890123456",
        "+\uff14\uff1477009001",  # fullwidth digits are not E.164 digits,
    ):
        with pytest.raises(InvalidDestination) as info:
            hash_destination(bad, b"a")
        assert bad not in str(info.value)
    assert mask_number(NUMBER) == "+44********23"


def _long_file(path: Path, lines: int) -> dict[int, str]:
    """``lines`` receipt lines of five keys (event id ``e-N`` on line N, about 400 bytes each,
    so the file is several chunks long), a blank line and a bad line now and then; returns the
    reason expected for each bad line."""
    out, bad = [], {}
    for number in range(1, lines + 1):
        if number % 1000 == 0:
            out.append(json.dumps({**SEND, "event_id": f"e-{number}", "segments": "2"}))
            bad[number] = "segments: expected int, got str '2'"
        elif number % 777 == 0:
            out.append("")
        else:
            key = f"SM{number % 5}"
            raw = f"id:{key} line:{number} " + "x" * 300
            receipt = {"event_id": f"e-{number}", "provider_message_id": key, "raw": raw}
            out.append(json.dumps(RECEIPT | receipt))
    path.write_text("\n".join(out) + "\n")
    return bad


def _receipt_ids_by_key(settings: Settings, read_topics) -> dict[bytes, list[str]]:
    topic = settings.topic("receipt")
    by_key: dict[bytes, list[str]] = {}
    for key, value in read_topics(settings, [topic])[topic]:
        by_key.setdefault(key, []).append(decode(value)[1]["event_id"])
    return by_key


def test_produce_of_a_long_file_keeps_line_numbers_and_the_order_of_each_key(
    broker_settings: Settings, tmp_path: Path, run_dlrw, dlrw_env, read_topics
) -> None:
    """Several chunks of lines, encoded by worker processes: each bad line is reported with its
    number and nothing is published for it, and each key's events keep the file's order."""
    path = tmp_path / "events.jsonl"
    bad = _long_file(path, 9000)
    assert path.stat().st_size > 3 * 2**20

    result = run_dlrw(["produce", str(path)], dlrw_env(broker_settings))

    assert result.returncode == 1, result.stderr
    reported = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert reported == [f"line {number}: {reason}" for number, reason in bad.items()]
    good = [n for n in range(1, 9001) if n not in bad and n % 777]
    assert result.stdout.startswith(f"published {len(good)} events (0 send, {len(good)} receipt")
    by_key = _receipt_ids_by_key(broker_settings, read_topics)
    assert by_key == {
        f"twilio:SM{k}".encode(): [f"e-{n}" for n in good if n % 5 == k] for k in range(5)
    }


def test_produce_skip_lines_inside_a_chunk_publishes_exactly_the_rest(
    broker_settings: Settings, tmp_path: Path, run_dlrw, dlrw_env, read_topics
) -> None:
    path = tmp_path / "events.jsonl"
    bad = _long_file(path, 9000)
    skip = 4321  # in the middle of the second chunk of 1 MiB

    result = run_dlrw(["produce", str(path), "--skip-lines", str(skip)], dlrw_env(broker_settings))

    assert result.returncode == 1, result.stderr
    reported = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert reported == [f"line {n}: {reason}" for n, reason in bad.items() if n > skip]
    published = sorted(
        int(event_id[2:])
        for ids in _receipt_ids_by_key(broker_settings, read_topics).values()
        for event_id in ids
    )
    assert published == [n for n in range(skip + 1, 9001) if n not in bad and n % 777]


def test_produce_publishes_a_pipe_s_lines_without_waiting_for_the_next_one(
    broker_settings: Settings, dlrw_env, read_topics
) -> None:
    """A line is published once it is whole, even when the next one is only half written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dlrw.ingest.cli", "produce", "-"],
        cwd=ROOT,
        env=dlrw_env(broker_settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None
        second = json.dumps({**CONVERSION, "event_id": "e-conv-2"}).encode()
        process.stdin.write(json.dumps(CONVERSION).encode() + b"\n" + second[:20])
        process.stdin.flush()
        topic = broker_settings.topic("conversion")
        deadline = time.monotonic() + 60
        while not read_topics(broker_settings, [topic])[topic]:
            assert time.monotonic() < deadline, "the whole line was not published"
            time.sleep(0.2)
        out, err = process.communicate(second[20:] + b"\n", timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.startswith(b"published 2 events")
