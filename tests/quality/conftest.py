"""One simulated dataset per session, through the real pipeline: `dlrw simulate --out`, then
`dlrw produce` onto the local Kafka broker (once), then per warehouse (module scope)
`dlrw ingest --once` with a group of its own, and `dlrw build`.

The traffic has one incident: operator 310260 (T-Mobile US) reports no receipts for messages
submitted 2026-11-18 12:00-17:00 UTC. Everything else is the simulator's ordinary traffic.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.quality.runner import CheckRun, run_checks
from dlrw.ingest.quality.thresholds import Thresholds, load_thresholds
from dlrw.ingest.warehouse.connection import connect_engine
from tests.conftest import require_kafka

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

KAFKA_BOOTSTRAP = os.environ.get("DLRW_KAFKA_BOOTSTRAP", "localhost:9092")
POSTGRES_ADMIN_URL = os.environ.get(
    "DLRW_TEST_POSTGRES_URL", "postgresql://postgres:postgres@localhost:5432/postgres"
)
HERE = Path(__file__).parent
TEST_THRESHOLDS = HERE / "thresholds.toml"
# The same thresholds judged over the last hours only: the incident lies before them.
WINDOWED_THRESHOLDS = HERE / "thresholds_after_incident.toml"

START = "2026-11-17"
DAYS = 2
MESSAGES = 60_000
SEED = 11
INCIDENT_OPERATOR = "310260"
INCIDENT_START = datetime(2026, 11, 18, 12)
INCIDENT_END = datetime(2026, 11, 18, 17)
INCIDENT = (
    f"operator={INCIDENT_OPERATOR},start={INCIDENT_START.isoformat()},"
    f"end={INCIDENT_END.isoformat()},receipts=0.0"
)
INCIDENT_HOURS = {
    (INCIDENT_START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")
    for h in range((INCIDENT_END - INCIDENT_START) // timedelta(hours=1))
}


@dataclass
class Dataset:
    """A built warehouse with the simulated traffic, and the reference time of its checks."""

    settings: Settings
    now: datetime
    backend: str


@pytest.fixture(scope="session")
def published_events(
    tmp_path_factory: pytest.TempPathFactory, topic_prefix: Callable[..., str]
) -> Settings:
    """`dlrw simulate --out` with the receipt-loss incident, then `dlrw produce` onto fresh
    topics; returns settings naming those topics."""
    tmp = tmp_path_factory.mktemp("simulated")
    out = tmp / "events.jsonl"
    settings = Settings(
        data_dir=tmp / "data",
        hash_key="test-hash-key",
        kafka_bootstrap=KAFKA_BOOTSTRAP,
        topic_prefix=topic_prefix("dq-"),
    )
    require_kafka()
    code = run_command(
        [
            "simulate", "--messages", str(MESSAGES), "--days", str(DAYS), "--seed", str(SEED),
            "--start", START, "--incident", INCIDENT, "--out", str(out),
        ],
        settings,
    )  # fmt: skip
    assert code == 0
    create_topics(settings, partitions=3)
    assert run_command(["produce", str(out)], settings) == 0
    return settings


@pytest.fixture(scope="session")
def test_thresholds() -> Thresholds:
    return load_thresholds(TEST_THRESHOLDS)


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def dataset(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    published_events: Settings,
    postgres_database: Callable[[], str],
) -> Iterator[Dataset]:
    """The published traffic ingested (store + raw tables) and built (`dlrw build`)."""
    tmp = tmp_path_factory.mktemp(f"dq-{request.param}")
    if request.param == "postgres":
        warehouse_url = postgres_database()
    else:
        warehouse_url = f"duckdb:///{tmp / 'data' / 'warehouse.duckdb'}"
    settings = published_events.model_copy(
        update={
            "data_dir": tmp / "data",
            "store_dir": tmp / "data" / "store",
            "warehouse_url": warehouse_url,
        }
    )
    group = f"dq-{request.param}-{uuid.uuid4().hex[:8]}"
    assert run_command(["ingest", "--once", "--group", group], settings) == 0
    assert run_command(["build", "--quiet"], settings) == 0
    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        newest = conn.execute(text("select max(received_at) from raw_receipts")).scalar_one()
    engine.dispose()
    # "Now" is just after the newest receipt: the data is fresh.
    yield Dataset(settings, newest + timedelta(minutes=30), request.param)


@pytest.fixture(scope="module")
def incident_run(dataset: Dataset, test_thresholds: Thresholds) -> CheckRun:
    """`dlrw check` (in-process) on the dataset as simulated."""
    return run_checks(dataset.settings, test_thresholds, now=dataset.now)
