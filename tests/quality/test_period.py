"""`dlrw check --since DATE [--until DATE]` judges missing receipts and silent hours over the whole
period asked: a twelve-hour receipt gap on one operator five days before the newest day is found
and named, where a plain `dlrw check` (each check's recent window only) passes -- on DuckDB and
PostgreSQL. Wrong dates exit 2 with one line."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.quality.cli import period
from dlrw.ingest.quality.runner import CheckRun, run_checks
from dlrw.ingest.quality.thresholds import DEFAULT_THRESHOLDS, load_thresholds
from tests.build.events import Batch
from tests.cli import env_for, run_dlrw

START = datetime(2026, 3, 2)
DAYS = 7
# Messages per operator and hour: above the shipped thresholds' minimum volumes.
PER_HOUR = 24
OPERATORS = {"310260": ("US", "twilio"), "23415": ("GB", "vonage")}
GAP_OPERATOR = "310260"
# No receipts for twelve hours, five days before the newest day (2026-03-08).
GAP_START, GAP_END = datetime(2026, 3, 3, 6), datetime(2026, 3, 3, 18)
GAP_HOURS = {(GAP_START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in range(12)}


@dataclass
class Runs:
    """The same warehouse checked plainly, with `--since` (CLI) and over the gap's day alone."""

    plain: CheckRun
    since: subprocess.CompletedProcess[str]
    gap_day: CheckRun


def _traffic() -> Batch:
    """Steady traffic on two operators, every message delivered and reported but in the gap."""
    batch = Batch(ingested_at=START + timedelta(days=DAYS))
    for hour in range(DAYS * 24):
        for n in range(PER_HOUR):
            at = START + timedelta(hours=hour, minutes=n * 60 / PER_HOUR)
            for mcc_mnc, (country, provider) in OPERATORS.items():
                message_id = f"{mcc_mnc}-{hour}-{n}"
                batch.send(message_id, country, mcc_mnc, 1, provider, at)
                if mcc_mnc == GAP_OPERATOR and GAP_START <= at < GAP_END:
                    continue
                done = at + timedelta(seconds=30)
                batch.receipt(
                    f"r-{message_id}",
                    provider,
                    f"p-{message_id}",
                    "DELIVERED",
                    done + timedelta(seconds=30),
                    done_at=done,
                )
    return batch


@pytest.fixture(scope="module")
def runs(warehouse: Settings) -> Runs:
    ensure_raw_tables(warehouse)
    _traffic().load(warehouse)
    run_build(warehouse)
    thresholds = load_thresholds(DEFAULT_THRESHOLDS)
    now = START + timedelta(days=DAYS)
    return Runs(
        plain=run_checks(warehouse, thresholds, now=now),
        since=run_dlrw(
            ["check", "--since", "2026-03-02", "--now", now.isoformat()], env_for(warehouse)
        ),
        gap_day=run_checks(
            warehouse, thresholds, now=now, period=period("2026-03-03", "2026-03-03")
        ),
    )


def _failed(run: CheckRun, check: str) -> set[str]:
    return {f.cell_text for f in run.failures if f.check == check}


def test_a_plain_check_passes_the_old_gap(runs: Runs) -> None:
    assert _failed(runs.plain, "missing_receipts") == set()
    assert _failed(runs.plain, "silent_hours") == set()
    judged = {f.cell_text for f in runs.plain.findings if f.check == "missing_receipts"}
    assert f"provider=twilio operator={GAP_OPERATOR}" in judged


def test_check_since_finds_and_names_the_old_gap(runs: Runs) -> None:
    assert runs.since.returncode == 1, runs.since.stderr
    lines = runs.since.stdout.splitlines()
    missing = [x for x in lines if x.startswith("missing_receipts:")]
    assert len(missing) == 1
    assert missing[0].startswith(
        f"missing_receipts: provider=twilio operator={GAP_OPERATOR} "
        "window_start=2026-03-03T00:00 share=0.5 > 0.2 (288 of 576 messages)"
    )
    silent = [x for x in lines if x.startswith("silent_hours:")]
    assert {x.split(" hour=")[1].split()[0] for x in silent} == GAP_HOURS
    assert all(f"provider=twilio operator={GAP_OPERATOR} " in x for x in silent)


def test_until_day_is_judged_whole(runs: Runs) -> None:
    """--since D --until D judges that day alone, all of it."""
    assert _failed(runs.gap_day, "missing_receipts") == {
        f"provider=twilio operator={GAP_OPERATOR} window_start=2026-03-03T00:00"
    }
    judged = {f.cell_text for f in runs.gap_day.findings if f.check == "missing_receipts"}
    assert all("window_start=2026-03-03T00:00" in cell for cell in judged)
    silent = [f for f in runs.gap_day.findings if f.check == "silent_hours"]
    hours = {f.cell_text.split("hour=")[1] for f in silent if not f.passed}
    assert hours == GAP_HOURS


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--since", "2026-02-30"], "--since: not a date (YYYY-MM-DD): '2026-02-30'"),
        (["--since", "yesterday"], "--since: not a date (YYYY-MM-DD): 'yesterday'"),
        (["--since", "2026-03-02", "--until", "3/8"], "--until: not a date (YYYY-MM-DD): '3/8'"),
        (
            ["--since", "2026-03-08", "--until", "2026-03-02"],
            "--until 2026-03-02 is before --since",
        ),
        (["--until", "2026-03-08"], "--until needs --since"),
    ],
)
def test_wrong_dates_exit_2_with_one_line(settings: Settings, argv: list[str], error: str) -> None:
    result = run_dlrw(["check", *argv], env_for(settings))

    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("dlrw check: error: ") and error in line
