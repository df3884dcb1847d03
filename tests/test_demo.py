"""`dlrw demo` end to end on a small run: every step succeeds, the demo's incident is alerted on
exactly its operator, and the summary says where the results are."""

from __future__ import annotations

import json
from pathlib import Path

from dlrw.ingest.demo import DEMO_INCIDENT_OPERATOR
from tests.cli import run_dlrw, user_env
from tests.conftest import KAFKA_BOOTSTRAP


def test_demo_runs_every_step_and_alerts_on_its_incident(tmp_path: Path) -> None:
    env = user_env(tmp_path, DLRW_KAFKA_BOOTSTRAP=KAFKA_BOOTSTRAP)
    done = run_dlrw(["demo", "--messages", "30000"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert alerts, done.stdout[-2000:]
    assert {a["mcc_mnc"] for a in alerts} == {DEMO_INCIDENT_OPERATOR}
    assert all(a["status"] == "firing" and a["kind"] == "delivery_drop" for a in alerts)
    assert "Delivery rate by route tier" in done.stdout
    assert "Five worst operators" in done.stdout
    report = tmp_path / "demo" / "report" / "report.html"
    assert f"report      {report.parent}" in done.stdout
    assert report.stat().st_size > 0
    assert (tmp_path / "demo" / "warehouse.duckdb").exists()
