"""`dlrw simulate`: realistic deliverability, receipt realities, a truth file that agrees with
the emitted receipts, incidents, determinism and the CLI's errors."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from dlrw.ingest.adapters import parse_receipts, render_receipt
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.simulate.cli import config_from_args, write_events
from dlrw.ingest.simulate.cli import run as run_simulate
from dlrw.ingest.simulate.engine import FAILURE_CAUSES, SimulationConfig, Simulator
from dlrw.ingest.simulate.failures import load_failure_codes
from dlrw.ingest.simulate.incidents import parse_incident
from dlrw.ingest.simulate.receipts import ReceiptFactory
from dlrw.ingest.simulate.truth import TruthRow, deciding_receipt
from dlrw.ingest.simulate.world import load_world
from dlrw.models.events import EVENT_TYPES, ConversionEvent, DeliveryReceipt, Event, SendEvent
from dlrw.models.status import FAILED_STATUSES, Status
from tests.cli import run_dlrw, user_env
from tests.conftest import SAMPLES_DIR

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
HASH_KEY = b"test-hash-key"
DIRECT_ROUTE_COUNTRIES = ("US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "CH", "DK")


@dataclass
class Run:
    events: list[Event]
    truth: list[TruthRow]

    @property
    def sends(self) -> list[SendEvent]:
        return [e for e in self.events if isinstance(e, SendEvent)]

    @property
    def receipts(self) -> list[DeliveryReceipt]:
        return [e for e in self.events if isinstance(e, DeliveryReceipt)]


def simulate(messages: int, days: int, seed: int, incidents: Iterable[str] = ()) -> Run:
    known = [row.split(",")[0] for row in (ROOT / "dbt_project/seeds/operators.csv").open()]
    config = SimulationConfig(
        messages=messages,
        days=days,
        seed=seed,
        start=START,
        incidents=tuple(parse_incident(spec, known) for spec in incidents),
    )
    truth: list[TruthRow] = []
    events = list(Simulator(config, HASH_KEY).events(truth.append))
    return Run(events, truth)


@pytest.fixture(scope="module")
def run() -> Run:
    return simulate(messages=30_000, days=3, seed=7)


def rate(rows: Iterable[TruthRow], outcome: str = "delivered") -> float:
    rows = list(rows)
    assert rows, "no messages in this cell"
    return sum(r.outcome == outcome for r in rows) / len(rows)


def test_tier4_routes_deliver_clearly_below_tier1(run: Run) -> None:
    by_tier = {tier: rate(r for r in run.truth if r.route_tier == tier) for tier in (1, 2, 3, 4)}
    assert by_tier[1] > by_tier[2] > by_tier[4]
    assert by_tier[4] < by_tier[1] - 0.1, by_tier


@pytest.mark.parametrize("country", DIRECT_ROUTE_COUNTRIES)
def test_direct_routes_deliver_95_percent_in_north_america_and_western_europe(
    run: Run, country: str
) -> None:
    # Transactional only: French promotional traffic meets the do-not-disturb registry.
    rows = [
        r
        for r in run.truth
        if r.country == country and r.route_tier == 1 and r.campaign_kind == "transactional"
    ]
    assert rate(rows) >= 0.95


def test_emerging_markets_deliver_much_less_than_western_europe(run: Run) -> None:
    def tier1(countries: set[str]) -> float:
        return rate(r for r in run.truth if r.country in countries and r.route_tier == 1)

    assert tier1({"NG", "PK", "BD", "ID"}) < tier1({"GB", "DE", "NL"}) - 0.08


def test_indian_promotional_traffic_is_rejected_at_the_dnd_share(run: Run) -> None:
    def decided(kind: str) -> list[TruthRow]:
        return [
            r for r in run.truth if r.country == "IN" and r.campaign_kind == kind and r.final_status
        ]

    rejected = sum(r.final_status == "REJECTED" for r in decided("promotional"))
    assert 0.43 <= rejected / len(decided("promotional")) <= 0.57
    assert not any(r.final_status == "REJECTED" for r in decided("transactional"))
    assert not any(r.cause == "dnd" for r in run.truth if r.campaign_kind == "transactional")


def test_abandoned_numbers_and_phones_off_without_retry_are_undeliverable(run: Run) -> None:
    for cause in ("abandoned", "phone_off"):
        rows = [r for r in run.truth if r.cause == cause]
        assert rows
        assert {r.network_status for r in rows} == {"UNDELIVERABLE"}
    expired = [r for r in run.truth if r.cause == "expired"]
    assert expired and {r.network_status for r in expired} == {"EXPIRED"}
    assert any(r.cause == "delivered_after_retry" for r in run.truth)


def test_every_raw_payload_parses_back_to_its_receipt(run: Run) -> None:
    for receipt in run.receipts:
        assert parse_receipts(receipt.provider, receipt.raw, receipt.received_at) == [receipt]


def test_every_raw_payload_is_what_the_adapter_renders_for_its_receipt(run: Run) -> None:
    for receipt in run.receipts:
        assert render_receipt(receipt.provider, receipt) == receipt.raw


@pytest.mark.parametrize(
    ("provider", "values"),
    [
        ("smpp", {"error_code": "0000", "segments_delivered": 0, "done_ms": None}),
        ("smpp", {"submitted_ms": None, "segments_submitted": None, "error_code": "EC_X"}),
        ("twilio", {"pmid": "SM+a/b c", "error_code": "30 07", "done_ms": 1767571234567}),
        ("twilio", {"error_code": "", "done_ms": None}),
        ("infobip", {"error_code": "EC_ROUTE_FAILURE", "price": 0.0123, "currency": None}),
        ("infobip", {"error_code": "000", "message_id": None, "mcc_mnc": None, "price": None}),
        ("infobip", {"status": Status.ENROUTE, "error_code": "27", "message_id": 'é"x'}),
        ("vonage", {"error_code": "0", "price": 0.031415926535, "mcc_mnc": None}),
        ("vonage", {"status": Status.ACCEPTED, "message_id": None, "price": None}),
    ],
)
def test_receipt_factory_writes_what_the_adapters_write_and_read(
    provider: str, values: dict[str, Any]
) -> None:
    draft: dict[str, Any] = {
        "pmid": "0A1B2C3D4E5F6071",
        "status": Status.DELIVERED,
        "received_ms": 1767571299123,
        "message_id": "f" * 32,
        "error_code": None,
        "mcc_mnc": "23410",
        "submitted_ms": 1767571200999,
        "done_ms": 1767571230001,
        "segments_submitted": 2,
        "segments_delivered": 2,
        "price": 0.07,
        "currency": "EUR",
        **values,
    }
    # verify=1: every receipt is rendered and parsed by the adapter and compared (ReceiptDrift).
    receipt = ReceiptFactory(verify=1).build(
        provider, draft.pop("pmid"), draft.pop("status"), draft.pop("received_ms"), **draft
    )
    assert parse_receipts(provider, receipt.raw, receipt.received_at) == [receipt]
    assert render_receipt(provider, receipt) == receipt.raw


def test_every_event_keeps_the_contract(run: Run) -> None:
    problems = [(e.event_type, e.problem()) for e in run.events]
    assert [p for p in problems if p[1] is not None] == []
    assert {s.provider for s in run.sends} == {"smpp", "twilio", "infobip", "vonage"}
    assert len({s.country for s in run.sends}) >= 20


def test_no_raw_phone_number_leaves_the_simulator(run: Run) -> None:
    assert all(len(s.destination_hash) == 64 for s in run.sends)
    assert not any(re.search(r"\+\d{8}", r.raw) for r in run.receipts)


def test_stream_is_in_arrival_order_with_sends_before_their_receipts(run: Run) -> None:
    def arrival(event: Event) -> datetime:
        if isinstance(event, SendEvent):
            return event.submitted_at
        if isinstance(event, DeliveryReceipt):
            return event.received_at
        assert isinstance(event, ConversionEvent)
        return event.occurred_at

    times = [arrival(e) for e in run.events]
    assert times == sorted(times)
    sent: set[tuple[str, str | None]] = set()
    orphans = 0
    for event in run.events:
        if isinstance(event, SendEvent):
            sent.add((event.provider, event.provider_message_id))
        elif isinstance(event, DeliveryReceipt) and (
            (event.provider, event.provider_message_id) not in sent
        ):
            orphans += 1
    all_pmids = {(s.provider, s.provider_message_id) for s in run.sends}
    true_orphans = [r for r in run.receipts if (r.provider, r.provider_message_id) not in all_pmids]
    assert orphans == len(true_orphans) > 0


def test_receipts_come_intermediate_duplicated_out_of_order_and_late(run: Run) -> None:
    receipts = run.receipts
    assert any(not r.is_final for r in receipts)
    ids = Counter(r.event_id for r in receipts)
    duplicated = [r for r in receipts if ids[r.event_id] > 1]
    assert duplicated
    # A duplicate is the same payload: same event id, same raw, same fields but arrival.
    first: dict[str, DeliveryReceipt] = {}
    for r in duplicated:
        seen = first.setdefault(r.event_id, r)
        assert (seen.raw, seen.status, seen.done_at) == (r.raw, r.status, r.done_at)
    final_seen: set[tuple[str, str]] = set()
    out_of_order = 0
    for r in receipts:
        key = (r.provider, r.provider_message_id)
        if r.is_final:
            final_seen.add(key)
        elif key in final_seen:
            out_of_order += 1
    assert out_of_order > 0
    late = [r for r in receipts if r.done_at and r.received_at - r.done_at > timedelta(hours=1)]
    assert len(late) > 0.002 * len(receipts)


def test_some_delivered_messages_are_never_reported(run: Run) -> None:
    unreported = [r for r in run.truth if r.network_status == "DELIVERED" and not r.has_receipt]
    assert unreported
    assert any(r.network_status and not r.final_status and r.has_receipt for r in run.truth)


def test_conversions_come_only_from_delivered_messages(run: Run) -> None:
    delivered = {r.message_id for r in run.truth if r.network_status == "DELIVERED"}
    conversions = [e for e in run.events if isinstance(e, ConversionEvent)]
    assert {c.kind for c in conversions} == {"click", "purchase"}
    assert {c.device_os for c in conversions} <= {"android", "ios", "other"}
    assert all(c.message_id in delivered for c in conversions)
    assert sum(r.conversions for r in run.truth) == len(conversions)


def test_price_is_the_per_segment_price_times_segments(run: Run) -> None:
    per_segment: dict[str, set[float]] = defaultdict(set)
    for send in run.sends:
        assert send.price is not None and 1 <= send.segments <= 3
        per_segment[send.route_id].add(round(send.price / send.segments, 5))
        assert send.encoding in ("GSM7", "UCS2")
    assert all(len(prices) == 1 for prices in per_segment.values())


def test_twilio_prices_in_usd_every_other_provider_in_eur(run: Run) -> None:
    """Mixed currencies, deterministically by provider; the truth and the final receipts agree."""
    currencies = {(send.provider, send.currency) for send in run.sends}
    assert currencies == {("twilio", "USD"), ("smpp", "EUR"), ("infobip", "EUR"), ("vonage", "EUR")}
    assert {(row.provider, row.currency) for row in run.truth} == currencies
    priced = [r for r in run.receipts if r.currency is not None and r.message_id is not None]
    sent = {send.message_id: send.currency for send in run.sends}
    assert priced and all(r.currency == sent[r.message_id] for r in priced)


def fold(events: list[Event]) -> dict[tuple[str, str], tuple[str | None, datetime | None, bool]]:
    """docs/design.md's rule, written apart from the simulator: per (provider, provider message id),
    the final receipt with the latest done_at then received_at; duplicates (same event id) taken
    at their first arrival; a final beats any intermediate."""
    first: dict[str, DeliveryReceipt] = {}
    for e in events:
        if isinstance(e, DeliveryReceipt) and e.event_id not in first:
            first[e.event_id] = e
    by_message: dict[tuple[str, str], list[DeliveryReceipt]] = defaultdict(list)
    for r in first.values():
        by_message[(r.provider, r.provider_message_id)].append(r)
    folded = {}
    for key, receipts in by_message.items():
        finals = sorted(
            (r for r in receipts if r.is_final),
            key=lambda r: (r.done_at is not None, r.done_at or r.received_at, r.received_at),
        )
        decider = finals[-1] if finals else None
        folded[key] = (
            decider.status.value if decider else None,
            decider.done_at if decider else None,
            True,
        )
    return folded


def test_truth_file_agrees_with_a_fold_of_the_emitted_receipts(run: Run) -> None:
    folded = fold(run.events)
    sends = {s.message_id: s for s in run.sends}
    assert len(run.truth) == len(sends) == 30_000
    decided_by_later_done = 0
    for row in run.truth:
        send = sends[row.message_id]
        assert (row.provider, row.provider_message_id, row.country, row.mcc_mnc) == (
            send.provider,
            send.provider_message_id,
            send.country,
            send.mcc_mnc,
        )
        assert (row.route_id, row.route_tier, row.price, row.submitted_at) == (
            send.route_id,
            send.route_tier,
            send.price,
            send.submitted_at,
        )
        status, done_at, has_receipt = folded.get(
            (row.provider, row.provider_message_id), (None, None, False)
        )
        assert (row.final_status, row.done_at, row.has_receipt) == (status, done_at, has_receipt)
        expected_outcome = (
            "pending"
            if status is None
            else "delivered"
            if status == "DELIVERED"
            else "failed"
            if status in ("UNDELIVERABLE", "EXPIRED", "REJECTED", "DELETED")
            else "other"
        )
        assert row.outcome == expected_outcome
        if row.cause == "delivered_after_retry" and row.receipts >= 3:
            decided_by_later_done += 1
    # Messages with two final receipts (a first-attempt failure, then the delivery) exist.
    assert decided_by_later_done > 0


def test_out_file_round_trips_through_from_dict(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    events = run.events[:20_000]
    write_events(out, events)
    lines = out.read_text().splitlines()
    assert len(lines) == len(events)
    for line, event in zip(lines, events, strict=True):
        record = json.loads(line)
        assert EVENT_TYPES[record["type"]].from_dict(record) == event
        expected = {"type": event.event_type, **event.to_json_dict()}
        assert record == expected
        assert line == json.dumps(expected, separators=(",", ":"))


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC),  # no fraction: isoformat leaves it out
        datetime(2026, 1, 5, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 58, 1000, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(0))),
    ],
)
def test_event_lines_are_the_json_of_the_event_for_any_timestamp(
    at: datetime, tmp_path: Path
) -> None:
    events: list[Event] = [
        SendEvent("e1", "m1", "smpp", "h" * 64, "GB", "r-GB-t1-a", 1, 2, at, price=0.5),
        DeliveryReceipt(
            "e2", "vonage", "P1", Status.DELIVERED, True, at, 'raw "é"', done_at=at, price=1e-07
        ),
        ConversionEvent("e3", "m1", "click", at),
    ]
    out = tmp_path / "events.jsonl"
    write_events(out, events)
    expected = [{"type": e.event_type, **e.to_json_dict()} for e in events]
    assert out.read_text().splitlines() == [json.dumps(r, separators=(",", ":")) for r in expected]


@pytest.fixture(scope="module")
def incident_run() -> Run:
    day2 = START + timedelta(days=1)
    window = f"start={day2.isoformat()},end={(day2 + timedelta(days=1)).isoformat()}"
    return simulate(
        messages=30_000,
        days=3,
        seed=11,
        incidents=[f"operator=23410,{window},delivery=0.4", f"operator=26201,{window},receipts=0"],
    )


def in_window(row: TruthRow) -> bool:
    return START + timedelta(days=1) <= row.submitted_at < START + timedelta(days=2)


def test_delivery_incident_lowers_exactly_that_operator_in_its_window(incident_run: Run) -> None:
    truth = incident_run.truth
    hit = rate(r for r in truth if r.mcc_mnc == "23410" and in_window(r))
    before = rate(r for r in truth if r.mcc_mnc == "23410" and not in_window(r))
    neighbours = rate(
        r for r in truth if r.country == "GB" and r.mcc_mnc != "23410" and in_window(r)
    )
    assert 0.25 <= hit / before <= 0.55, (hit, before)
    assert neighbours >= before - 0.05
    assert {r.cause for r in truth if r.cause == "incident" and r.mcc_mnc != "23410"} == set()


def test_receipt_loss_incident_removes_that_operators_receipts_in_its_window(
    incident_run: Run,
) -> None:
    truth = incident_run.truth
    hit = [r for r in truth if r.mcc_mnc == "26201" and in_window(r)]
    assert hit and not any(r.has_receipt for r in hit)
    pmids = {r.provider_message_id for r in hit}
    assert not any(e.provider_message_id in pmids for e in incident_run.receipts)
    assert rate(r for r in truth if r.mcc_mnc == "26201" and not in_window(r)) > 0.9
    assert rate(r for r in truth if r.mcc_mnc == "26202" and in_window(r)) > 0.9


def test_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    env = user_env(tmp_path, DLRW_HASH_KEY=HASH_KEY.decode())
    outputs = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.csv"
        args = ["--messages", "3000", "--days", "2", "--seed", seed, "--start", "2026-01-05"]
        result = run_dlrw(["simulate", *args, "--out", str(out), "--truth", str(truth)], env)
        assert result.returncode == 0, result.stderr
        assert "simulated 3,000 messages" in result.stdout
        outputs.append((out.read_bytes(), truth.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[2][0] and outputs[0][1] != outputs[2][1]
    assert outputs[0][1].count(b"\n") == 3001  # header + one row per message


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("operator=23410,start=2026-01-05,end=2026-01-06", "give delivery= and/or receipts="),
        ("operator=99999,start=2026-01-05,end=2026-01-06,delivery=0.4", "not an MCC-MNC"),
        ("operator=23410,start=yesterday,end=2026-01-06,delivery=0.4", "not an ISO-8601"),
        ("operator=23410,start=2026-01-05,end=2026-01-06,delivery=1.5", "outside 0..1"),
        ("operator=23410,start=2026-01-06,end=2026-01-05,receipts=0", "end must be after"),
    ],
)
def test_bad_incident_spec_exits_2_with_one_line(spec: str, reason: str, tmp_path: Path) -> None:
    args = ["simulate", "--messages", "10", "--incident", spec, "--out", str(tmp_path / "x.jsonl")]
    result = run_dlrw(args, user_env(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr


@pytest.mark.broker
def test_default_destination_publishes_every_event_to_kafka(broker_settings: Settings) -> None:
    args = argparse.Namespace(
        messages=500, days=1, seed=5, start="2026-01-05", incident=[], truth=None, out=None
    )
    assert run_simulate(args, broker_settings) == 0
    expected = Counter(e.event_type for e in Simulator(config_from_args(args), HASH_KEY).events())
    consumer = KafkaConsumer(bootstrap_servers=broker_settings.kafka_bootstrap)
    try:
        published = {}
        for event_type in expected:
            topic = broker_settings.topic(event_type)
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            published[event_type] = sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()
    assert published == dict(expected)


# --- failure causes (seed failure_codes) ---------------------------------------------------

FAILURE_CODES = load_failure_codes()
OVERRIDE_ROUTE = "r-IN-t1-a"  # the seed renumbers its SMSC's err: values (Twilio SMPP's)


def _routes(run: Run) -> dict[tuple[str, str], str]:
    return {(s.provider, s.provider_message_id): s.route_id for s in run.sends}


def _failure_cause(receipt: DeliveryReceipt, route_id: str | None) -> str:
    return FAILURE_CODES.cause_of(
        receipt.provider, route_id, receipt.error_code, receipt.status.value
    )


def test_every_failure_code_the_simulator_emits_has_a_cause(run: Run) -> None:
    routes = _routes(run)
    failures = [r for r in run.receipts if r.status in FAILED_STATUSES]
    unmapped = {
        (r.provider, r.error_code, r.status.value)
        for r in failures
        if _failure_cause(r, routes.get((r.provider, r.provider_message_id))) == "unknown"
    }
    assert unmapped == set()
    codes = {(r.provider, r.error_code) for r in failures if r.error_code is not None}
    assert {provider for provider, _ in codes} == {"smpp", "twilio", "infobip", "vonage"}
    assert len(codes) > 30, "codes are drawn from the seed, several per cause"


def test_every_failure_code_in_the_provider_samples_has_a_cause() -> None:
    files = {
        "smpp.txt": "smpp",
        "twilio.txt": "twilio",
        "infobip.jsonl": "infobip",
        "vonage.txt": "vonage",
    }
    failures = [
        receipt
        for name, provider in files.items()
        for line in SAMPLES_DIR.joinpath(name).read_text(encoding="utf-8").splitlines()
        for receipt in parse_receipts(provider, line, START)
        if receipt.status in FAILED_STATUSES
    ]
    assert {(r.provider, r.error_code, _failure_cause(r, None)) for r in failures} == {
        ("smpp", "001", "unknown_subscriber"),  # GSM MAP unknownSubscriber
        ("smpp", None, "expired"),  # stat:EXPIRED err:000
        ("twilio", "30005", "unknown_subscriber"),
    }


def test_truth_failure_cause_is_the_cause_the_deciding_receipt_carries(run: Run) -> None:
    routes = _routes(run)
    by_message: dict[tuple[str, str], list[DeliveryReceipt]] = defaultdict(list)
    for receipt in run.receipts:
        by_message[(receipt.provider, receipt.provider_message_id)].append(receipt)
    carried: Counter[str] = Counter()
    for row in run.truth:
        if row.outcome != "failed":
            assert row.failure_cause is None
            continue
        decider = deciding_receipt(by_message[(row.provider, row.provider_message_id)])
        assert decider is not None
        assert row.failure_cause == _failure_cause(
            decider, routes[(decider.provider, row.provider_message_id)]
        )
        if row.network_status == "EXPIRED":
            assert row.failure_cause == "expired"
        elif row.cause != "delivered_after_retry":  # its failed first attempt decided
            assert row.failure_cause == FAILURE_CAUSES[row.cause]
            carried[row.failure_cause] += 1
    assert set(carried) == {
        "dnd_or_opt_out",
        "unknown_subscriber",
        "absent_subscriber",
        "network_or_route",
    }


def test_a_route_override_renumbers_that_routes_codes(run: Run) -> None:
    """001 is absent_subscriber on the override route (Twilio SMPP), unknown_subscriber (GSM
    MAP) on every other SMPP route; each route's receipts say what happened in its numbering."""
    routes = _routes(run)
    on_route: dict[str, str] = {}
    elsewhere: dict[str, str] = {}
    for r in run.receipts:
        if r.provider != "smpp" or r.status is not Status.UNDELIVERABLE or r.error_code is None:
            continue
        if (r.provider, r.provider_message_id) not in routes:
            continue  # an orphan: no route
        route = routes[(r.provider, r.provider_message_id)]
        seen = on_route if route == OVERRIDE_ROUTE else elsewhere
        seen[r.error_code] = _failure_cause(r, route)
    assert on_route["001"] == "absent_subscriber"
    assert elsewhere["001"] == "unknown_subscriber"
    assert on_route["005"] == "unknown_subscriber"


def test_truth_keeps_each_operators_retry_behaviour(run: Run) -> None:
    world = load_world()
    retry = {op.mcc_mnc: op.a2p_retry for c in world.countries for op in c.operators}
    assert all(row.a2p_retry is retry[row.mcc_mnc] for row in run.truth)
    assert {row.a2p_retry for row in run.truth} == {True, False}


def test_a_cause_a_provider_has_no_code_for_is_a_readable_error() -> None:
    with pytest.raises(ConfigError, match="has no smpp code for provider_rejected"):
        FAILURE_CODES.code_for("smpp", None, "REJECTED", "provider_rejected", "x")
