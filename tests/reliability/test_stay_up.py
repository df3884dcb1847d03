"""The services outlive what they depend on: `dlrw collect` answers 503 while Kafka is away and
2xx once it is back; `dlrw alerts --watch` keeps watching through a PostgreSQL restart. (Ingest's
own outages are in test_faults.py and test_cluster.py.) The broker and PostgreSQL stopped are
private ones, never the shared dev services."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.local.broker import start_broker, stop_broker
from dlrw.models.wire import decode
from tests.alerts.helpers import NORMAL_CELLS, T0, write_fct_messages
from tests.cli import env_for, start_dlrw, stop
from tests.collect.conftest import Service, read_topic, run_collect
from tests.conftest import SAMPLES_DIR
from tests.reliability.conftest import PrivatePostgres


def _receipts() -> list[str]:
    return [line for line in (SAMPLES_DIR / "smpp.txt").read_text().splitlines() if line.strip()]


def _status_within(
    service: Service, path: str, body: str | None, wanted: int, timeout: float
) -> int:
    """The status ``path`` answers, asked again every half second until it is ``wanted`` or
    ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        status = service.request(path, body).status
        if status == wanted or time.monotonic() >= deadline:
            return status
        time.sleep(0.5)


@pytest.mark.broker
def test_collect_answers_503_while_kafka_is_away_and_2xx_once_it_is_back(
    own_broker: Settings, tmp_path: Path
) -> None:
    before, during, after = _receipts()[:3]
    with run_collect(own_broker, tmp_path) as service:
        assert service.request("/receipts/smpp", before).status == 200
        stop_broker(own_broker)
        assert service.request("/receipts/smpp", during).status == 503
        assert service.request("/readyz").status == 503
        start_broker(own_broker, log=lambda _line: None)
        assert _status_within(service, "/readyz", None, 200, timeout=30) == 200
        assert _status_within(service, "/receipts/smpp", after, 200, timeout=30) == 200
    # Both receipts answered 2xx are on the topic (the one answered 503 may be too, written
    # late: its provider sends it again, and the same receipt has the same event id).
    stored = {decode(r.value)[1]["provider_message_id"] for r in read_topic(own_broker, "receipt")}
    assert {"1891273321", "7220140002"} <= stored


def _next_line(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    """The next line of the watch's stderr holding ``marker``."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, f"the watch ended (exit {process.wait()})"
        if marker in line:
            return line
    raise AssertionError(f"no line with {marker!r} within {timeout}s")


def test_alerts_watch_keeps_watching_through_a_postgres_restart(
    settings: Settings, own_postgres: PrivatePostgres
) -> None:
    warehouse = settings.model_copy(update={"warehouse_url": own_postgres.url})
    write_fct_messages(warehouse, NORMAL_CELLS)
    now = (T0 + timedelta(minutes=10)).isoformat()
    watch = start_dlrw(
        ["alerts", "--baseline", "2d", "--now", now, "--watch", "0.5", "--no-refresh"],
        env_for(warehouse),
    )
    try:
        _next_line(watch, "evaluated")
        own_postgres.stop()
        _next_line(watch, "dlrw alerts: error: ")
        own_postgres.start()
        _next_line(watch, "evaluated")
        assert watch.poll() is None
    finally:
        _out, err = stop(watch)
    assert "Traceback" not in err
