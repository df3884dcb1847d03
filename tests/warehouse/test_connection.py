"""Opening the warehouse: readable failures, and the upsert that makes loads idempotent."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from dlrw.ingest.build.runner import ensure_raw_tables
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.warehouse.connection import Warehouse, open_warehouse, redact_url
from dlrw.ingest.warehouse.tables import LOADED_OFFSETS, QUARANTINE, arrow_schema


def _quarantine_rows(
    ingested: datetime, reason: str, offsets: Iterable[int] = range(3), partition: int = 0
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "_topic": "t",
                "_partition": partition,
                "_offset": offset,
                "_ingested_at": ingested,
                "key": None,
                "payload": b"\x00\x01",
                "error_class": "UndecodableRecord",
                "reason": reason,
            }
            for offset in offsets
        ],
        schema=arrow_schema(QUARANTINE),
    )


def _rows(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text("SELECT _partition, _offset, reason FROM raw_quarantine ORDER BY 1, 2, 3")
            )
        ]


def _watermarks(warehouse: Warehouse) -> dict[tuple[str, int], int]:
    with warehouse.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {LOADED_OFFSETS.name}"))
        return {(topic, partition): mark for topic, partition, mark in rows}


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'w.duckdb'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


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


def test_loads_in_any_order_and_overlap_keep_each_offset_once_the_latest(
    warehouse_url: str,
) -> None:
    with open_warehouse(warehouse_url) as warehouse:
        warehouse.ensure_tables()
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "b", range(5, 9))})
        assert _watermarks(warehouse) == {("t", 0): 9}
        # Below the watermark: a gap filled, an older copy ignored, a newer copy taken.
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "a", range(0, 7))})
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 3), "c", [8])})
        # Another partition has a watermark of its own; the watermark never goes back.
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "p", [0], 1)})
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 4), "d", [9, 10])})
        assert _rows(warehouse) == [
            *[(0, offset, "a") for offset in range(5)],
            (0, 5, "b"),
            (0, 6, "b"),
            (0, 7, "b"),
            (0, 8, "c"),
            (0, 9, "d"),
            (0, 10, "d"),
            (1, 0, "p"),
        ]
        assert _watermarks(warehouse) == {("t", 0): 11, ("t", 1): 1}


def test_a_failed_load_leaves_neither_rows_nor_watermarks(warehouse_url: str) -> None:
    with open_warehouse(warehouse_url) as warehouse:
        warehouse.ensure_tables()
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "a", [0])})
        # The second table's rows do not fit it: the load fails after the first table's insert.
        with pytest.raises(Exception, match=r"(?i)column|_message_id|does not exist"):
            warehouse.load(
                {
                    "raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "b", [1, 2]),
                    "raw_sends": _quarantine_rows(datetime(2026, 1, 2), "b", [3]),
                }
            )
        assert _rows(warehouse) == [(0, 0, "a")]
        assert _watermarks(warehouse) == {("t", 0): 1}


def test_restore_keeps_the_copy_ingested_last_and_sets_the_watermarks(warehouse_url: str) -> None:
    with open_warehouse(warehouse_url) as warehouse:
        warehouse.drop_raw()
        warehouse.ensure_tables()
        kept = warehouse.restore(
            [
                {"raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "b", range(2, 6))},
                {"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "a", range(0, 4))},
                # The same copy twice (same instant): one is kept.
                {"raw_quarantine": _quarantine_rows(datetime(2026, 1, 3), "c", [5, 5])},
            ]
        )
        assert kept == {"raw_quarantine": 6}
        assert _rows(warehouse) == [
            *[(0, 0, "a"), (0, 1, "a")],
            *[(0, 2, "b"), (0, 3, "b"), (0, 4, "b")],
            (0, 5, "c"),
        ]
        assert _watermarks(warehouse) == {("t", 0): 6}


def test_a_warehouse_from_before_the_watermarks_gets_them_from_its_rows(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with open_warehouse(url) as warehouse:
        warehouse.ensure_tables()
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "a", [0, 7])})
        warehouse._run(f"DROP TABLE {LOADED_OFFSETS.name}")
        warehouse._dbapi.commit()
    with open_warehouse(url) as warehouse:
        warehouse.ensure_tables()
        assert _watermarks(warehouse) == {("t", 0): 8}
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "b", [7, 8])})
        assert _rows(warehouse) == [(0, 0, "a"), (0, 7, "b"), (0, 8, "b")]


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


def test_processes_starting_together_create_the_tables_once(postgres_url: str) -> None:
    """Several ingest processes open a fresh PostgreSQL warehouse at the same moment: each
    creates what is missing without tripping over the others."""
    import threading

    warehouses = [open_warehouse(postgres_url) for _ in range(6)]
    start = threading.Barrier(len(warehouses))
    failures: list[BaseException] = []

    def ensure(warehouse: Warehouse) -> None:
        start.wait()
        try:
            warehouse.ensure_tables()
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=ensure, args=(w,)) for w in warehouses]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert _watermarks(warehouses[0]) == {}
    finally:
        for warehouse in warehouses:
            warehouse.close()


def test_a_duckdb_sharing_cores_runs_one_thread_after_a_reconnect_too(tmp_path: Path) -> None:
    threads = "SELECT current_setting('threads')"
    with open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}") as warehouse:
        assert warehouse._execute(threads) == [(os.cpu_count(),)]  # DuckDB's default
        warehouse.share_cores()
        assert warehouse._execute(threads) == [(1,)]
        warehouse.reconnect()
        assert warehouse._execute(threads) == [(1,)]


def test_duckdb_stores_payloads_and_identifiers_with_zstandard(tmp_path: Path) -> None:
    with open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}") as warehouse:
        warehouse.ensure_tables()
        warehouse._run(
            "INSERT INTO raw_receipts (event_id, provider, provider_message_id, status, is_final,"
            " received_at, raw, _topic, _partition, _offset, _ingested_at)"
            " SELECT 'rcpt-' || i, 'twilio', 'SM' || md5(i::text), 'delivered', true,"
            " TIMESTAMP '2026-11-20', 'MessageStatus=delivered&SmsSid=SM' || md5(i::text),"
            " 't', 0, i, TIMESTAMP '2026-11-20' FROM range(20000) AS r(i)"
        )
        warehouse._run("CHECKPOINT")
        methods = dict(
            warehouse._execute(
                "SELECT column_name, string_agg(DISTINCT compression, ',')"
                " FROM pragma_storage_info('raw_receipts') WHERE segment_type = 'VARCHAR'"
                " GROUP BY column_name"
            )
        )
    for column in ("raw", "event_id", "provider_message_id"):
        assert methods[column] == "ZSTD", (column, methods[column])
    assert "ZSTD" not in methods["provider"]  # short repeated text keeps DuckDB's own choice


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a.sends", "b.receipts", "c"]), st.integers(0, 5)),
        min_size=1,
        max_size=60,
    ),
    seed=st.randoms(use_true_random=False),
    cut=st.integers(0, 3),
    chunked=st.booleans(),
)
def test_watermarks_follow_every_topic_partition_in_any_row_order(
    rows: list[tuple[str, int]], seed: random.Random, cut: int, chunked: bool, tmp_path_factory
) -> None:
    # Offsets count up per (topic, partition); the rows arrive shuffled, in chunks, and as a
    # slice of a larger table (its arrays start at an offset in their buffers).
    numbered: list[tuple[str, int, int]] = []
    taken: Counter[tuple[str, int]] = Counter()
    for topic, partition in rows:
        numbered.append((topic, partition, 1000 + taken[(topic, partition)]))
        taken[(topic, partition)] += 1
    seed.shuffle(numbered)
    padding = [("pad", 9, 0)] * cut
    table = pa.Table.from_pylist(
        [
            {
                "_topic": topic,
                "_partition": partition,
                "_offset": offset,
                "_ingested_at": datetime(2026, 1, 1),
                "key": None,
                "payload": b"",
                "error_class": "UndecodableRecord",
                "reason": "r",
            }
            for topic, partition, offset in padding + numbered
        ],
        schema=arrow_schema(QUARANTINE),
    ).slice(cut)
    if chunked:
        half = table.num_rows // 2
        table = pa.concat_tables([table.slice(0, half), table.slice(half)])
    path = tmp_path_factory.mktemp("marks") / "w.duckdb"
    with open_warehouse(f"duckdb:///{path}") as warehouse:
        warehouse.ensure_tables()
        warehouse.load({"raw_quarantine": table})
        assert _watermarks(warehouse) == {tp: 1000 + n for tp, n in taken.items()}


def test_loading_leaves_pandas_unimported(tmp_path: Path) -> None:
    """The ingest worker gets its batches pickled and only loads them: pandas, which pyarrow
    imports on first use of many of its functions, would cost it about 40MB."""
    batch = tmp_path / "batch.pickle"
    batch.write_bytes(pickle.dumps(_quarantine_rows(datetime(2026, 1, 1), "r"), protocol=5))
    script = f"""
import pickle, sys
from dlrw.ingest.warehouse.connection import open_warehouse
table = pickle.loads(open({str(batch)!r}, "rb").read())
with open_warehouse("duckdb:///{tmp_path / "w.duckdb"}") as warehouse:
    warehouse.ensure_tables()
    warehouse.load({{"raw_quarantine": table}})
    loaded = warehouse._execute("SELECT count(*) FROM raw_quarantine")[0][0]
print(loaded, "pandas" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "False"]


def test_a_build_before_ingest_on_an_older_warehouse_keeps_replays_idempotent(
    warehouse_url: str, tmp_path: Path
) -> None:
    """`dlrw build` readies the raw tables the way ingest does: on a warehouse from before the
    watermarks it fills them from the rows, so a replayed batch is not appended twice."""
    with open_warehouse(warehouse_url) as warehouse:
        warehouse.ensure_tables()
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 1), "a", [0, 7])})
        warehouse._run(f"DROP TABLE {LOADED_OFFSETS.name}")
        warehouse._dbapi.commit()
    ensure_raw_tables(Settings(data_dir=tmp_path / "data", warehouse_url=warehouse_url))
    with open_warehouse(warehouse_url) as warehouse:
        warehouse.ensure_tables()
        assert _watermarks(warehouse) == {("t", 0): 8}
        warehouse.load({"raw_quarantine": _quarantine_rows(datetime(2026, 1, 2), "b", [7])})
        assert _rows(warehouse) == [(0, 0, "a"), (0, 7, "b")]
