"""``dlrw alerts --watch --metrics-port``: evaluations, alerts firing and the build's duration."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from datetime import timedelta

from dlrw.ingest.config import Settings
from tests.alerts.helpers import NORMAL_CELLS, T0, write_fct_messages
from tests.cli import env_for, run_dlrw, start_dlrw, stop
from tests.reliability.conftest import free_port
from tests.service.conftest import scrape, wait_for


def _watch_until(
    settings: Settings, outcome: str, evaluations: int, *args: str, timeout: float = 120
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Run `dlrw alerts --watch ARGS` serving metrics until it has counted ``evaluations``
    with ``outcome``; the samples it served then."""
    port = free_port()
    now = (T0 + timedelta(minutes=10)).isoformat()
    command = ["alerts", "--baseline", "2d", "--now", now, "--watch", "0.5"]
    watch = start_dlrw(
        [*command, "--metrics-port", str(port), *args],
        env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    counted = ("dlrw_alerts_evaluations_total", (("outcome", outcome),))
    try:
        return wait_for(
            f"{evaluations} evaluations with outcome {outcome}",
            lambda: scrape(port),
            lambda samples: samples.get(counted, 0) >= evaluations,
            watch,
            timeout,
        )
    finally:
        stop(watch)


def test_the_watch_counts_evaluations_and_the_cells_firing(settings: Settings) -> None:
    incident = (T0 - timedelta(hours=1), T0 + timedelta(hours=3), 0.4, 0.98)
    cells = [replace(c, incident=incident) if c.mcc_mnc == "40410" else c for c in NORMAL_CELLS]
    write_fct_messages(settings, cells)
    samples = _watch_until(settings, "ok", 2, "--no-refresh")
    # Still firing at every evaluation, though alerted only once (cooldown).
    assert samples[("dlrw_alerts_firing", (("kind", "delivery_drop"),))] == 1
    assert samples[("dlrw_alerts_firing", (("kind", "receipt_gap"),))] == 0
    assert samples[("dlrw_alerts_evaluations_total", (("outcome", "error"),))] == 0
    assert time.time() - samples[("dlrw_alerts_last_evaluation_timestamp_seconds", ())] < 60
    assert samples[("dlrw_alerts_build_duration_seconds_count", ())] == 0  # --no-refresh


def test_the_watch_times_each_build(settings: Settings) -> None:
    """An empty warehouse: each incremental build makes the (empty) marts, and is timed."""
    samples = _watch_until(settings, "ok", 1, timeout=300)
    assert samples[("dlrw_alerts_build_duration_seconds_count", ())] >= 1
    # dbt's start-up alone takes more than a second.
    assert samples[("dlrw_alerts_build_duration_seconds_bucket", (("le", "1.0"),))] == 0
    assert samples[("dlrw_alerts_firing", (("kind", "delivery_drop"),))] == 0


def test_the_watch_counts_failed_evaluations_and_goes_on(settings: Settings) -> None:
    """No marts and no build: every evaluation fails, and the watch keeps trying."""
    samples = _watch_until(settings, "error", 2, "--no-refresh")
    assert samples[("dlrw_alerts_evaluations_total", (("outcome", "ok"),))] == 0
    assert samples[("dlrw_alerts_last_evaluation_timestamp_seconds", ())] == 0


def test_metrics_port_without_watch_is_one_readable_line(settings: Settings) -> None:
    result = run_dlrw(["alerts", "--metrics-port", "9"], env_for(settings))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "dlrw alerts: error: --metrics-port needs --watch: a single evaluation has nothing to serve"
    )
