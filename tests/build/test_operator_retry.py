"""dim_operator_retry against the simulator's truth: which operators do not retry A2P messages to
phones that are off, estimated from the receipts alone, checked against each operator's
`a2p_retry` in the truth file. One simulated run goes to the dev broker once (`dlrw simulate`)
and is ingested and built on DuckDB and on PostgreSQL."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics
from tests.build.compare import read_marts
from tests.cli import env_for, run_dlrw
from tests.conftest import KAFKA_BOOTSTRAP, require_kafka

pytestmark = pytest.mark.broker

# 60,000 messages: the smallest run with both kinds of operator at 1,000 messages or more
SIMULATION = ("--messages", "60000", "--days", "2", "--seed", "17", "--start", "2026-01-05")
MIN_MESSAGES = 1000
FLOOR = 0.8  # precision and recall of the no_retry verdict


@dataclass(frozen=True)
class Traffic:
    """Simulated traffic on the broker and the truth file that goes with it."""

    settings: Settings
    truth: Path


@dataclass
class Operator:
    """One operator's truth: its messages and whether its network retries."""

    messages: int
    retries: bool


@pytest.fixture(scope="session")
def traffic(tmp_path_factory: pytest.TempPathFactory, topic_prefix: Callable[..., str]) -> Traffic:
    """The run, simulated once onto fresh topics for every warehouse to ingest."""
    require_kafka()
    work = tmp_path_factory.mktemp("retry-traffic")
    settings = Settings(
        data_dir=work / "data", kafka_bootstrap=KAFKA_BOOTSTRAP, topic_prefix=topic_prefix("retry-")
    )
    create_topics(settings, partitions=3)
    run_dlrw(
        ["simulate", *SIMULATION, "--truth", "truth.csv"], env_for(settings), cwd=work, check=True
    )
    return Traffic(settings, work / "truth.csv")


def read_operators(truth: Path) -> dict[str, Operator]:
    """Per mcc_mnc, its messages and a2p_retry in the truth file."""
    messages: Counter[str] = Counter()
    retries: dict[str, bool] = {}
    with truth.open(newline="") as handle:
        for row in csv.DictReader(handle):
            messages[row["mcc_mnc"]] += 1
            retries[row["mcc_mnc"]] = row["a2p_retry"] == "true"
    return {mcc_mnc: Operator(n, retries[mcc_mnc]) for mcc_mnc, n in messages.items()}


@pytest.fixture(scope="module")
def verdicts(
    warehouse: Settings, traffic: Traffic, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    """Ingest the run into this warehouse with a group of its own, build, read the estimates."""
    work = tmp_path_factory.mktemp("retry")
    settings = warehouse.model_copy(
        update={
            "kafka_bootstrap": KAFKA_BOOTSTRAP,
            "topic_prefix": traffic.settings.topic_prefix,
            "store_dir": work / "store",
        }
    )
    env = env_for(settings)
    run_dlrw(["ingest", "--once", "--group", f"retry-{work.name}"], env, cwd=work, check=True)
    run_dlrw(["build", "--quiet"], env, cwd=work, check=True)
    return read_marts(settings, ["dim_operator_retry"])["dim_operator_retry"]


def test_no_retry_flags_match_the_truth(traffic: Traffic, verdicts: list[dict[str, Any]]) -> None:
    """Precision and recall of retry_verdict = 'no_retry' over the operators with at least
    1,000 messages; both kinds of operator are among them."""
    operators = read_operators(traffic.truth)
    evaluated = {m: op for m, op in operators.items() if op.messages >= MIN_MESSAGES}
    flagged = {r["mcc_mnc"] for r in verdicts if r["retry_verdict"] == "no_retry"} & set(evaluated)
    no_retry = {m for m, op in evaluated.items() if not op.retries}
    assert len(no_retry) >= 3 and len(evaluated) - len(no_retry) >= 3, "too few operators"
    precision = len(flagged & no_retry) / len(flagged) if flagged else 0.0
    recall = len(flagged & no_retry) / len(no_retry)
    print(
        f"no_retry flags on {len(evaluated)} operators with >= {MIN_MESSAGES} messages "
        f"({len(no_retry)} do not retry): precision {precision:.3f}, recall {recall:.3f}"
    )
    assert precision >= FLOOR and recall >= FLOOR, (precision, recall)


def test_every_operator_has_one_row_with_its_traffic(
    traffic: Traffic, verdicts: list[dict[str, Any]]
) -> None:
    """Nothing lost: each operator's sent equals its messages in the truth."""
    operators = read_operators(traffic.truth)
    assert {r["mcc_mnc"]: int(r["sent"]) for r in verdicts} == {
        m: op.messages for m, op in operators.items()
    }


def test_each_flag_shows_its_evidence(verdicts: list[dict[str, Any]]) -> None:
    """A no_retry flag rests on phones found off that failed at once rather than came back to
    a late delivery; small operators are left undecided rather than guessed."""
    for r in verdicts:
        evidence = int(r["delivered_late"]) + int(r["absent_subscriber"])
        assert int(r["phone_off_evidence"]) == evidence
        if r["retry_verdict"] == "no_retry":
            assert int(r["absent_subscriber"]) > int(r["delivered_late"]), r
        if r["retry_verdict"] != "too_little_evidence":
            assert evidence >= 10, r
    assert {r["retry_verdict"] for r in verdicts} == {"no_retry", "retries", "too_little_evidence"}
