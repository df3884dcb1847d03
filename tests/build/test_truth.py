"""The marts against the simulator's truth file, exactly: simulated traffic goes the real way
(`dlrw produce` to the dev broker, `dlrw ingest --once` into the raw tables, `dlrw build`), then
every message's outcome and every daily cell's counts must equal what the truth file says --
on DuckDB and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics
from tests.build.compare import (
    CELL,
    daily_differences,
    message_differences,
    read_marts,
)
from tests.build.events import daily_cell, expected_daily, seed_operators
from tests.cli import env_for, run_dlrw
from tests.conftest import KAFKA_BOOTSTRAP, require_kafka

pytestmark = pytest.mark.broker

# 6,000 messages: about 50 abandoned numbers texted twice or more, enough to measure recall
SIMULATION = ("--messages", "6000", "--days", "2", "--seed", "11", "--start", "2026-01-05")
# What the truth file and fct_messages both say per message (ingest/simulate/truth.py).
COMPARED = ("final_status", "outcome", "has_receipt", "receipt_count", "done_at", "failure_cause")


@dataclass
class TruthBuild:
    """The truth file's rows and the marts built from the same simulated traffic."""

    truth: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    causes: list[dict[str, Any]]
    suppression: list[dict[str, str]]
    suppression_stdout: str  # `dlrw suppression-list --min-failures 3`


def _time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The truth CSV as fct_messages-shaped rows (the columns both sides carry)."""
    operators = seed_operators()
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            outcome = row["outcome"]
            rows.append(
                {
                    "message_id": row["message_id"],
                    "submitted_at": _time(row["submitted_at"]),
                    "country": row["country"],
                    "mcc_mnc": row["mcc_mnc"] or None,
                    "operator_name": operators.get(row["mcc_mnc"], "unknown"),
                    "route_tier": int(row["route_tier"]),
                    "provider": row["provider"],
                    "route_id": row["route_id"],
                    # UNKNOWN is final but no outcome: pending in the truth and in the marts.
                    "final_status": row["final_status"] or None,
                    "outcome": outcome,
                    "has_receipt": row["has_receipt"] == "true",
                    "receipt_count": int(row["receipts"]),
                    # fct_messages keeps done_at for delivered messages only
                    "done_at": _time(row["done_at"]) if outcome == "delivered" else None,
                    "failure_cause": row["failure_cause"] or None,
                    "destination_hash": row["destination_hash"],
                    "cause": row["cause"],
                }
            )
    return rows


@pytest.fixture(scope="module")
def truth_build(
    warehouse: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    topic_prefix: Callable[..., str],
) -> TruthBuild:
    """Simulate, produce to fresh topics, ingest once, build; read the truth and the marts."""
    require_kafka()
    work = tmp_path_factory.mktemp("truth")
    settings = warehouse.model_copy(
        update={
            "kafka_bootstrap": KAFKA_BOOTSTRAP,
            "topic_prefix": topic_prefix("truth-"),
            "store_dir": work / "store",
        }
    )
    create_topics(settings, partitions=3)
    env = env_for(settings)
    for command in (
        ["simulate", *SIMULATION, "--out", "events.jsonl", "--truth", "truth.csv"],
        ["produce", "events.jsonl"],
        ["ingest", "--once", "--group", f"ingest-{settings.topic_prefix}"],
        ["build", "--quiet"],
        ["suppression-list", "--out", "suppression.csv"],
    ):
        run_dlrw(command, env, cwd=work, check=True)
    strict = run_dlrw(["suppression-list", "--min-failures", "3"], env, cwd=work, check=True)
    marts = read_marts(
        settings, ["fct_messages", "agg_deliverability_daily", "agg_failure_causes_daily"]
    )
    with (work / "suppression.csv").open(newline="") as handle:
        suppression = list(csv.DictReader(handle))
    return TruthBuild(
        read_truth(work / "truth.csv"),
        marts["fct_messages"],
        marts["agg_deliverability_daily"],
        marts["agg_failure_causes_daily"],
        suppression,
        strict.stdout,
    )


def test_every_message_outcome_equals_the_truth(truth_build: TruthBuild) -> None:
    assert len(truth_build.truth) == int(SIMULATION[1])
    problems = message_differences(truth_build.messages, truth_build.truth, COMPARED)
    assert problems == [], f"{len(problems)} differences, first: {problems[:5]}"


def test_every_daily_cell_equals_the_truth(truth_build: TruthBuild) -> None:
    problems = daily_differences(truth_build.daily, expected_daily(truth_build.truth))
    assert problems == [], f"{len(problems)} differences, first: {problems[:5]}"


def test_the_simulation_exercises_every_outcome(truth_build: TruthBuild) -> None:
    """Guards the test data: delivered, failed, no-receipt and receipts-but-no-final all occur."""
    outcomes = {m["outcome"] for m in truth_build.truth}
    assert outcomes == {"delivered", "failed", "pending"}
    assert any(not m["has_receipt"] for m in truth_build.truth)
    assert any(m["has_receipt"] and m["final_status"] is None for m in truth_build.truth)


def test_every_daily_failure_cause_cell_equals_the_truth(truth_build: TruthBuild) -> None:
    """Failures per day x country x operator x route tier x provider x cause, exactly."""
    expected: Counter[tuple[Any, ...]] = Counter(
        (*daily_cell(m), m["failure_cause"]) for m in truth_build.truth if m["outcome"] == "failed"
    )
    got: Counter[tuple[Any, ...]] = Counter()
    for r in truth_build.causes:
        day = r["period_date"]
        cell = (*(r[c] for c in CELL[1:]), r["failure_cause"])
        got[(day.date() if isinstance(day, datetime) else day, *cell)] += int(r["messages"])
    assert got == expected
    # the override route's own numbering and every cause the simulator makes are in the data
    causes = {cell[-1] for cell in expected}
    assert {"dnd_or_opt_out", "unknown_subscriber", "absent_subscriber"} <= causes
    assert {"network_or_route", "expired"} <= causes
    assert any(m["failure_cause"] and m["route_id"] == "r-IN-t1-a" for m in truth_build.truth)


def _by_number(truth: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each number's messages, latest first."""
    numbers: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(truth, key=lambda m: (m["submitted_at"], m["message_id"]), reverse=True):
        numbers.setdefault(m["destination_hash"], []).append(m)
    return numbers


def _permanent_run(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest messages' run of permanent failures (dim_destinations' definition, from the
    truth): pending ones skipped, any other outcome ends it."""
    run = []
    for m in messages:
        if m["outcome"] == "pending":
            continue
        if m["failure_cause"] not in ("unknown_subscriber", "dnd_or_opt_out"):
            break
        run.append(m)
    return run


def test_suppression_list_equals_the_truth(truth_build: TruthBuild) -> None:
    """`dlrw suppression-list`: exactly the numbers whose truth ends in two or more permanent
    failures, with their count and the first failure's time."""
    expected = {}
    for number, messages in _by_number(truth_build.truth).items():
        run = _permanent_run(messages)
        if len(run) >= 2:
            expected[number] = (len(run), run[-1]["submitted_at"])
    listed = {
        r["destination_hash"]: (
            int(r["consecutive_permanent_failures"]),
            _time(r["first_permanent_failure_at"]),
        )
        for r in truth_build.suppression
    }
    assert listed == expected


def test_suppression_list_min_failures_keeps_longer_runs(truth_build: TruthBuild) -> None:
    """--min-failures 3 on stdout: the rows of the default list with 3 or more, in its order."""
    longer = [r for r in truth_build.suppression if int(r["consecutive_permanent_failures"]) >= 3]
    assert longer and len(longer) < len(truth_build.suppression)
    assert list(csv.DictReader(io.StringIO(truth_build.suppression_stdout))) == longer


def test_suppression_list_finds_abandoned_numbers(truth_build: TruthBuild) -> None:
    """Recall: of the numbers really abandoned (truth cause) and texted at least twice, at least
    90% are listed; a receipt lost on the way can leave a number one known failure."""
    numbers = _by_number(truth_build.truth)
    abandoned = {
        number
        for number, messages in numbers.items()
        if len(messages) >= 2 and any(m["cause"] == "abandoned" for m in messages)
    }
    listed = {r["destination_hash"] for r in truth_build.suppression}
    recall = len(abandoned & listed) / len(abandoned)
    print(f"suppression-list recall: {len(abandoned & listed)}/{len(abandoned)} = {recall:.3f}")
    assert len(abandoned) >= 40, "too few abandoned numbers to measure recall"
    assert recall >= 0.9


def test_suppression_list_holds_no_number_delivered_after_its_last_failure(
    truth_build: TruthBuild,
) -> None:
    numbers = _by_number(truth_build.truth)
    for row in truth_build.suppression:
        messages = numbers[row["destination_hash"]]
        last_failure = next(m["submitted_at"] for m in messages if m["outcome"] == "failed")
        assert not any(
            m["outcome"] == "delivered" and m["submitted_at"] > last_failure for m in messages
        ), row["destination_hash"]
