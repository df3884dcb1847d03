"""What the dbt data tests of a build read (macro get_where_subquery): an incremental build tests
the raw rows in its lookback and the rows each model built last, so a bad row there still stops
it; a bad raw row older than the lookback is left to `dlrw build --full-refresh`, which tests
every row -- on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError
from dlrw.ingest.warehouse.connection import connect_engine
from tests.build.events import Batch
from tests.build.test_marts import T0, batch_one

ROUTE_TIER_TEST = "source_accepted_values_raw_raw_sends_route_tier"


def _send_on_tier_nine(ingested_hours_after_t0: float, message_id: str) -> Batch:
    """One raw send on route tier 9, which the source test of raw_sends refuses."""
    batch = Batch(ingested_at=T0 + timedelta(hours=ingested_hours_after_t0))
    batch.send(message_id, "US", "310260", 1, "twilio", T0 + timedelta(hours=1))
    batch.sends[-1]["route_tier"] = 9
    return batch


def _delete_send(settings: Settings, message_id: str) -> None:
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("delete from raw_sends where message_id = :m"), {"m": message_id})
    finally:
        engine.dispose()


def test_tests_read_the_lookback_and_a_full_refresh_reads_every_row(warehouse: Settings) -> None:
    ensure_raw_tables(warehouse)
    batch_one().load(warehouse)  # ingested a day after T0
    run_build(warehouse)

    # ingested after the newest row built: in the lookback, so its test fails the build
    _send_on_tier_nine(25, "m-new-bad").load(warehouse)
    with pytest.raises(DlrwError, match=ROUTE_TIER_TEST):
        run_build(warehouse)
    _delete_send(warehouse, "m-new-bad")

    # committed late, three days before the newest row: outside a 1-hour lookback, so neither the
    # models nor the tests of an incremental build read it; a full refresh reads every row
    _send_on_tier_nine(-48, "m-old-bad").load(warehouse)
    run_build(warehouse, lookback_hours=1)
    with pytest.raises(DlrwError, match=ROUTE_TIER_TEST):
        run_build(warehouse, full_refresh=True)
