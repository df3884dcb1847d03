"""Every line of every shared provider sample parses, to the status docs/design.md's table gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dlrw.ingest.adapters import parse_receipts
from dlrw.models.status import Status

S = Status
FILES = {
    "smpp.txt": "smpp",
    "twilio.txt": "twilio",
    "infobip.jsonl": "infobip",
    "vonage.txt": "vonage",
}

# (file, line number) -> the statuses of its receipts, from docs/design.md's status table.
EXPECTED: dict[tuple[str, int], list[Status]] = {
    ("smpp.txt", 1): [S.DELIVERED],  # stat:DELIVRD
    ("smpp.txt", 2): [S.UNDELIVERABLE],  # stat:UNDELIV
    ("smpp.txt", 3): [S.EXPIRED],  # stat:EXPIRED
    ("twilio.txt", 1): [S.ENROUTE],  # sent
    ("twilio.txt", 2): [S.DELIVERED],  # delivered
    ("twilio.txt", 3): [S.UNDELIVERABLE],  # undelivered
    ("infobip.jsonl", 1): [S.DELIVERED],  # DELIVERED_TO_HANDSET
    ("vonage.txt", 1): [S.DELIVERED],  # delivered (JSON)
    ("vonage.txt", 2): [S.DELIVERED],  # delivered (query string)
}
# The recipient numbers in the samples, which must not survive into raw.
RECIPIENT_NUMBERS = ("447700900123", "919800000001", "41793026727", "447547232824", "4527631111")


def _line(samples_dir: Path, name: str, number: int) -> str:
    return samples_dir.joinpath(name).read_text(encoding="utf-8").splitlines()[number - 1]


def test_every_sample_line_has_an_expected_status(samples_dir: Path) -> None:
    found = {
        (name, number)
        for name in FILES
        for number, line in enumerate(
            samples_dir.joinpath(name).read_text(encoding="utf-8").splitlines(), start=1
        )
        if line.strip()
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize(("name", "number"), list(EXPECTED))
def test_sample_line_parses_to_the_status_of_the_design_table(
    samples_dir: Path, received_at: datetime, name: str, number: int
) -> None:
    receipts = parse_receipts(FILES[name], _line(samples_dir, name, number), received_at)
    assert [r.status for r in receipts] == EXPECTED[(name, number)]
    for receipt in receipts:
        assert receipt.problem() is None
        assert receipt.provider == FILES[name]
        assert receipt.is_final == receipt.status.is_final
        assert receipt.received_at == received_at
        assert not any(number in receipt.raw for number in RECIPIENT_NUMBERS)


def test_smpp_sample_fields(samples_dir: Path, received_at: datetime) -> None:
    [receipt] = parse_receipts("smpp", _line(samples_dir, "smpp.txt", 2), received_at)
    assert receipt.provider_message_id == "7220140001"
    assert receipt.error_code == "001"
    assert receipt.submitted_at == datetime(2024, 3, 12, 10, 15, tzinfo=UTC)
    assert receipt.done_at == datetime(2024, 3, 12, 10, 16, tzinfo=UTC)
    assert (receipt.segments_submitted, receipt.segments_delivered) == (1, 0)
    assert (receipt.mcc_mnc, receipt.price, receipt.currency) == (None, None, None)


def test_twilio_sample_fields(samples_dir: Path, received_at: datetime) -> None:
    [receipt] = parse_receipts("twilio", _line(samples_dir, "twilio.txt", 3), received_at)
    assert receipt.provider_message_id == "SM8c2f0a1b2c3d4e5f60718293a4b5c6d7"
    assert receipt.error_code == "30005"
    assert receipt.done_at == datetime(2024, 3, 12, 10, 20, tzinfo=UTC)
    assert "To=REDACTED" in receipt.raw


def test_infobip_sample_fields(samples_dir: Path, received_at: datetime) -> None:
    [receipt] = parse_receipts("infobip", _line(samples_dir, "infobip.jsonl", 1), received_at)
    assert receipt.provider_message_id == "MESSAGE-ID-123-xyz"
    assert receipt.error_code is None
    assert receipt.mcc_mnc == "22801"
    assert receipt.submitted_at == receipt.done_at == datetime(2019, 11, 9, 16, tzinfo=UTC)
    assert (receipt.price, receipt.currency) == (0.01, "EUR")
    assert receipt.segments_submitted == 1


@pytest.mark.parametrize(
    ("number", "message_id", "mcc_mnc", "price", "done_at"),
    [
        (1, "0B00000127FDBC63", "23410", 0.0333, datetime(2018, 10, 25, 13, 10, tzinfo=UTC)),
        (2, "0C0000002EEBDA56", "23820", 0.0182, datetime(2017, 5, 2, 13, 24, tzinfo=UTC)),
    ],
)
def test_vonage_sample_fields(
    samples_dir: Path,
    received_at: datetime,
    number: int,
    message_id: str,
    mcc_mnc: str,
    price: float,
    done_at: datetime,
) -> None:
    [receipt] = parse_receipts("vonage", _line(samples_dir, "vonage.txt", number), received_at)
    assert receipt.provider_message_id == message_id
    assert receipt.mcc_mnc == mcc_mnc
    assert (receipt.price, receipt.currency) == (price, "EUR")
    assert receipt.done_at == done_at
    assert receipt.error_code is None
    assert receipt.submitted_at is None
