"""`dlrw collect` with DLRW_WIRE_FORMAT=registry: the receipts it publishes read with
confluent-kafka's AvroDeserializer; a registry it cannot reach is a 503, as Kafka down is."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from tests.collect.conftest import SECRETS, run_collect
from tests.conftest import SAMPLES_DIR

from .conftest import both_readers

pytestmark = pytest.mark.broker

SMPP = (SAMPLES_DIR / "smpp.txt").read_bytes()
PATH = f"/receipts/smpp?token={SECRETS['DLRW_COLLECT_SHARED_SECRET']}"


def test_collected_receipts_read_with_the_registry(
    registry_settings: Settings, tmp_path: Path
) -> None:
    settings = registry_settings
    env = {"DLRW_WIRE_FORMAT": "registry", "DLRW_SCHEMA_REGISTRY_URL": settings.schema_registry_url}
    with run_collect(settings, tmp_path, **SECRETS, **env) as service:
        reply = service.request(PATH, SMPP)
    assert reply.status == 200, reply.body

    read = both_readers(settings, settings.topic("receipt"))
    assert [external for external, _ in read] == [ours for _, ours in read]
    assert sorted(r["event_id"] for r, _ in read) == sorted(reply.body["event_ids"])


def test_an_unreachable_registry_is_a_503(registry_settings: Settings, tmp_path: Path) -> None:
    env = {
        "DLRW_WIRE_FORMAT": "registry",
        "DLRW_SCHEMA_REGISTRY_URL": "http://127.0.0.1:9/apis/ccompat/v7",
    }
    with run_collect(registry_settings, tmp_path, **SECRETS, **env) as service:
        reply = service.request(PATH, SMPP)
    assert reply.status == 503
    assert reply.body["error"].startswith("the schema registry is unavailable;")
