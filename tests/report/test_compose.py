"""docker/compose.yml is valid: it parses, and its services, images, ports, dependencies,
volumes and commands fit together (a structural check; `docker compose` is not installed here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlrw.ingest.cli import COMMANDS

DOCKER = Path(__file__).resolve().parents[2] / "docker"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yml").read_text())
    return loaded


def test_compose_has_the_documented_services(compose: dict[str, Any]) -> None:
    assert {"kafka", "postgres", "ingest", "metabase"} <= set(compose["services"])
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")


def test_every_service_has_a_pinned_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert ("image" in service) != ("build" in service), name
        if "image" in service:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), name
            assert not service["image"].endswith(":latest"), name
        else:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_published_ports_are_well_formed_and_unique(compose: dict[str, Any]) -> None:
    host_ports = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and re.fullmatch(r"\d+:\d+", port), (name, port)
            host_ports.append(port.split(":")[0])
    assert len(host_ports) == len(set(host_ports))
    assert {"9092", "5432", "3000"} <= set(host_ports)


def test_dependencies_exist_and_wait_for_readiness(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services and dependency != name, (name, dependency)
            assert spec["condition"] in CONDITIONS, (name, dependency)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
            if spec["condition"] == "service_completed_successfully":
                # A one-shot job: restarting it forever would never complete.
                assert services[dependency].get("restart") != "unless-stopped", dependency


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, (name, source)


def test_dlrw_services_run_real_commands_against_the_compose_services(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        env = service["environment"]
        assert env["DLRW_KAFKA_BOOTSTRAP"] == "kafka:29092", name
        assert "@postgres:5432/" in env["DLRW_WAREHOUSE_URL"], name
        command = service["command"]
        script = command[-1] if command[0] == "sh" else " ".join(command)
        for sub in re.findall(r"\bdlrw ([a-z-]+)", script):
            assert sub in COMMANDS, (name, sub)


def test_kafka_advertises_an_internal_and_a_host_listener(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised == {"INTERNAL": "kafka:29092", "EXTERNAL": "localhost:9092"}


def test_dockerfile_copies_what_exists() -> None:
    root = DOCKER.parent
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
