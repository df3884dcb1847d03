"""confluent-kafka's AvroDeserializer, with its SchemaRegistryClient on the shared registry, reads
what dlrw's producers publish with DLRW_WIRE_FORMAT=registry: every event, equal to dlrw's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.produce import event_from_line
from dlrw.models.events import EVENT_TYPES, DeliveryReceipt
from tests.cli import env_for, run_dlrw

from .conftest import V1_RECEIPTS, both_readers

pytestmark = pytest.mark.broker

SIMULATE = ["--messages", "150", "--days", "1", "--seed", "5", "--start", "2026-11-20"]


@pytest.mark.parametrize("producer", ["simulate", "produce"])
def test_every_published_event_reads_as_dlrw_reads_it(
    registry_settings: Settings, tmp_path: Path, producer: str
) -> None:
    env = env_for(
        registry_settings,
        DLRW_WIRE_FORMAT="registry",
        DLRW_SCHEMA_REGISTRY_URL=registry_settings.schema_registry_url,
    )
    events = tmp_path / "events.jsonl"
    run_dlrw(["simulate", *SIMULATE, "--out", str(events)], env, check=True)
    if producer == "simulate":
        run_dlrw(["simulate", *SIMULATE], env, check=True)
    else:
        run_dlrw(["produce", str(events)], env, check=True)
    key = registry_settings.hash_secret()
    simulated = [event_from_line(line, key) for line in events.read_text().splitlines()]

    for kind, event_class in EVENT_TYPES.items():
        read = both_readers(registry_settings, registry_settings.topic(kind))
        assert [external for external, _ in read] == [ours for _, ours in read]
        want = sorted((e for e in simulated if e.event_type == kind), key=lambda e: e.event_id)
        got = sorted((event_class.from_dict(r) for r, _ in read), key=lambda e: e.event_id)
        assert got == want, kind


def test_schema_v2_published_after_v1_reads_in_both(
    evolved_receipts: tuple[Settings, list[DeliveryReceipt]],
) -> None:
    settings, receipts = evolved_receipts
    read = both_readers(settings, settings.topic("receipt"))
    by_id = {ours["event_id"]: (external, ours) for external, ours in read}
    assert len(by_id) == len(receipts)
    for index, sent in enumerate(receipts):
        external, ours = by_id[sent.event_id]
        assert DeliveryReceipt.from_dict(ours) == sent
        if index < V1_RECEIPTS:  # the writer's v1 shape, which dlrw resolves to v2
            assert "network_error_code" not in external
            assert external == {k: v for k, v in ours.items() if k != "network_error_code"}
        else:
            assert external == ours
