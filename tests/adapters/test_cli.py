"""``dlrw parse-receipt``: JSON lines out, ``line N: reason`` for bad lines, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dlrw.ingest.adapters import parse_receipts
from dlrw.models.events import parse_timestamp
from tests.adapters.hostile import HOSTILE_RECEIPTS, infobip_document
from tests.cli import run_dlrw, user_env

RECEIVED_AT = "2024-03-12T11:00:00Z"


def _parse_receipt(*args: str, stdin: str = "", data_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_dlrw(["parse-receipt", *args], user_env(data_dir), stdin=stdin)


def _expected(provider: str, lines: list[str]) -> list[dict[str, object]]:
    at = parse_timestamp(RECEIVED_AT)
    return [r.to_json_dict() for line in lines for r in parse_receipts(provider, line, at)]


def test_cli_prints_receipts_and_reports_a_bad_line_with_exit_1(
    samples_dir: Path, tmp_path: Path
) -> None:
    good = samples_dir.joinpath("smpp.txt").read_text().splitlines()
    bad = "id:99 sub:001 dlvrd:000 done date:2403121016 err:000 text:no stat here"
    source = tmp_path / "receipts.txt"
    source.write_text("\n".join([good[0], bad, "", good[1], good[2]]) + "\n")

    result = _parse_receipt(
        "--provider", "smpp", "--received-at", RECEIVED_AT, str(source), data_dir=tmp_path
    )

    assert result.returncode == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == _expected("smpp", good)
    assert result.stderr.splitlines() == ["line 2: missing stat field"]


def test_cli_exits_0_on_good_input(samples_dir: Path, tmp_path: Path) -> None:
    source = samples_dir / "smpp.txt"
    result = _parse_receipt(
        "--provider", "smpp", "--received-at", RECEIVED_AT, str(source), data_dir=tmp_path
    )
    assert (result.returncode, result.stderr) == (0, "")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["status"] for row in rows] == ["DELIVERED", "UNDELIVERABLE", "EXPIRED"]
    assert rows[0]["done_at"] == "2013-05-05T08:26:00Z"
    assert rows[0]["received_at"] == RECEIVED_AT


def test_cli_reads_stdin_and_splits_infobip_documents(samples_dir: Path, tmp_path: Path) -> None:
    document = samples_dir.joinpath("infobip.jsonl").read_text().splitlines()[0]
    two = json.loads(document)
    two["results"].append({**two["results"][0], "messageId": "SECOND"})
    stdin = f"{document}\r\n{json.dumps(two)}\n"

    result = _parse_receipt(
        "--provider", "infobip", "--received-at", RECEIVED_AT, "-", stdin=stdin, data_dir=tmp_path
    )

    assert (result.returncode, result.stderr) == (0, "")
    ids = [json.loads(line)["provider_message_id"] for line in result.stdout.splitlines()]
    assert ids == ["MESSAGE-ID-123-xyz", "MESSAGE-ID-123-xyz", "SECOND"]


def test_cli_reads_stdin_by_default(samples_dir: Path, tmp_path: Path) -> None:
    stdin = samples_dir.joinpath("vonage.txt").read_text()
    result = _parse_receipt("--provider", "vonage", stdin=stdin, data_dir=tmp_path)
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 2


def test_cli_reports_non_utf8_lines(tmp_path: Path) -> None:
    source = tmp_path / "latin1.txt"
    source.write_bytes(b"MessageSid=SM1&MessageStatus=sent\nMessageSid=SM\xe9&MessageStatus=sent\n")
    result = _parse_receipt("--provider", "twilio", str(source), data_dir=tmp_path)
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr.splitlines() == ["line 2: not UTF-8 text (byte 14)"]


def test_cli_missing_file_is_one_readable_line(tmp_path: Path) -> None:
    result = _parse_receipt("--provider", "smpp", str(tmp_path / "nope.txt"), data_dir=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"dlrw parse-receipt: error: cannot read {tmp_path / 'nope.txt'}: No such file or directory"
    ]


def test_cli_rejects_an_unknown_provider_and_a_bad_received_at(tmp_path: Path) -> None:
    unknown = _parse_receipt("--provider", "sinch", data_dir=tmp_path, stdin="")
    assert unknown.returncode == 2 and "invalid choice: 'sinch'" in unknown.stderr
    bad_time = _parse_receipt(
        "--provider", "smpp", "--received-at", "yesterday", data_dir=tmp_path, stdin=""
    )
    assert bad_time.returncode == 2
    assert "not an ISO-8601 timestamp: 'yesterday'" in bad_time.stderr
    assert "Traceback" not in unknown.stderr + bad_time.stderr


@pytest.mark.parametrize("case", HOSTILE_RECEIPTS)
def test_cli_reports_a_payload_that_crashed_the_parser_and_reads_on(
    samples_dir: Path, tmp_path: Path, case: str
) -> None:
    provider, payload, reason = HOSTILE_RECEIPTS[case]
    samples = {"infobip": "infobip.jsonl", "smpp": "smpp.txt", "vonage": "vonage.txt"}
    good = samples_dir.joinpath(samples[provider]).read_text().splitlines()
    before, after = good[0], good[-1]
    source = tmp_path / "receipts.txt"
    source.write_text("\n".join([before, payload, after]) + "\n")

    result = _parse_receipt(
        "--provider", provider, "--received-at", RECEIVED_AT, str(source), data_dir=tmp_path
    )

    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"line 2: {reason}"]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == _expected(provider, [before, after])


def test_cli_output_is_strict_json_and_a_non_finite_price_is_a_bad_line(tmp_path: Path) -> None:
    finite = infobip_document(price={"pricePerMessage": 0.01, "currency": "EUR"})
    lines = [
        infobip_document(price={"pricePerMessage": "Infinity", "currency": "EUR"}),
        finite.replace("0.01", "1e999"),
        finite,
    ]
    source = tmp_path / "receipts.txt"
    source.write_text("\n".join(lines) + "\n")

    result = _parse_receipt("--provider", "infobip", str(source), data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "line 1: results[0]: pricePerMessage 'Infinity' is not a number",
        "line 2: not JSON: number 1e999 is out of range",
    ]

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    [row] = [json.loads(line, parse_constant=refuse) for line in result.stdout.splitlines()]
    assert row["price"] == 0.01
