"""The store is the log of record: a rebuild from it alone reproduces the raw tables exactly."""

from __future__ import annotations

import os

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.pipeline.rebuild import rebuild
from dlrw.ingest.warehouse.connection import open_warehouse

from .conftest import group_for, ingest_once, publish, table_contents, traffic

pytestmark = pytest.mark.broker


def test_rebuild_from_the_store_reproduces_the_raw_tables(any_warehouse: Settings) -> None:
    settings = any_warehouse
    publish(settings, traffic(5000))
    with EventPublisher(settings) as publisher:
        publisher.publish_bytes("receipt", b"junk", os.urandom(40))
    ingest_once(settings, batch_size=900)
    # A replay under another group re-ingests everything: the store now holds two copies of
    # every record and the warehouse the later one; the rebuild must pick the same.
    ingest_once(settings, group=group_for(settings) + "replay", batch_size=1300)
    before = table_contents(settings.warehouse_url)
    assert len(before["raw_sends"]) > 1000
    assert len(before["raw_quarantine"]) == 1

    with open_warehouse(settings.warehouse_url) as warehouse:
        loaded = rebuild(settings.store_dir, warehouse)

    assert loaded["raw_sends"] == len(before["raw_sends"])
    assert table_contents(settings.warehouse_url) == before
