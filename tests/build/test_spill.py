"""A DuckDB build larger than its memory limit spills to disk and succeeds: the profile's
settings are applied once, at connect time, since DuckDB refuses to switch temp_directory after
a query has spilled (which a SET on every dbt cursor would do)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrw.ingest.build import profiles
from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from tests.build.test_bench_reference import bench

MESSAGES = 100_000
# Small enough that this build spills on two threads, large enough that spilling suffices.
MEMORY_LIMIT = "112MiB"


def test_a_build_that_spills_to_disk_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiles, "_duckdb_memory_limit", lambda: MEMORY_LIMIT)
    settings = Settings(
        data_dir=tmp_path / "data", warehouse_url=f"duckdb:///{tmp_path / 'data' / 'w.duckdb'}"
    )
    ensure_raw_tables(settings)
    bench.generate_days(settings.data_dir / "w.duckdb", MESSAGES)

    summary = run_build(settings, full_refresh=True)

    assert summary.count("model") == summary.count("model", "success") > 0
