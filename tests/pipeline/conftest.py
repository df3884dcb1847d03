"""Helpers for the pipeline tests: realistic events, publishing them, running ingest, and reading
whole raw tables back in a stable order."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.pipeline.ingest import Ingestor, IngestSummary
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.ingest.warehouse.tables import ALL_RAW_TABLES
from dlrw.models.events import ConversionEvent, DeliveryReceipt, Event, SendEvent
from dlrw.models.status import Status
from tests.cli import ROOT as ROOT  # re-exported: the reliability tests import it from here
from tests.cli import env_for as env_for  # likewise
from tests.cli import start_dlrw

# Two days, so the store is partitioned by event date and segments split within a batch.
T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
_COUNTRIES = [("GB", "23410"), ("IN", "40445"), ("DE", "26201"), ("BR", "72406")]
_STATUSES = [Status.DELIVERED, Status.UNDELIVERABLE, Status.ENROUTE, Status.EXPIRED]


def send(i: int) -> SendEvent:
    country, mcc_mnc = _COUNTRIES[i % len(_COUNTRIES)]
    return SendEvent(
        event_id=f"send-{i}",
        message_id=f"msg-{i}",
        provider=("twilio", "smpp", "infobip", "vonage")[i % 4],
        provider_message_id=f"pm-{i}",
        campaign_id=f"camp-{i % 7}",
        sender_id="ACME" if i % 5 else None,
        destination_hash=f"{i:064x}",
        country=country,
        mcc_mnc=mcc_mnc,
        route_id=f"r-{country}-t{1 + i % 4}",
        route_tier=1 + i % 4,
        segments=1 + i % 3,
        encoding="GSM7" if i % 3 else "UCS2",
        price=round(0.01 + (i % 50) / 1000, 4) if i % 11 else None,
        currency="EUR",
        submitted_at=T0 + timedelta(seconds=i * 7),
    )


def receipt(i: int) -> DeliveryReceipt:
    status = _STATUSES[i % len(_STATUSES)]
    return DeliveryReceipt(
        event_id=f"rcpt-{i}",
        provider="smpp",
        provider_message_id=f"pm-{i}",
        message_id=f"msg-{i}" if i % 2 else None,
        status=status,
        is_final=status.is_final,
        error_code=None if status is Status.DELIVERED else "001",
        mcc_mnc="23410",
        submitted_at=T0 + timedelta(seconds=i * 7),
        done_at=T0 + timedelta(seconds=i * 7 + 4),
        received_at=T0 + timedelta(seconds=i * 7 + 5),
        raw=f'id:pm-{i} sub:001 dlvrd:001 stat:DELIVRD err:000 text:"quote, comma\nnewline"',
    )


def conversion(i: int) -> ConversionEvent:
    return ConversionEvent(
        event_id=f"conv-{i}",
        message_id=f"msg-{i}",
        kind=("click", "purchase", "signup")[i % 3],
        value=12.5 if i % 3 == 1 else None,
        currency="EUR" if i % 3 == 1 else None,
        device_os=("android", "ios", "")[i % 3],
        occurred_at=T0 + timedelta(seconds=i * 7 + 60),
    )


def traffic(n: int, start: int = 0) -> Iterator[Event]:
    """About n events: every message sent, most with a receipt, some with a conversion."""
    i = start
    made = 0
    while made < n:
        yield send(i)
        made += 1
        if i % 10 and made < n:
            yield receipt(i)
            made += 1
        if i % 4 == 0 and made < n:
            yield conversion(i)
            made += 1
        i += 1


def publish(settings: Settings, events: Iterator[Event] | list[Event]) -> int:
    """Publish and wait for every acknowledgement; returns how many."""
    count = 0
    with EventPublisher(settings) as publisher:
        for event in events:
            publisher.publish(event)
            count += 1
    return count


def group_for(settings: Settings) -> str:
    """A consumer group of the test's own: groups are broker-wide, topics prefixes are not."""
    return f"ingest-{settings.topic_prefix}"


def ingest_once(settings: Settings, group: str | None = None, **options: Any) -> IngestSummary:
    """One in-process ``ingest --once``."""
    return Ingestor(settings, group=group or group_for(settings), **options).run(once=True)


def table_contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every raw table, ordered by topic, partition and offset."""
    engine = connect_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(
                        text(f"SELECT * FROM {table.name} ORDER BY _topic, _partition, _offset")
                    )
                ]
                for table in ALL_RAW_TABLES
            }
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, tuple[int, int]]:
    """Rows and distinct (topic, partition, offset) keys per raw table."""
    engine = connect_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: tuple(  # type: ignore[misc]
                    conn.execute(
                        text(
                            f"SELECT count(*), count(DISTINCT _topic || ':' || _partition || ':' "
                            f"|| _offset) FROM {table.name}"
                        )
                    ).one()
                )
                for table in ALL_RAW_TABLES
            }
    finally:
        engine.dispose()


def start_ingest(settings: Settings, *args: str) -> subprocess.Popen[str]:
    """`dlrw ingest ARGS` in the background, in the test's own consumer group."""
    return start_dlrw(["ingest", "--group", group_for(settings), *args], env_for(settings))


@pytest.fixture(params=["duckdb", "postgresql"])
def any_warehouse(request: pytest.FixtureRequest, broker_settings: Settings) -> Iterator[Settings]:
    """``broker_settings`` on DuckDB, then on a fresh PostgreSQL database."""
    if request.param == "duckdb":
        yield broker_settings
    else:
        url = request.getfixturevalue("postgres_url")
        yield broker_settings.model_copy(update={"warehouse_url": url})
