"""The marts against an independent Python fold, incremental runs against a full refresh, and
`dlrw build` failures -- on DuckDB and PostgreSQL, sharing one scenario's builds per warehouse."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dlrw.ingest.build.runner import DBT_PROJECT_DIR, ensure_raw_tables, run_build
from dlrw.ingest.cli import main
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, DlrwError
from dlrw.ingest.warehouse.connection import connect_engine
from tests.build.compare import (
    daily_differences,
    message_differences,
    normalise,
    read_marts,
    row_set,
)
from tests.build.events import Batch, expected_daily, expected_messages, seed_operators

MARTS = (
    "fct_messages",
    "agg_deliverability_hourly",
    "agg_deliverability_daily",
    "dim_operators",
    "agg_routes_daily",
    "dim_routes",
    "agg_conversions_daily",
    "fct_conversions_by_segment",
    "agg_error_codes_daily",
    "agg_failure_causes_daily",
    "dim_destinations",
    "agg_operator_retry_daily",
    "dim_operator_retry",
    "agg_campaign_funnel",
)
T0 = datetime(2025, 5, 1, 10, 0, 0)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def batch_one() -> Batch:
    """Sends in several countries / operators / tiers / providers / hours, and tricky receipts."""
    b = Batch(ingested_at=_t(24 * 60))
    b.send("m01", "US", "310260", 1, "twilio", _t(0))
    b.send("m02", "US", "310260", 1, "twilio", _t(5))
    b.send("m03", "FR", "20801", 2, "infobip", _t(60))
    b.send("m04", "FR", "20801", 2, "infobip", _t(61))
    b.send("m05", "IN", "40410", 3, "vonage", _t(120), provider_message_id="")
    b.send("m06", "IN", "40410", 3, "vonage", _t(121))
    b.send("m07", "IN", "40410", 4, "smpp", _t(122))
    b.send("m08", "DE", "26201", 1, "smpp", _t(180))
    b.send("m09", "DE", None, 1, "smpp", _t(181))
    b.send("m10", "BR", "99999", 2, "twilio", _t(182))
    b.send("m11", "US", "310410", 3, "twilio", _t(240))
    b.send("m12", "US", "310410", 3, "twilio", _t(15 * 60))  # next day, 01:00 UTC
    b.sends[-1]["currency"] = "USD"  # converted at its own day's rate, incrementally too
    b.send("m13", "FR", "20801", 2, "infobip", _t(62))
    b.send("m15", "US", "310260", 1, "twilio", _t(3.75))
    # m01: intermediate, then final
    b.receipt("r01a", "twilio", "p-m01", "ENROUTE", _t(0.5))
    b.receipt("r01b", "twilio", "p-m01", "DELIVERED", _t(1.5), done_at=_t(1))
    # m02: DELIVERED, then a late UNDELIVERABLE with an older done_at -> still DELIVERED
    b.receipt("r02a", "twilio", "p-m02", "DELIVERED", _t(7), done_at=_t(6.5))
    b.receipt("r02b", "twilio", "p-m02", "UNDELIVERABLE", _t(30), done_at=_t(5.5))
    # m03: finals out of order: the latest done_at (EXPIRED) arrived first
    b.receipt("r03a", "infobip", "p-m03", "EXPIRED", _t(65), done_at=_t(64))
    b.receipt("r03b", "infobip", "p-m03", "DELIVERED", _t(90), done_at=_t(62))
    # m04: the same receipt twice
    b.receipt("r04a", "infobip", "p-m04", "DELIVERED", _t(62), done_at=_t(61.5))
    b.receipt("r04a", "infobip", "p-m04", "DELIVERED", _t(62), done_at=_t(61.5))
    # m05: matched by the echoed message_id only (provider id unknown to us)
    b.receipt(
        "r05a",
        "vonage",
        "vx-unknown",
        "REJECTED",
        _t(121),
        done_at=_t(120.5),
        message_id="m05",
        error_code="E5",
    )
    # m06: no receipt at all
    # m07: UNKNOWN final -> pending
    b.receipt("r07a", "smpp", "p-m07", "UNKNOWN", _t(130), done_at=_t(129))
    # m08: intermediate only -> pending
    b.receipt("r08a", "smpp", "p-m08", "ACCEPTED", _t(180.2))
    # m09: no operator -> 'unknown' cell
    b.receipt("r09a", "smpp", "p-m09", "DELIVERED", _t(183), done_at=_t(182), mcc_mnc="26202")
    # m10: operator not in the seed; DELETED
    b.receipt("r10a", "twilio", "p-m10", "DELETED", _t(190), done_at=_t(189))
    # m11: a final with NULL done_at counts as oldest
    b.receipt("r11a", "twilio", "p-m11", "DELIVERED", _t(241), done_at=_t(240.5))
    b.receipt("r11b", "twilio", "p-m11", "UNDELIVERABLE", _t(300))
    b.receipt("r12a", "twilio", "p-m12", "DELIVERED", _t(15 * 60 + 2), done_at=_t(15 * 60 + 1))
    # m13: equal done_at -> the later received_at wins
    b.receipt("r13a", "infobip", "p-m13", "DELIVERED", _t(70), done_at=_t(63))
    b.receipt("r13b", "infobip", "p-m13", "REJECTED", _t(66), done_at=_t(63))
    # m15: Twilio's done time is to the minute, before submitted_at -> latency 0, not negative
    b.receipt("r15a", "twilio", "p-m15", "DELIVERED", _t(4.5), done_at=_t(3))
    # orphans: no send (yet) for these
    b.receipt("r90a", "twilio", "p-m90", "DELIVERED", _t(10), done_at=_t(9))
    b.receipt("r91a", "smpp", "nobody", "EXPIRED", _t(11), done_at=_t(10))
    b.conversion("m01", "ios", _t(20))
    b.conversion("m01", "android", _t(25))
    b.conversion("m04", None, _t(70))
    dead_numbers_one(b)
    return b


def batch_two() -> Batch:
    """Late receipts (some change a final status, some have older done_at), a send that claims an
    orphan, a duplicate loaded again later, and a new message -- ingested one hour after batch 1."""
    b = Batch(ingested_at=_t(25 * 60))
    b.receipt("r08b", "smpp", "p-m08", "DELIVERED", _t(24 * 60 + 30), done_at=_t(200))
    b.receipt("r06a", "vonage", "p-m06", "EXPIRED", _t(24 * 60 + 31), done_at=_t(900))
    b.receipt("r01c", "twilio", "p-m01", "EXPIRED", _t(24 * 60 + 32), done_at=_t(0.8))
    b.receipt("r07b", "smpp", "p-m07", "DELIVERED", _t(24 * 60 + 33), done_at=_t(140))
    b.receipt("r03c", "infobip", "p-m03", "DELIVERED", _t(24 * 60 + 34), done_at=_t(64))
    b.receipt("r04a", "infobip", "p-m04", "DELIVERED", _t(62), done_at=_t(61.5))
    b.send("m90", "US", "310260", 2, "twilio", _t(8))
    b.send("m14", "GB", "23415", 2, "vonage", _t(24 * 60 + 10))
    b.sends[-1]["currency"] = "GBP"
    b.receipt("r14a", "vonage", "p-m14", "ENROUTE", _t(24 * 60 + 11))
    b.receipt("r14b", "vonage", "p-m14", "DELIVERED", _t(24 * 60 + 12), done_at=_t(24 * 60 + 11.5))
    b.conversion("m14", "android", _t(24 * 60 + 20))
    b.conversions[-1]["currency"] = "USD"
    dead_numbers_two(b)
    return b


def batch_three() -> Batch:
    """Rows committed late: ingested (stamped) 30 minutes before batch 2, loaded after it was
    built. A late final for a day-old message whose other receipts were ingested before the lookback
    used for this run, a new message, a send claiming an old orphan receipt, and an
    earlier-ingested copy of a batch-2 receipt."""
    b = Batch(ingested_at=_t(24 * 60 + 30))
    # m11: DELIVERED (done 240.5), a final without done_at; now a REJECTED done later -> failed
    b.receipt("r11c", "twilio", "p-m11", "REJECTED", _t(24 * 60 + 35), done_at=_t(400))
    b.send("m16", "FR", "20801", 1, "infobip", _t(24 * 60 + 20))
    b.sends[-1]["currency"] = "USD"
    b.receipt("r16a", "infobip", "p-m16", "DELIVERED", _t(24 * 60 + 22), done_at=_t(24 * 60 + 21))
    # a late send claiming batch 1's orphan r91a, which was ingested before this run's lookback
    b.send("m92", "DE", "26201", 2, "smpp", _t(9), provider_message_id="nobody")
    # the same event as batch 2's r03c: this copy was ingested first, so it wins (lineage changes)
    b.receipt("r03c", "infobip", "p-m03", "DELIVERED", _t(24 * 60 + 34), done_at=_t(64))
    dead_numbers_three(b)
    return b


def _dead_number_send(b: Batch, message_id: str, number: str, minutes: float, price: float) -> None:
    b.send(message_id, "US", "310260", 1, "twilio", _t(minutes), price, destination_hash=number)


def _twilio_failure(b: Batch, message_id: str, minutes: float, code: str) -> None:
    # Twilio 30005: unknown_subscriber, 30004: dnd_or_opt_out, 30003: absent_subscriber (seed)
    at = _t(minutes + 0.5)
    b.receipt(f"r-{message_id}", "twilio", f"p-{message_id}", "UNDELIVERABLE", at, at, None, code)


def dead_numbers_one(b: Batch) -> None:
    """Numbers texted several times: h-dead delivered once, then failed permanently (unknown
    subscriber, a message without receipt, opted out); h-alive failed permanently twice; h-temp
    failed permanently, then absent (a temporary failure ends the run), then permanently again."""
    _dead_number_send(b, "d1", "h-dead", 30, 0.01)
    b.receipt("r-d1", "twilio", "p-d1", "DELIVERED", _t(30.5), done_at=_t(30.5))
    _dead_number_send(b, "d2", "h-dead", 40, 0.02)
    _twilio_failure(b, "d2", 40, "30005")
    _dead_number_send(b, "d3", "h-dead", 50, 0.04)
    _dead_number_send(b, "d4", "h-dead", 60, 0.08)
    _twilio_failure(b, "d4", 60, "30004")
    for message_id, minutes in (("e1", 70), ("e2", 80)):
        _dead_number_send(b, message_id, "h-alive", minutes, 0.01)
        _twilio_failure(b, message_id, minutes, "30005")
    for message_id, minutes, code in (
        ("f1", 90, "30005"),
        ("f2", 95, "30003"),
        ("f3", 100, "30005"),
    ):
        _dead_number_send(b, message_id, "h-temp", minutes, 0.05)
        _twilio_failure(b, message_id, minutes, code)


def dead_numbers_two(b: Batch) -> None:
    """h-dead fails again a day later; h-alive gets a delivery, which ends its run."""
    _dead_number_send(b, "d5", "h-dead", 24 * 60 + 5, 0.16)
    _twilio_failure(b, "d5", 24 * 60 + 5, "30005")
    _dead_number_send(b, "e3", "h-alive", 24 * 60 + 6, 0.01)
    b.receipt("r-e3", "twilio", "p-e3", "DELIVERED", _t(24 * 60 + 7), done_at=_t(24 * 60 + 7))


def dead_numbers_three(b: Batch) -> None:
    """Committed late: h-dead's message without receipt was delivered, so its run starts after."""
    b.receipt("r-d3", "twilio", "p-d3", "DELIVERED", _t(24 * 60 + 36), done_at=_t(51))


@dataclass
class Scenario:
    """What one warehouse looked like after each build of the scenario."""

    settings: Settings
    expected_one: list[dict[str, Any]]
    expected_two: list[dict[str, Any]]
    expected_three: list[dict[str, Any]]
    after_one: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    after_two: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    incremental: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rerun: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    full_refresh: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def scenario(warehouse: Settings) -> Scenario:
    """Build batch 1 (first build). Load batch 2 and build only the intermediate models (as if the
    marts had failed), then build everything: the marts catch up. Load batch 3 (committed late)
    and build incrementally with a 1-hour lookback; build again with nothing new; full-refresh."""
    one, two, three = batch_one(), batch_two(), batch_three()
    operators = seed_operators()
    result = Scenario(
        warehouse,
        expected_messages([one], operators),
        expected_messages([one, two], operators),
        expected_messages([one, two, three], operators),
    )
    ensure_raw_tables(warehouse)
    one.load(warehouse)
    result.summaries.append(run_build(warehouse).line())
    result.after_one = read_marts(warehouse, MARTS)
    two.load(warehouse)
    intermediate = ["int_sends", "int_receipts_matched", "int_message_lifecycle"]
    result.summaries.append(run_build(warehouse, select=intermediate).line())
    result.summaries.append(run_build(warehouse).line())
    result.after_two = read_marts(warehouse, MARTS)
    three.load(warehouse)
    result.summaries.append(run_build(warehouse, lookback_hours=1).line())
    result.incremental = read_marts(warehouse, MARTS)
    result.summaries.append(run_build(warehouse).line())
    result.rerun = read_marts(warehouse, MARTS)
    result.summaries.append(run_build(warehouse, full_refresh=True).line())
    result.full_refresh = read_marts(warehouse, MARTS)
    return result


def test_fct_messages_equals_the_python_fold(scenario: Scenario) -> None:
    assert message_differences(scenario.after_one["fct_messages"], scenario.expected_one) == []


def test_daily_cells_equal_the_python_fold(scenario: Scenario) -> None:
    expected = expected_daily(scenario.expected_one)
    assert daily_differences(scenario.after_one["agg_deliverability_daily"], expected) == []


def test_late_receipts_are_folded_in_by_an_incremental_run(scenario: Scenario) -> None:
    """Batch 2 reached the marts one run after the intermediate models took it in."""
    assert message_differences(scenario.after_two["fct_messages"], scenario.expected_two) == []
    expected = expected_daily(scenario.expected_two)
    assert daily_differences(scenario.after_two["agg_deliverability_daily"], expected) == []


def test_rows_committed_late_are_taken_in_by_an_incremental_run(scenario: Scenario) -> None:
    assert message_differences(scenario.incremental["fct_messages"], scenario.expected_three) == []
    expected = expected_daily(scenario.expected_three)
    assert daily_differences(scenario.incremental["agg_deliverability_daily"], expected) == []


def _health(rows: list[dict[str, Any]], number: str) -> tuple[Any, ...]:
    row = next(r for r in rows if r["destination_hash"] == number)
    return (
        row["messages"],
        row["delivered"],
        row["last_outcome"],
        row["consecutive_permanent_failures"],
        row["first_permanent_failure_at"],
        normalise(row["cost_since_first_permanent_failure"]),
    )


def test_destination_health_follows_each_number_across_runs(scenario: Scenario) -> None:
    """Runs of permanent failures: skipped over pending messages, ended by a delivery or another
    failure, shortened when a late receipt turns a pending message into a delivery."""
    one = scenario.after_one["dim_destinations"]
    assert _health(one, "h-dead") == (4, 1, "failed", 2, _t(40), Decimal("0.14"))
    assert _health(one, "h-alive") == (2, 0, "failed", 2, _t(70), Decimal("0.02"))
    assert _health(one, "h-temp") == (3, 0, "failed", 1, _t(100), Decimal("0.05"))
    assert _health(one, "h-m06") == (1, 0, "pending", 0, None, 0)
    two = scenario.after_two["dim_destinations"]
    assert _health(two, "h-dead") == (5, 1, "failed", 3, _t(40), Decimal("0.30"))
    assert _health(two, "h-alive") == (3, 1, "delivered", 0, None, 0)
    three = scenario.incremental["dim_destinations"]
    assert _health(three, "h-dead") == (5, 2, "failed", 2, _t(60), Decimal("0.24"))


@pytest.mark.parametrize("mart", MARTS)
def test_incremental_run_equals_full_refresh(scenario: Scenario, mart: str) -> None:
    assert row_set(scenario.incremental[mart]) == row_set(scenario.full_refresh[mart])


@pytest.mark.parametrize("mart", MARTS)
def test_incremental_run_with_nothing_new_changes_nothing(scenario: Scenario, mart: str) -> None:
    assert row_set(scenario.rerun[mart]) == row_set(scenario.incremental[mart])


def test_the_scenario_is_tricky_enough(scenario: Scenario) -> None:
    """Guards the test data itself: every case the fold must handle is present."""
    outcomes = {m["message_id"]: (m["final_status"], m["outcome"]) for m in scenario.expected_one}
    assert outcomes["m02"] == ("DELIVERED", "delivered")  # late receipt, older done_at
    assert outcomes["m03"] == ("EXPIRED", "failed")  # finals out of order
    assert outcomes["m05"] == ("REJECTED", "failed")  # matched by message_id only
    assert outcomes["m06"] == (None, "pending")  # no receipt
    assert outcomes["m07"] == ("UNKNOWN", "pending")  # UNKNOWN final
    assert outcomes["m11"] == ("DELIVERED", "delivered")  # NULL done_at is oldest
    assert outcomes["m13"] == ("DELIVERED", "delivered")  # tie -> latest received_at
    latency = {m["message_id"]: m["latency_s"] for m in scenario.expected_one}
    assert latency["m15"] == 0.0 and latency["m01"] == 60.0  # done_at before submitted_at
    changed = {m["message_id"]: m["final_status"] for m in scenario.expected_two}
    assert changed["m08"] == "DELIVERED" and changed["m06"] == "EXPIRED"
    assert changed["m07"] == "DELIVERED" and changed["m90"] == "DELIVERED"
    late = {m["message_id"]: m["final_status"] for m in scenario.expected_three}
    assert late["m11"] == "REJECTED" and late["m16"] == "DELIVERED" and late["m92"] == "EXPIRED"
    # batch 3 was stamped before batch 2 and is older than the newest row by less than 1 hour
    assert batch_three().ingested_at < batch_two().ingested_at


def test_every_build_passes_all_dbt_tests(scenario: Scenario) -> None:
    # at most one warning: m10's operator is not in the seed (relationships, severity warn)
    for line in scenario.summaries:
        assert " 0 failed, " in line and ("0 warned" in line or "1 warned" in line), line


def test_marts_sit_in_the_marts_schema_on_postgres(scenario: Scenario) -> None:
    if scenario.settings.warehouse_url.startswith("duckdb"):
        pytest.skip("DuckDB keeps one schema")
    engine = connect_engine(scenario.settings.warehouse_url)
    try:
        with engine.connect() as conn:
            tables: set[str] = set(
                conn.execute(
                    text(
                        "select table_name from information_schema.tables"
                        " where table_schema = 'marts'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    assert set(MARTS) <= tables


def test_build_with_a_failing_model_fails_in_one_line(tmp_path: Path) -> None:
    """A model that fails in dbt: one line naming it and dbt's log."""
    project = tmp_path / "project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    (project / "models" / "broken_model.sql").write_text("select * from no_such_table\n")
    settings = Settings(data_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    with pytest.raises(DlrwError) as info:
        run_build(settings, select=["broken_model"], project_dir=project)
    message = str(info.value)
    assert "\n" not in message
    assert "broken_model" in message and "dbt.log" in message


def test_build_on_a_raw_table_missing_a_column_fails_in_one_line(tmp_path: Path) -> None:
    """A raw table missing a required column is named before dbt runs."""
    broken = Settings(data_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path / 'broken.duckdb'}")
    engine = connect_engine(broken.warehouse_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("create table raw_receipts (event_id text, _ingested_at timestamp)"))
    finally:
        engine.dispose()
    with pytest.raises(ConfigError) as info:
        run_build(broken, select=["stg_raw__receipts"])
    message = str(info.value)
    assert "\n" not in message
    assert "raw_receipts" in message and "provider" in message


def test_cli_with_unreachable_warehouse_exits_non_zero_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DLRW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DLRW_WAREHOUSE_URL", "postgresql://nobody:x@127.0.0.1:1/none")
    assert main(["build"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "warehouse" in err


def test_cli_with_unsupported_warehouse_url_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DLRW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DLRW_WAREHOUSE_URL", "mysql://x@localhost/db")
    assert main(["build"]) == 2
    assert "unsupported warehouse" in capsys.readouterr().err
