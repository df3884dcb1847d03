"""Reused ids are built (the models resolve them) and reported by `dlrw check` (check
reused_ids): a provider_message_id that several messages of one provider carry, a message_id
that several send events carry -- on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ingest.build.runner import ensure_raw_tables, run_build, warehouse_engine
from ingest.config import Settings
from ingest.quality.runner import CheckRun, Finding, run_checks
from ingest.quality.thresholds import DEFAULT_THRESHOLDS, load_thresholds
from tests.build.events import Batch

T0 = datetime(2026, 6, 1, 8, 0)


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def settings(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[], str],
) -> Iterator[Settings]:
    tmp: Path = tmp_path_factory.mktemp(f"reused-{request.param}")
    url = (
        postgres_database()
        if request.param == "postgres"
        else f"duckdb:///{tmp / 'data' / 'warehouse.duckdb'}"
    )
    yield Settings(data_dir=tmp / "data", warehouse_url=url, hash_key="test-hash-key")


def _load(settings: Settings, batch: Batch) -> None:
    ensure_raw_tables(settings)
    engine = warehouse_engine(settings)
    try:
        batch.load(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def run(settings: Settings) -> CheckRun:
    """Sends with reused ids among ordinary ones, built, then checked."""
    batch = Batch(ingested_at=T0 + timedelta(hours=1))
    for n in range(5):
        batch.send(f"m{n}", "US", "310260", 1, "twilio", T0 + timedelta(minutes=n))
    # twilio reuses one id for three messages; another provider's equal id is no reuse
    for n in range(3):
        at = T0 + timedelta(minutes=10 + n)
        batch.send(f"r{n}", "US", "310260", 1, "twilio", at, provider_message_id="SMshared")
    batch.send("v0", "GB", "23415", 1, "vonage", T0, provider_message_id="SMshared")
    # a sender id with a newline, reused
    batch.send("i0", "US", "310260", 1, "twilio", T0, provider_message_id="a\nb")
    batch.send("i1", "US", "310260", 1, "twilio", T0, provider_message_id="a\nb")
    # one message_id on two send events, sent twice (at-least-once copies count once)
    batch.send("d0", "US", "310260", 1, "twilio", T0)
    batch.sends.append(batch.sends[-1] | {"event_id": "s-d0-again", "_offset": 10_000})
    batch.sends.append(batch.sends[-1] | {"_offset": 10_001})
    _load(settings, batch)
    run_build(settings)
    return run_checks(settings, load_thresholds(DEFAULT_THRESHOLDS), now=T0 + timedelta(hours=2))


def _reused(run: CheckRun) -> dict[str, Finding]:
    return {dict(f.cell)["id"]: f for f in run.findings if f.check == "reused_ids"}


def test_reused_ids_fail_the_check_with_count_and_examples(run: CheckRun) -> None:
    found = _reused(run)
    assert set(found) == {"provider_message_id", "message_id"}
    assert not found["provider_message_id"].passed and not found["message_id"].passed
    assert found["provider_message_id"].line() == (
        "reused_ids: id=provider_message_id reused=2 > 0 "
        "(e.g. twilio:SMshared (3 uses), twilio:a\\nb (2 uses))"
    )
    assert found["message_id"].line() == "reused_ids: id=message_id reused=1 > 0 (e.g. d0 (2 uses))"


def test_the_build_goes_on_with_one_message_per_message_id(settings: Settings) -> None:
    """The fixture's build passed every dbt test; here its output."""
    engine = warehouse_engine(settings)
    schema = "main" if settings.warehouse_url.startswith("duckdb") else "marts"
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"select message_id, send_event_id from {schema}.fct_messages"
            ).all()
    finally:
        engine.dispose()
    messages = dict(rows)
    assert len(rows) == len(messages) == 12
    assert messages["d0"] == "s-d0"
