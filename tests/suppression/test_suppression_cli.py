"""`dlrw hash-numbers` and `dlrw suppression-list` as users run them: hashes equal to those
`dlrw produce` publishes, bad input in one line each, never a number shown. The list against the
simulator's truth is in tests/build/test_truth.py (it needs a built warehouse)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from dlrw.ingest.config import Settings
from dlrw.models.events import SendEvent
from dlrw.models.wire import decode
from tests.cli import run_dlrw, user_env
from tests.kafka.conftest import read_records

NUMBERS = ("+447700900123", "+14155550123", "+919812345678")
SEND = {
    "type": "send",
    "provider": "twilio",
    "country": "GB",
    "route_id": "uk-direct",
    "route_tier": 1,
    "segments": 1,
    "submitted_at": "2025-03-01T10:00:00Z",
}


@pytest.mark.broker
def test_hash_numbers_gives_the_hashes_produce_published(
    broker_settings: Settings, tmp_path: Path
) -> None:
    """Both use the key generated once into the data dir (no DLRW_HASH_KEY)."""
    env = user_env(
        broker_settings.data_dir,
        DLRW_KAFKA_BOOTSTRAP=broker_settings.kafka_bootstrap,
        DLRW_TOPIC_PREFIX=broker_settings.topic_prefix,
    )
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({**SEND, "event_id": f"e-{i}", "message_id": f"m-{i}", "destination": n})
            + "\n"
            for i, n in enumerate(NUMBERS)
        )
    )
    produced = run_dlrw(["produce", str(events)], env)
    assert produced.returncode == 0, produced.stderr
    topic = broker_settings.topic("send")
    sends = [
        SendEvent.from_dict(decode(v)[1]) for _, v in read_records(broker_settings, [topic])[topic]
    ]
    published = {s.message_id: s.destination_hash for s in sends}

    hashed = run_dlrw(["hash-numbers"], env, stdin="\n".join(NUMBERS) + "\n")

    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout.splitlines() == [published[f"m-{i}"] for i in range(len(NUMBERS))]
    assert hashed.stderr == ""


def test_hash_numbers_reports_bad_lines_without_the_numbers(tmp_path: Path) -> None:
    """A bad line: an empty output line (the output stays line for line) and `line N: reason`;
    exit 1; neither output nor errors show any part of a number."""
    lines = [
        b"+447700900123",
        b"",
        b"+44 7700 900123",  # spaced
        b"447700900123",  # no '+'
        b"+0447700900123",  # country code starting with 0
        b"+4477009001234567",  # 16 digits
        b"+44770090\xff123",  # not UTF-8
        b"  +14155550123\r",  # whitespace around it is fine
    ]
    source = tmp_path / "contacts.txt"
    source.write_bytes(b"\n".join(lines) + b"\n")
    env = user_env(tmp_path / "data", DLRW_HASH_KEY="test-hash-key")

    result = run_dlrw(["hash-numbers", str(source)], env)

    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert len(out) == len(lines)
    assert [bool(line) for line in out] == [True, False, False, False, False, False, False, True]
    assert all(re.fullmatch(r"[0-9a-f]{64}", line) for line in out if line)
    errors = result.stderr.splitlines()
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in (3, 4, 5, 6, 7)]
    assert errors[0].startswith("line 3: not an E.164 number")
    assert errors[-1] == "line 7: not UTF-8 text"
    assert "Traceback" not in result.stderr
    # no run of three digits but the standard's name: no number, masked or not
    assert not re.search(r"[0-9]{3}", result.stderr.replace("E.164", ""))


def test_hash_numbers_refuses_to_make_up_a_key(tmp_path: Path) -> None:
    """Without DLRW_HASH_KEY or the data dir's hash.key, hashes would match nothing: exit 2."""
    data_dir = tmp_path / "data"

    result = run_dlrw(["hash-numbers"], user_env(data_dir), stdin="+447700900123\n")

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "no hash key" in result.stderr and "DLRW_HASH_KEY" in result.stderr
    assert not (data_dir / "hash.key").exists()


def test_suppression_list_says_what_is_missing_in_one_line(tmp_path: Path) -> None:
    env = user_env(tmp_path, DLRW_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}")
    no_warehouse = run_dlrw(["suppression-list"], env)
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    not_built = run_dlrw(["suppression-list"], env)
    zero = run_dlrw(["suppression-list", "--min-failures", "0"], env)

    for result in (no_warehouse, not_built, zero):
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
    assert no_warehouse.returncode == 1 and "no warehouse at" in no_warehouse.stderr
    assert not_built.returncode == 1 and "dim_destinations" in not_built.stderr
    assert "dlrw build" in not_built.stderr
    assert zero.returncode == 2 and "--min-failures must be at least 1" in zero.stderr
