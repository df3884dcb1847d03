"""Reused ids are built (the models resolve them) and reported by `dlrw check` (check
reused_ids): a provider_message_id that several messages of one provider carry, a message_id
that several send events carry -- on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.quality.runner import CheckRun, Finding, run_checks
from dlrw.ingest.quality.thresholds import DEFAULT_THRESHOLDS, load_thresholds
from tests.build.compare import read_marts
from tests.build.events import Batch

T0 = datetime(2026, 6, 1, 8, 0)


@pytest.fixture(scope="module")
def run(warehouse: Settings) -> CheckRun:
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
    ensure_raw_tables(warehouse)
    batch.load(warehouse)
    run_build(warehouse)
    return run_checks(warehouse, load_thresholds(DEFAULT_THRESHOLDS), now=T0 + timedelta(hours=2))


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


@pytest.mark.usefixtures("run")
def test_the_build_goes_on_with_one_message_per_message_id(warehouse: Settings) -> None:
    """The fixture's build passed every dbt test; here its output."""
    rows = read_marts(warehouse, ["fct_messages"])["fct_messages"]
    messages = {r["message_id"]: r["send_event_id"] for r in rows}
    assert len(rows) == len(messages) == 12
    assert messages["d0"] == "s-d0"
