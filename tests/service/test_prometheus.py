"""docker/prometheus/ against Debian's real Prometheus: the server, with the shipped scrape
config pointed at a running ``dlrw ingest`` and ``dlrw collect``, reads their metrics; and
``promtool test rules`` proves when each alerting rule fires and when it stays quiet.
``make services`` installs both (docker/prometheus/install.sh)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlrw.ingest.config import Settings
from tests.cli import stop
from tests.collect.conftest import run_collect
from tests.pipeline.conftest import publish, start_ingest, traffic
from tests.reliability.conftest import free_port
from tests.service.conftest import wait_for

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "docker" / "prometheus"
_RECEIPT = (
    "id:7220140001 sub:001 dlvrd:000 submit date:2403121015 done date:2403121016 stat:UNDELIV "
    "err:001 text:Your code is 4411"
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make services` (docker/prometheus/install.sh)")
    return path


def _promtool(*args: str, timeout: float) -> None:
    """Run promtool in docker/prometheus; fail the test with its output unless it succeeds."""
    done = subprocess.run(
        [_tool("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_proves_when_each_alerting_rule_fires() -> None:
    _promtool("check", "config", "prometheus.yml", timeout=60)
    _promtool("test", "rules", "rules_test.yml", timeout=120)
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"][0]["rules"]
    cases = yaml.safe_load((PROMETHEUS_DIR / "rules_test.yml").read_text())["tests"]
    tested_rules = Counter(
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    )
    quiet_rules = Counter(
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if not check["exp_alerts"]
    )
    # Every rule is seen firing and seen quiet.
    assert set(tested_rules) == set(quiet_rules) == {rule["alert"] for rule in rules}


def _config(tmp_path: Path, targets: dict[str, int]) -> Path:
    """The shipped config, scraping every second, with its jobs pointed at local ports."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets)
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class _Prometheus:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(self.url + path + query, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def value(self, query: str) -> float | None:
        """The one sample ``query`` gives now, or None when it gives none."""
        result = self.get("/api/v1/query", query=query)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


@contextlib.contextmanager
def _prometheus(tmp_path: Path, config: Path) -> Iterator[_Prometheus]:
    port = free_port()
    with open(tmp_path / "prometheus.log", "w") as log:
        server = subprocess.Popen(
            [
                _tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _Prometheus(port)
    finally:
        stop(server)


@pytest.mark.broker
def test_prometheus_scrapes_a_running_ingest_and_collector(
    broker_settings: Settings, tmp_path: Path
) -> None:
    settings = broker_settings
    events = list(traffic(600))
    receipts = sum(1 for event in events if event.event_type == "receipt")
    ingest_port, collect_port = free_port(), free_port()
    ingest = start_ingest(settings, "--metrics-port", str(ingest_port))
    try:
        with run_collect(settings, tmp_path, "--metrics-port", str(collect_port)) as collect:
            config = _config(tmp_path, {"dlrw-ingest": ingest_port, "dlrw-collect": collect_port})
            with _prometheus(tmp_path, config) as prometheus:
                # Traffic only once Prometheus holds a zero: a counter first seen at its final
                # value has no increase, and the no-new-receipts rule would rightly pend.
                wait_for(
                    "the receipt counter at zero in Prometheus",
                    lambda: prometheus.value('dlrw_ingest_records_total{event_type="receipt"}'),
                    lambda value: value == 0,
                    ingest,
                )
                publish(settings, events)
                assert collect.request("/receipts/smpp", _RECEIPT, method="POST").status == 200
                # The collector's receipt goes through Kafka into ingest too.
                wait_for(
                    "receipts in Prometheus",
                    lambda: prometheus.value('dlrw_ingest_records_total{event_type="receipt"}'),
                    lambda value: value == receipts + 1,
                    ingest,
                )
                assert prometheus.value("sum(dlrw_ingest_records_total)") == len(events) + 1
                wait_for(
                    "lag 0 in Prometheus",
                    lambda: prometheus.value("sum(dlrw_ingest_consumer_lag_records)"),
                    lambda value: value == 0,
                    ingest,
                )
                assert prometheus.value('up{job="dlrw-ingest"}') == 1
                # Each target is scraped on its own clock: the collector's may come later.
                route = 'route="/receipts/smpp", status="200"'
                wait_for(
                    "the collector's request in Prometheus",
                    lambda: prometheus.value(f"dlrw_collect_requests_total{{{route}}}"),
                    lambda value: value == 1,
                    ingest,
                )
                assert prometheus.value('up{job="dlrw-collect"}') == 1
                # The shipped rules load, evaluate and, on a healthy run, settle quiet (a rule
                # may pend for a moment, e.g. no receipts before the first batch is written).
                rules = wait_for(
                    "rules evaluated and quiet",
                    lambda: [
                        rule
                        for group in prometheus.get("/api/v1/rules")["groups"]
                        for rule in group["rules"]
                    ],
                    lambda rules: all(
                        rule["health"] == "ok" and rule["state"] == "inactive" for rule in rules
                    ),
                )
                assert {rule["name"] for rule in rules} == {
                    "DlrwIngestDown",
                    "DlrwIngestLagGrowing",
                    "DlrwNoNewReceipts",
                    "DlrwDeadLettersHigh",
                    "DlrwCollectErrors",
                }
    finally:
        stop(ingest)


def test_compose_runs_prometheus_on_the_shipped_config_and_its_targets_serve_metrics() -> None:
    compose = yaml.safe_load((PROMETHEUS_DIR.parent / "compose.yml").read_text())["services"]
    assert "./prometheus:/etc/prometheus:ro" in compose["prometheus"]["volumes"]
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        [target] = job["static_configs"][0]["targets"]
        service, port = target.split(":")
        command = compose[service]["command"]
        # The service serves its metrics on that port, reachable from the prometheus container.
        assert command[command.index("--metrics-port") + 1] == port, job["job_name"]
        assert command[command.index("--metrics-host") + 1] == "0.0.0.0", job["job_name"]
