"""``dlrw collect --metrics-port``: requests counted by route and status, with their latency."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from tests.collect.conftest import run_collect
from tests.reliability.conftest import free_port
from tests.service.conftest import scrape

pytestmark = pytest.mark.broker

_RECEIPT = (
    "id:7220140001 sub:001 dlvrd:000 submit date:2403121015 done date:2403121016 stat:UNDELIV "
    "err:001 text:Your code is 4411"
)


def _status(url: str, body: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(url, body, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _requests(samples: dict) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["route"], dict(labels)["status"]): value
        for (name, labels), value in samples.items()
        if name == "dlrw_collect_requests_total"
    }


def test_requests_are_counted_by_route_and_status_with_latency(
    broker_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with run_collect(broker_settings, tmp_path, "--metrics-port", str(port)) as service:
        assert service.request("/receipts/smpp", _RECEIPT, method="POST").status == 200
        assert service.request("/receipts/smpp", "not a receipt", method="POST").status == 400
        assert service.request("/receipts/smpp", "x" * 2_000_000, method="POST").status == 413
        # Unknown paths share one series, whatever they are.
        assert _status(service.url + "/receipts/+447700900123", b"") == 404
        assert _status(service.url + "/favicon.ico") == 404
        samples = scrape(port)

    requests = _requests(samples)
    assert requests.pop(("/healthz", "200")) >= 1  # the fixture waits for it to answer
    assert requests == {
        ("/receipts/smpp", "200"): 1,
        ("/receipts/smpp", "400"): 1,
        ("/receipts/smpp", "413"): 1,
        ("other", "404"): 2,
    }
    smpp = (("route", "/receipts/smpp"),)
    assert samples[("dlrw_collect_request_duration_seconds_count", smpp)] == 3
    # Kafka acknowledged the receipt before the 200: that takes some time.
    assert samples[("dlrw_collect_request_duration_seconds_sum", smpp)] > 0
