"""The whole path on simulated traffic: simulate -> Kafka -> ingest -> build -> alerts.

One simulation serves every test here (it is the slow part): three days, 60,000 messages, with
two incidents on day 3 -- Airtel India (40410) delivering at 0.4x during India's morning, its
failures reported as unknown subscribers (an HLR answering wrongly), and O2 UK (23410) reporting
no receipts in the afternoon. Everything before the first incident is the
false-positive control.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from dlrw.ingest.alerts.evaluate import evaluate_once
from dlrw.ingest.alerts.rules import Rules
from dlrw.ingest.alerts.sinks import StdoutSink
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.warehouse.connection import connect_engine
from tests.cli import env_for, run_dlrw
from tests.conftest import KAFKA_BOOTSTRAP

pytestmark = pytest.mark.broker

AIRTEL, O2 = "40410", "23410"
DELIVERY_INCIDENT = (datetime(2026, 1, 3, 4), datetime(2026, 1, 3, 10))
RECEIPT_INCIDENT = (datetime(2026, 1, 3, 12), datetime(2026, 1, 3, 18))
HLR_FAULT = "unknown_subscriber"
# Six-hour windows: at 60,000 messages over three days an hour holds too few messages per cell
# for any test to be significant; the gates are the defaults scaled to that volume.
RULE_ARGS = ["--window", "6h", "--baseline", "2d", "--min-window", "50", "--min-baseline", "200"]
RULES = Rules(
    window=timedelta(hours=6), baseline=timedelta(days=2), min_window=50, min_baseline=200
)


def _spec(mcc_mnc: str, period: tuple[datetime, datetime], effect: str) -> str:
    start, end = (ts.isoformat() for ts in period)
    return f"operator={mcc_mnc},start={start},end={end},{effect}"


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory, topic_prefix: Callable[..., str]
) -> Settings:
    """Settings of a warehouse built from the simulated traffic."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("alerts-pipeline") / "data",
        kafka_bootstrap=KAFKA_BOOTSTRAP,
        topic_prefix=topic_prefix(),
        hash_key=SecretStr("test-hash-key"),
    )
    create_topics(settings, partitions=3)
    steps = [
        ["simulate", "--messages", "60000", "--days", "3", "--seed", "11",
         "--start", "2026-01-01",
         "--incident", _spec(AIRTEL, DELIVERY_INCIDENT, f"delivery=0.4,cause={HLR_FAULT}"),
         "--incident", _spec(O2, RECEIPT_INCIDENT, "receipts=0.0")],
        ["ingest", "--once"],
        # Only the models the alerts read (fct_messages and what it needs), as `--watch` builds
        # them: their dbt tests belong to the build tests.
        ["build", "-q", "--select", "+fct_messages", "--exclude", "test_type:data",
         "test_type:unit"],
    ]  # fmt: skip
    for argv in steps:
        run_dlrw(argv, env_for(settings), check=True)
    return settings


@pytest.fixture
def warehouse(pipeline: Settings) -> Iterator[Settings]:
    """The built warehouse with no alert state (each test starts unalerted)."""
    engine = connect_engine(pipeline.warehouse_url)
    with engine.begin() as conn:
        conn.execute(text("drop table if exists alert_state"))
    engine.dispose()
    yield pipeline


def _alerts(settings: Settings, now: datetime) -> list[dict[str, object]]:
    result = run_dlrw(["alerts", *RULE_ARGS, "--now", now.isoformat()], env_for(settings))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_an_operator_incident_alerts_that_operator_only_at_first_evaluation(
    warehouse: Settings,
) -> None:
    # The first evaluation whose window holds the incident (window end + settle).
    now = DELIVERY_INCIDENT[1] + RULES.settle
    alerts = _alerts(warehouse, now)
    assert alerts, "the incident did not alert"
    assert {a["mcc_mnc"] for a in alerts} == {AIRTEL}
    assert {(a["kind"], a["status"]) for a in alerts} == {("delivery_drop", "firing")}
    # Its busiest cell, Airtel on tier 1, is among them, with the incident's effect size.
    tier1 = next(a for a in alerts if a["cell_id"] == f"IN/{AIRTEL}/t1")
    assert float(tier1["current_rate"]) < 0.6 * float(tier1["baseline_rate"])  # type: ignore[arg-type]
    # One evaluation earlier the same cells were quiet.
    assert _alerts(warehouse, now - RULES.window) == []


def test_a_delivery_drop_names_the_incident_s_failure_cause(warehouse: Settings) -> None:
    alerts = _alerts(warehouse, DELIVERY_INCIDENT[1] + RULES.settle)
    assert alerts and {a["kind"] for a in alerts} == {"delivery_drop"}
    for alert in alerts:
        # Most of the window's failures are the incident's; the rest are Airtel's usual ones.
        assert alert["dominant_cause"] == HLR_FAULT
        assert float(alert["dominant_cause_share"]) > 0.5  # type: ignore[arg-type]
        share, failed = alert["dominant_cause_share"], alert["window_failed"]
        assert str(alert["text"]).endswith(
            f"; {share:.0%} {HLR_FAULT} among its {failed:,} failed messages"
        )


def test_a_receipt_outage_is_a_receipt_gap_and_the_recovered_operator_resolves(
    warehouse: Settings,
) -> None:
    fired = _alerts(warehouse, DELIVERY_INCIDENT[1] + RULES.settle)
    later = _alerts(warehouse, RECEIPT_INCIDENT[1] + RULES.settle)
    firing = [a for a in later if a["status"] == "firing"]
    resolved = [a for a in later if a["status"] == "resolved"]
    assert firing and {(a["mcc_mnc"], a["kind"]) for a in firing} == {(O2, "receipt_gap")}
    # Airtel recovered: every cell that still has the volume to judge says so (tier 4 is too
    # thin in India's evening and stays as it was).
    assert resolved and {a["cell_id"] for a in resolved} <= {a["cell_id"] for a in fired}
    assert {a["kind"] for a in resolved} == {"delivery_drop"}


def test_no_incident_means_no_alert_across_hundreds_of_cells(warehouse: Settings) -> None:
    # Every hour from the second half of day 1 until the delivery incident's data starts.
    first = datetime(2026, 1, 1, 12, tzinfo=UTC) + RULES.settle
    last = DELIVERY_INCIDENT[0].replace(tzinfo=UTC) + RULES.settle
    evaluated = seen = tests = 0
    firing: list[str] = []
    now = first
    while now <= last:
        report = evaluate_once(warehouse, RULES, StdoutSink(io.StringIO()), now)
        evaluated += report.evaluation.cells_evaluated
        seen += report.evaluation.cells_seen
        tests += report.evaluation.tests
        firing += [f.key.cell_id for f in report.evaluation.firing]
        # Thin cells are never judged at all.
        assert all(
            f.window.sent >= RULES.min_window and f.baseline.sent >= RULES.min_baseline
            for f in report.evaluation.findings
        )
        now += timedelta(hours=1)
    print(f"false-positive control: {evaluated} cell evaluations ({tests} tests), {seen} seen")
    assert firing == []
    assert evaluated >= 200
    assert seen - evaluated > evaluated  # most cells are too thin at this volume, and stay quiet
