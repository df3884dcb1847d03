"""Evaluations against a ``fct_messages``-shaped table with known rates: the right cell fires,
thin cells are never judged, cooldown and resolve hold, and every sink delivers."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, select, text

from dlrw.ingest.alerts.evaluate import evaluate_once
from dlrw.ingest.alerts.rules import Rules
from dlrw.ingest.alerts.sinks import KafkaSink, StdoutSink, WebhookSink
from dlrw.ingest.alerts.warehouse import ALERT_STATE
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.warehouse.connection import connect_engine
from tests.alerts.helpers import NORMAL_CELLS, T0, CellTraffic, Received, write_fct_messages

AIRTEL = "IN/40410/t2"
RULES = Rules(baseline=timedelta(days=2))


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC)


def _with_incident(
    mcc_mnc: str, start: datetime, end: datetime, delivery: float, receipts: float = 0.98
) -> list[CellTraffic]:
    return [
        replace(c, incident=(start, end, delivery, receipts)) if c.mcc_mnc == mcc_mnc else c
        for c in NORMAL_CELLS
    ]


def _evaluate(settings: Settings, now: datetime, rules: Rules = RULES) -> list[dict[str, Any]]:
    out = io.StringIO()
    evaluate_once(settings, rules, StdoutSink(out), _utc(now))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_an_incident_on_one_operator_alerts_exactly_its_cell(settings: Settings) -> None:
    write_fct_messages(settings, _with_incident("40410", T0 - timedelta(hours=1), T0, 0.4))
    out = io.StringIO()
    report = evaluate_once(settings, RULES, StdoutSink(out), _utc(T0 + RULES.settle))
    alerts = [json.loads(line) for line in out.getvalue().splitlines()]

    assert [(a["cell_id"], a["kind"], a["status"]) for a in alerts] == [
        (AIRTEL, "delivery_drop", "firing")
    ]
    alert = alerts[0]
    assert alert["severity"] == "critical"
    assert alert["current_rate"] == pytest.approx(0.4 * 0.98, abs=0.07)
    assert alert["baseline_rate"] == pytest.approx(0.92, abs=0.02)
    assert alert["window_sent"] >= 300 and alert["baseline_sent"] >= 10_000
    assert alert["z"] < -10 and alert["p_value"] < alert["p_threshold"]
    assert alert["window_start"] == "2026-01-07T23:00:00Z"
    assert alert["window_end"] == "2026-01-08T00:00:00Z"
    assert alert["text"].startswith("Delivery to Airtel (40410, IN) on tier 2 fell to ")
    assert "in the last hour from 9" in alert["text"]
    assert "over the previous 2 days" in alert["text"]
    # Thin cells are seen but never judged: DE has 5 messages an hour (operator x tier + its
    # one provider cell), the other 9 cells are evaluated.
    assert report.evaluation.cells_seen == 11
    assert report.evaluation.cells_evaluated == 9


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_warehouse(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """``settings`` on a DuckDB file, or on a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return settings
    url: str = request.getfixturevalue("postgres_url")
    return settings.model_copy(update={"warehouse_url": url})


def test_a_delivery_drop_names_the_dominant_cause_of_its_failures(
    any_warehouse: Settings,
) -> None:
    cells = [
        replace(c, incident_cause="filtered") if c.mcc_mnc == "40410" else c
        for c in _with_incident("40410", T0 - timedelta(hours=1), T0, 0.4)
    ]
    write_fct_messages(any_warehouse, cells)
    alerts = _evaluate(any_warehouse, T0 + RULES.settle)
    assert [(a["cell_id"], a["kind"]) for a in alerts] == [(AIRTEL, "delivery_drop")]
    alert = alerts[0]
    # The window's failures, counted straight from the table: both Airtel providers' cells.
    engine = connect_engine(any_warehouse.warehouse_url)
    with engine.connect() as conn:
        failed = dict(
            conn.execute(
                text(
                    "select failure_cause, count(*) from fct_messages where mcc_mnc = '40410' "
                    "and route_tier = 2 and outcome = 'failed' and submitted_at >= :start "
                    "and submitted_at < :end group by failure_cause"
                ),
                {"start": T0 - timedelta(hours=1), "end": T0},
            ).all()
        )
    engine.dispose()
    share = failed["filtered"] / sum(failed.values())
    assert share > 0.8 and failed["filtered"] == max(failed.values())
    assert alert["dominant_cause"] == "filtered"
    assert alert["window_failed"] == sum(failed.values())
    assert alert["dominant_cause_share"] == pytest.approx(share, abs=1e-4)
    assert alert["text"].endswith(
        f"; {share:.0%} filtered among its {sum(failed.values()):,} failed messages"
    )


def test_low_volume_cells_never_alert_even_when_everything_fails(settings: Settings) -> None:
    cells = [
        *NORMAL_CELLS[:-1],
        CellTraffic(
            "DE", "26201", "Telekom", 1, "smpp", 5,
            incident=(T0 - timedelta(hours=1), T0, 0.0, 0.98),
        ),
    ]  # fmt: skip
    write_fct_messages(settings, cells)
    assert _evaluate(settings, T0 + RULES.settle) == []


def test_missing_receipts_alert_as_a_receipt_gap(settings: Settings) -> None:
    write_fct_messages(settings, _with_incident("23410", T0 - timedelta(hours=1), T0, 0.97, 0.3))
    alerts = _evaluate(settings, T0 + RULES.settle)
    assert [(a["cell_id"], a["kind"]) for a in alerts] == [("GB/23410/t1", "receipt_gap")]
    assert "a reporting gap, not a delivery drop" in alerts[0]["text"]
    assert alerts[0]["dominant_cause"] is None  # failures do not explain a reporting gap
    assert alerts[0]["current_rate"] == pytest.approx(0.7, abs=0.08)  # share without receipt


def test_a_firing_cell_is_not_realerted_within_the_cooldown_and_resolves(
    settings: Settings,
) -> None:
    incident_end = T0 + timedelta(hours=2)
    write_fct_messages(
        settings, _with_incident("40410", T0 - timedelta(hours=1), incident_end, 0.4)
    )
    first = T0 + RULES.settle
    statuses = []
    for minutes in (0, 30, 70, 190, 250):
        alerts = _evaluate(settings, first + timedelta(minutes=minutes))
        statuses.append([(a["cell_id"], a["status"]) for a in alerts])
    assert statuses == [
        [(AIRTEL, "firing")],  # first evaluation after the data landed
        [],  # still failing, within the 1 h cooldown
        [(AIRTEL, "firing")],  # still failing, cooldown over: a reminder
        [(AIRTEL, "resolved")],  # window after the incident: recovered
        [],  # stays resolved
    ]
    engine = create_engine(settings.warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(select(ALERT_STATE)).mappings().all()
    engine.dispose()
    assert len(rows) == 1
    row = rows[0]
    assert (row["cell_id"], row["kind"], row["status"]) == (AIRTEL, "delivery_drop", "resolved")
    assert row["first_fired_at"] == first
    assert row["last_fired_at"] == first + timedelta(minutes=70)
    assert row["resolved_at"] == first + timedelta(minutes=190)
    assert json.loads(row["last_alert"])["status"] == "resolved"


def test_the_webhook_gets_slack_text_and_the_alert_fields(
    settings: Settings, webhook: tuple[str, Received]
) -> None:
    url, received = webhook
    write_fct_messages(settings, _with_incident("40410", T0 - timedelta(hours=1), T0, 0.4))
    report = evaluate_once(settings, RULES, WebhookSink(url), _utc(T0 + RULES.settle))
    assert len(report.fired) == 1
    assert received.content_types == ["application/json"]
    body = received.bodies[0]
    assert body["text"].startswith("Delivery to Airtel (40410, IN) on tier 2 fell to")
    assert body["cell_id"] == AIRTEL and body["kind"] == "delivery_drop"
    assert {"current_rate", "baseline_rate", "window_sent", "z", "p_value", "severity"} <= set(body)


def test_an_alert_the_webhook_did_not_take_is_sent_again_next_time(
    settings: Settings, webhook: tuple[str, Received]
) -> None:
    url, received = webhook
    write_fct_messages(settings, _with_incident("40410", T0 - timedelta(hours=1), T0, 0.4))
    now = _utc(T0 + RULES.settle)
    with pytest.raises(ServiceUnavailable, match=r"webhook http://127\.0\.0\.1:1/"):
        evaluate_once(settings, RULES, WebhookSink("http://127.0.0.1:1/", timeout_s=2), now)
    report = evaluate_once(settings, RULES, WebhookSink(url), now + timedelta(minutes=1))
    assert [a["cell_id"] for a in report.fired] == [AIRTEL]
    assert len(received.bodies) == 1


@pytest.mark.broker
def test_the_kafka_sink_publishes_keyed_by_cell(broker_settings: Settings) -> None:
    settings = broker_settings
    write_fct_messages(settings, _with_incident("40410", T0 - timedelta(hours=1), T0, 0.4))
    sink = KafkaSink(settings)
    try:
        report = evaluate_once(settings, RULES, sink, _utc(T0 + RULES.settle))
    finally:
        sink.close()
    assert len(report.fired) == 1
    topic = settings.topic("alert")
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = []
        for _ in range(20):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if records:
                break
    finally:
        consumer.close()
    assert [r.key for r in records] == [AIRTEL.encode()]
    value = json.loads(records[0].value)
    assert value["kind"] == "delivery_drop" and value["status"] == "firing"
    assert value["text"].startswith("Delivery to Airtel")
