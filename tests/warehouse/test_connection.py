"""Opening the warehouse: readable failures, and the upsert that makes loads idempotent."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import text

from ingest.errors import ServiceUnavailable
from ingest.warehouse.connection import open_warehouse, redact_url
from ingest.warehouse.tables import QUARANTINE, arrow_schema


def _quarantine_rows(ingested: datetime, reason: str) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "_topic": "t",
                "_partition": 0,
                "_offset": offset,
                "_ingested_at": ingested,
                "key": None,
                "payload": b"\x00\x01",
                "error_class": "UndecodableRecord",
                "reason": reason,
            }
            for offset in range(3)
        ],
        schema=arrow_schema(QUARANTINE),
    )


def test_the_url_shown_never_has_the_password() -> None:
    shown = redact_url("postgresql://dlrw:s3cret@db.example:5432/dlrw")
    assert "s3cret" not in shown
    assert "db.example" in shown


def test_an_unreachable_postgresql_is_one_line_without_the_password() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        open_warehouse("postgresql://dlrw:s3cret@127.0.0.1:1/dlrw")
    message = str(caught.value)
    assert "s3cret" not in message
    assert "\n" not in message
    assert "not reachable" in message


def test_a_replayed_load_keeps_one_row_the_latest_ingested(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with open_warehouse(url) as warehouse:
        warehouse.ensure_tables()
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "second")})
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "first")})
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "second")})
        with warehouse.engine.connect() as conn:
            reasons = conn.execute(text("SELECT reason FROM raw_quarantine")).scalars().all()
    assert reasons == ["second"] * 3


def test_a_duckdb_file_in_use_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="in use by another process"):
            open_warehouse(f"duckdb:///{path}", lock_wait_s=1.0)
        assert time.monotonic() - started >= 1.0
    finally:
        holder.kill()
        holder.wait()
