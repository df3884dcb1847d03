"""`dlrw ingest --exact` (kafka-python's public API, record-at-a-time decoding) loads the same
raw tables as the fast path (record batches, columnar decoding), dead letters included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.ingest.warehouse.tables import ALL_RAW_TABLES
from tests.pipeline.conftest import group_for, ingest_once, publish, traffic

# Values no schema reads: each must be a dead letter on both paths, with the same reason.
_BAD_VALUES = [b"\xc3\x01" + bytes(8) + b"\xff\xff", b"not avro at all", b""]


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every raw table's rows but their load time, in offset order."""
    engine = connect_engine(url)
    try:
        with engine.connect() as conn:
            found = {}
            for table in ALL_RAW_TABLES:
                columns = [c.name for c in table.columns if c.name != "_ingested_at"]
                query = (
                    f"SELECT {', '.join(columns)} FROM {table.name} "
                    "ORDER BY _topic, _partition, _offset"
                )
                found[table.name] = [tuple(row) for row in conn.execute(text(query))]
            return found
    finally:
        engine.dispose()


def test_the_exact_path_loads_the_tables_the_fast_path_loads(
    any_warehouse: Settings, tmp_path: Path, postgres_database: Callable[[], str]
) -> None:
    settings = any_warehouse
    published = publish(settings, traffic(3000))
    with EventPublisher(settings) as publisher:
        for i, value in enumerate(_BAD_VALUES):
            publisher.publish_bytes("receipt", f"bad-{i}".encode(), value)
    exact = Settings(
        data_dir=tmp_path / "exact",
        kafka_bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        hash_key="test-hash-key",
        warehouse_url=postgres_database() if settings.warehouse_url.startswith("postgres") else "",
    )

    fast_summary = ingest_once(settings)
    exact_summary = ingest_once(exact, group=f"{group_for(settings)}-exact", exact=True)

    assert fast_summary.events == exact_summary.events
    assert sum(fast_summary.events.values()) == published
    fast, slow = _rows(settings.warehouse_url), _rows(exact.warehouse_url)
    assert len(fast["raw_quarantine"]) == len(_BAD_VALUES)
    assert fast == slow
