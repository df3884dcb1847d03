"""`dlrw check`'s unmapped_failure_codes on DuckDB and PostgreSQL: simulated traffic (every code
mapped) passes; once a provider starts reporting a code the failure_codes seed does not know, the
check fails for that provider alone and names the code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.quality.runner import CheckRun, Finding, run_checks
from dlrw.ingest.quality.thresholds import load_thresholds
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.models.events import DeliveryReceipt, SendEvent
from dlrw.models.status import Status

from .conftest import KAFKA_BOOTSTRAP

pytestmark = pytest.mark.broker

DAY = datetime(2026, 3, 2, tzinfo=UTC)
NEW_CODE = "30999"  # not (yet) in the seed
NEW_CODE_FAILURES = 60


def _new_code_traffic(path: Path) -> Path:
    """Twilio messages that fail with a code nobody has mapped, sends and receipts."""
    with path.open("w") as out:
        for n in range(NEW_CODE_FAILURES):
            submitted = DAY + timedelta(hours=12, seconds=n)
            send = SendEvent(
                event_id=f"new-code-send-{n}",
                message_id=f"new-code-{n}",
                provider="twilio",
                destination_hash=f"h-new-code-{n}",
                country="US",
                route_id="r-US-t2-b",
                route_tier=2,
                segments=1,
                submitted_at=submitted,
                provider_message_id=f"SMnewcode{n:08d}",
                mcc_mnc="310260",
            )
            receipt = DeliveryReceipt(
                event_id=f"new-code-receipt-{n}",
                provider="twilio",
                provider_message_id=f"SMnewcode{n:08d}",
                status=Status.UNDELIVERABLE,
                is_final=True,
                received_at=submitted + timedelta(seconds=20),
                raw="{}",
                error_code=NEW_CODE,
                done_at=submitted + timedelta(seconds=10),
            )
            for kind, event in (("send", send), ("receipt", receipt)):
                out.write(json.dumps({"type": kind, **event.to_json_dict()}) + "\n")
    return path


def _load(settings: Settings, events: Path, group: str) -> None:
    """The events the way users send them: produce, ingest, (incremental) build."""
    assert run_command(["produce", str(events)], settings) == 0
    assert run_command(["ingest", "--once", "--group", group], settings) == 0
    assert run_command(["build", "--quiet"], settings) == 0


def _check(settings: Settings) -> CheckRun:
    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        newest = conn.execute(text("select max(received_at) from raw_receipts")).scalar_one()
    engine.dispose()
    return run_checks(settings, load_thresholds(), now=newest + timedelta(minutes=30))


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def runs(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    topic_prefix: Callable[..., str],
    postgres_database: Callable[[], str],
) -> Iterator[tuple[CheckRun, CheckRun]]:
    """`dlrw check` (default thresholds) on a day of simulated traffic, then again after the new
    code's traffic went the same way (produce, ingest, incremental build)."""
    tmp = tmp_path_factory.mktemp(f"unmapped-{request.param}")
    warehouse_url = (
        postgres_database()
        if request.param == "postgres"
        else f"duckdb:///{tmp / 'data' / 'warehouse.duckdb'}"
    )
    settings = Settings(
        data_dir=tmp / "data",
        hash_key="test-hash-key",
        kafka_bootstrap=KAFKA_BOOTSTRAP,
        topic_prefix=topic_prefix("unmapped-"),
        warehouse_url=warehouse_url,
    )
    simulated = tmp / "events.jsonl"
    args = ["--messages", "8000", "--days", "1", "--seed", "5", "--start", "2026-03-02"]
    assert run_command(["simulate", *args, "--out", str(simulated)], settings) == 0
    create_topics(settings, partitions=1)
    group = f"unmapped-{request.param}"
    _load(settings, simulated, group)
    before = _check(settings)
    _load(settings, _new_code_traffic(tmp / "new-code.jsonl"), group)
    yield before, _check(settings)


def _judged(run: CheckRun) -> dict[str, Finding]:
    return {
        dict(f.cell)["provider"]: f for f in run.findings if f.check == "unmapped_failure_codes"
    }


def test_simulated_traffic_has_no_unmapped_codes(runs: tuple[CheckRun, CheckRun]) -> None:
    judged = _judged(runs[0])
    assert set(judged) == {"smpp", "twilio", "infobip", "vonage"}
    assert all(f.passed and f.observed == 0 for f in judged.values())


def test_a_new_code_fails_its_provider_and_is_named(runs: tuple[CheckRun, CheckRun]) -> None:
    judged = _judged(runs[1])
    assert {p for p, f in judged.items() if not f.passed} == {"twilio"}
    line = judged["twilio"].line()
    assert line.startswith("unmapped_failure_codes: provider=twilio share=0.")
    assert f"{NEW_CODE_FAILURES} of " in line
    assert f"most frequent unmapped codes: {NEW_CODE} x{NEW_CODE_FAILURES})" in line
