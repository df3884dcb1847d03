"""`dlrw check` on simulated traffic, on DuckDB and PostgreSQL.

The dataset (conftest.py) carries a receipt-loss incident for one operator. The first run judges
it as simulated; the CLI then judges the hours after the incident (everything passes, exit 0);
then faults are made -- extra receipts that match nothing, a store segment's rows deleted from the
warehouse, a duplicated segment, a silent cell, a late "now" -- and each check must fire for
exactly the cells it was given. Raw rows that break row rules fail `dlrw build`'s dbt tests.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dlrw.ingest.cli import run_command
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.quality.runner import CheckRun, Finding, locate_relations
from dlrw.ingest.store.segments import iter_segments, read_segment
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import Status
from tests.cli import env_for, run_dlrw

from .conftest import (
    INCIDENT_HOURS,
    INCIDENT_OPERATOR,
    INCIDENT_START,
    WINDOWED_THRESHOLDS,
    Dataset,
)

ORPHAN_PROVIDER = "twilio"
SILENT_HOUR = "2026-11-18 19:00:00"
ORPHANS = 2_000


def _failed(run: CheckRun, check: str) -> list[Finding]:
    return [f for f in run.failures if f.check == check]


def _cell(finding: Finding) -> dict[str, str]:
    return dict(finding.cell)


# --- the incident, as simulated ----------------------------------------------------------


def test_receipt_loss_trips_missing_receipts_for_exactly_the_incident_operator(
    incident_run: CheckRun,
) -> None:
    failed = _failed(incident_run, "missing_receipts")

    assert failed, "the incident operator's cells should fail"
    assert {_cell(f)["operator"] for f in failed} == {INCIDENT_OPERATOR}
    judged = [f for f in incident_run.findings if f.check == "missing_receipts"]
    assert len(judged) > 4 * len(failed), "most cells are judged and pass"
    for finding in failed:
        assert finding.observed is not None and finding.observed > 0.2
        assert re.fullmatch(
            rf"missing_receipts: provider=\w+ operator={INCIDENT_OPERATOR} "
            r"share=0\.\d+ > 0\.2 \([\d,]+ of [\d,]+ messages\)",
            finding.line(),
        ), finding.line()


def test_receipt_loss_trips_silent_hours_for_exactly_the_incident_operator_and_hours(
    incident_run: CheckRun,
) -> None:
    failed = _failed(incident_run, "silent_hours")

    assert failed
    assert {_cell(f)["operator"] for f in failed} == {INCIDENT_OPERATOR}
    assert {_cell(f)["hour"] for f in failed} <= INCIDENT_HOURS
    # The operator's busiest provider cell is silent for the whole incident.
    by_provider: dict[str, set[str]] = {}
    for finding in failed:
        by_provider.setdefault(_cell(finding)["provider"], set()).add(_cell(finding)["hour"])
    assert max(len(hours) for hours in by_provider.values()) == len(INCIDENT_HOURS)
    assert all(f.observed == 0 for f in failed)
    assert "messages got a receipt" in failed[0].line()


def test_the_other_checks_pass_on_the_simulated_traffic(incident_run: CheckRun) -> None:
    other = [
        f for f in incident_run.failures if f.check not in ("missing_receipts", "silent_hours")
    ]

    assert other == []
    checks = {f.check for f in incident_run.findings}
    assert checks == {
        "missing_receipts",
        "silent_hours",
        "freshness",
        "orphan_receipts",
        "reused_ids",
        "reconciliation",
        "unmapped_failure_codes",
        "exchange_rates",
    }
    reconciled = [f for f in incident_run.findings if f.check == "reconciliation"]
    assert {_cell(f)["event_type"] for f in reconciled} == {"send", "receipt", "conversion"}


def test_results_are_kept_in_dq_results(dataset: Dataset, incident_run: CheckRun) -> None:
    engine = connect_engine(dataset.settings.warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select check_name, cell, observed, threshold, passed from dq_results "
                "where run_id = :run"
            ),
            {"run": incident_run.run_id},
        ).all()
    engine.dispose()
    assert len(rows) == len(incident_run.findings)
    failed = {(r.check_name, r.cell) for r in rows if not r.passed}
    assert failed == {(f.check, f.cell_text) for f in incident_run.failures}


def test_data_docs_are_written_under_the_data_dir(dataset: Dataset, incident_run: CheckRun) -> None:
    assert incident_run.data_docs is not None
    assert incident_run.data_docs.is_relative_to(dataset.settings.data_dir)
    index = incident_run.data_docs.read_text()
    assert "missing_receipts" in index and "orphan_receipts" in index


# --- the CLI on the hours after the incident: all pass -----------------------------------


@pytest.fixture(scope="module")
def after_incident(dataset: Dataset, incident_run: CheckRun) -> tuple[int, str, str]:
    """`dlrw check` (subprocess) judging only the hours after the incident."""
    result = run_dlrw(
        ["check", "--thresholds", str(WINDOWED_THRESHOLDS), "--now", dataset.now.isoformat()],
        env_for(dataset.settings),
    )
    return result.returncode, result.stdout, result.stderr


def test_cli_exits_0_when_every_check_passes(after_incident: tuple[int, str, str]) -> None:
    code, stdout, stderr = after_incident

    assert code == 0, stdout + stderr
    assert stdout == ""
    assert "all passed" in stderr
    assert re.search(r"Data Docs: .*index\.html", stderr)


def test_missing_receipts_and_silent_hours_pass_on_healthy_hours(
    dataset: Dataset, after_incident: tuple[int, str, str]
) -> None:
    """The incident operator's cells are judged after the incident too, and pass."""
    engine = connect_engine(dataset.settings.warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select check_name, cell, passed from dq_results where run_id = "
                "(select max(run_id) from dq_results) and check_name in "
                "('missing_receipts', 'silent_hours')"
            )
        ).all()
    engine.dispose()
    assert rows and all(r.passed for r in rows)
    assert any(
        f"operator={INCIDENT_OPERATOR}" in r.cell for r in rows if r.check_name == "silent_hours"
    )


# --- faults --------------------------------------------------------------------------------


@dataclass
class Faults:
    """What was broken, and the CLI's answer."""

    silent_cell: tuple[str, str]
    deleted_segment: Path
    deleted_rows: int
    deleted_date: str
    code: int
    lines: list[str]
    stderr: str


def _orphan_receipts(path: Path, received_at: datetime) -> Path:
    """Receipts from one provider for messages nobody sent."""
    with path.open("w") as out:
        for n in range(ORPHANS):
            receipt = DeliveryReceipt(
                event_id=f"orphan-{n}",
                provider=ORPHAN_PROVIDER,
                provider_message_id=f"SMorphan{n:08d}",
                status=Status.DELIVERED,
                is_final=True,
                received_at=received_at.replace(tzinfo=UTC),
                raw="{}",
            )
            out.write(json.dumps({"type": "receipt", **receipt.to_json_dict()}) + "\n")
    return path


@pytest.fixture(scope="module")
def faults(
    dataset: Dataset,
    incident_run: CheckRun,
    after_incident: tuple[int, str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Faults]:
    """Break the warehouse in five ways and its raw rows in three, then run `dlrw check`
    (subprocess) on it."""
    settings = dataset.settings
    located = connect_engine(settings.warehouse_url)
    rel = locate_relations(located)
    located.dispose()
    tmp = tmp_path_factory.mktemp("faults")

    # 1. Orphans, through the pipeline (store and warehouse both get them) and a build (the check
    # reads dbt's matching), on topics of their own so the other warehouse's dataset never sees
    # them.
    orphan_topics = settings.model_copy(
        update={"topic_prefix": f"{settings.topic_prefix}orphans-{dataset.backend}."}
    )
    create_topics(orphan_topics, partitions=1)
    orphans = _orphan_receipts(tmp / "orphans.jsonl", INCIDENT_START)
    assert run_command(["produce", str(orphans)], orphan_topics) == 0
    group = f"dq-orphans-{dataset.backend}"
    assert run_command(["ingest", "--once", "--group", group], orphan_topics) == 0
    assert run_command(["build", "--quiet"], settings) == 0

    # 2. A receipt segment of the first day whose rows the warehouse loses.
    segment = next(
        p for p in iter_segments(settings.store_dir, ["receipt"]) if "2026-11-17" in str(p)
    )
    keys = {(r["_topic"], r["_partition"], r["_offset"]) for r in read_segment(segment)}
    engine = connect_engine(settings.warehouse_url)
    with engine.begin() as conn:
        offsets = sorted(keys)
        for start in range(0, len(offsets), 1000):
            chunk = offsets[start : start + 1000]
            conn.execute(
                text(
                    "delete from raw_receipts where _topic = :t and _partition = :p and _offset in "
                    f"({', '.join(str(o) for _, _, o in chunk)})"
                ),
                {"t": chunk[0][0], "p": chunk[0][1]},
            )

        # 3. A retried batch cut differently: the same send records in a second segment.
        send_segment = next(iter_segments(settings.store_dir, ["send"]))
        shutil.copy(send_segment, send_segment.with_name("retried-" + send_segment.name))

        # 4. Raw rows that break the row rules dbt tests hold (one rule each).
        conn.execute(
            text(
                "update raw_receipts set status = 'LOST' where event_id = "
                "(select min(event_id) from raw_receipts where status = 'ENROUTE')"
            )
        )
        conn.execute(
            text(
                "update raw_receipts set done_at = submitted_at - interval '1 day' "
                "where event_id = (select min(event_id) from raw_receipts "
                "where done_at is not null and submitted_at is not null)"
            )
        )
        conn.execute(
            text(
                "update raw_sends set route_tier = 7 where event_id = "
                "(select min(event_id) from raw_sends)"
            )
        )
        hourly = rel.model("agg_deliverability_hourly")
        # 5. The busiest cell of 2026-11-18 19:00 sends nothing that hour (as far as the mart
        # knows): the simulator can lose receipts but not sends, so this one is made by hand.
        silent = conn.execute(
            text(
                f"select provider, mcc_mnc from {hourly} where period_hour = "
                f"cast('{SILENT_HOUR}' as timestamp) group by provider, mcc_mnc "
                "order by sum(sent) desc limit 1"
            )
        ).one()
        conn.execute(
            text(
                f"delete from {hourly} where provider = :p and mcc_mnc = :o "
                f"and period_hour = cast('{SILENT_HOUR}' as timestamp)"
            ),
            {"p": silent.provider, "o": silent.mcc_mnc},
        )
    engine.dispose()

    # 6. "Now" is three days after the newest receipt.
    late = dataset.now + timedelta(days=3)
    result = run_dlrw(
        ["check", "--thresholds", str(WINDOWED_THRESHOLDS), "--now", late.isoformat()],
        env_for(settings),
    )
    yield Faults(
        silent_cell=(silent.provider, silent.mcc_mnc),
        deleted_segment=segment,
        deleted_rows=len(keys),
        deleted_date="2026-11-17",
        code=result.returncode,
        lines=result.stdout.splitlines(),
        stderr=result.stderr,
    )


def _lines(faults: Faults, check: str) -> list[str]:
    return [line for line in faults.lines if line.startswith(f"{check}: ")]


def test_cli_exits_1_with_one_line_per_failure(faults: Faults) -> None:
    assert faults.code == 1, faults.stderr
    assert "Traceback" not in faults.stderr
    checks = {line.split(":", 1)[0] for line in faults.lines}
    assert checks == {"freshness", "orphan_receipts", "reconciliation", "silent_hours"}
    assert "failure(s) in" in faults.stderr


def test_a_late_now_trips_freshness(faults: Faults) -> None:
    (line,) = _lines(faults, "freshness")
    assert re.fullmatch(
        r"freshness: source=raw_receipts age_minutes=[\d,.]+ > 120 "
        r"\(newest received_at .*, now .*\)",
        line,
    ), line


def test_receipts_matching_no_message_trip_orphan_receipts_for_their_provider(
    faults: Faults,
) -> None:
    (line,) = _lines(faults, "orphan_receipts")
    assert re.fullmatch(
        rf"orphan_receipts: provider={ORPHAN_PROVIDER} share=0\.\d+ > 0\.01 "
        r"\([\d,]+ of [\d,]+ receipts\)",
        line,
    ), line


def test_a_segment_lost_from_the_warehouse_trips_reconciliation_for_its_day(
    faults: Faults,
) -> None:
    """Only the receipts of that day: the duplicated send segment is counted once."""
    (line,) = _lines(faults, "reconciliation")
    assert line.startswith(
        f"reconciliation: event_type=receipt event_date={faults.deleted_date} "
        f"difference={faults.deleted_rows:,} > 0 "
    ), line
    assert re.search(r"\(store [\d,]+, warehouse [\d,]+\)$", line)


def test_a_cell_without_sends_in_a_normal_hour_trips_silent_hours(faults: Faults) -> None:
    provider, operator = faults.silent_cell
    (line,) = _lines(faults, "silent_hours")
    assert re.fullmatch(
        rf"silent_hours: provider={provider} operator={operator} hour=2026-11-18T19:00 "
        r"with_receipt=0 < 1 \(no sends; normal [\d,]+ messages/h at this hour\)",
        line,
    ), line


# The dbt tests that hold the row rules the faults' raw rows break (the done_at one warns).
ROW_RULE_TESTS = {
    "source_in_status_model_raw_raw_receipts_status",
    "assert_done_not_before_submitted",
    "source_accepted_values_raw_raw_sends_route_tier__False__1__2__3__4",
}


def test_broken_raw_rows_fail_the_build_naming_each_rule_test(
    dataset: Dataset, faults: Faults
) -> None:
    """dbt owns the row rules: `dlrw build` on the broken rows fails, with every test that
    holds one of them, and no other, failing (done_not_before_submitted warns)."""
    result = run_dlrw(["build"], env_for(dataset.settings))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("dlrw build: error: dbt build failed")
    flagged = set(re.findall(r" of \d+ (?:FAIL \d+|ERROR|WARN \d+) (\S+) ", result.stderr))
    assert ROW_RULE_TESTS.issubset(flagged), result.stderr
    assert all(re.search("status|route_tier|done_not_before", name) for name in flagged), flagged
