"""Rebuild: drop the raw tables and reload them from the Avro store alone.

All four raw tables are restored, ``raw_quarantine`` included: ingest stores quarantined records
beside the events, so the store holds exactly what the raw tables hold. A retried batch may have
left a record in the store more than once (segments cut differently); as in the live load, the
copy ingested last wins (``Warehouse.restore`` appends everything, then resolves the copies).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from dlrw.ingest.progress import Progress
from dlrw.ingest.store.schema import QUARANTINE_KIND, STORE_KINDS
from dlrw.ingest.store.segments import iter_segments, read_segment
from dlrw.ingest.warehouse.connection import Warehouse
from dlrw.ingest.warehouse.tables import QUARANTINE, RAW_TABLES, arrow_schema

__all__ = ["rebuild"]

# Rows per load: large enough for bulk speed, small enough to keep memory flat.
_CHUNK_ROWS = 50_000


def _table_for(kind: str) -> Any:
    return QUARANTINE if kind == QUARANTINE_KIND else RAW_TABLES[kind]


def _chunks(store_dir: Path, progress: Progress | None) -> Iterator[dict[str, pa.Table]]:
    """Every store record, as one Arrow table per chunk of about ``_CHUNK_ROWS`` rows."""
    for kind in STORE_KINDS:
        table = _table_for(kind)
        schema = arrow_schema(table)
        rows: list[dict[str, Any]] = []
        for path in iter_segments(store_dir, [kind]):
            rows.extend(read_segment(path))
            if len(rows) >= _CHUNK_ROWS:
                yield {table.name: pa.Table.from_pylist(rows, schema=schema)}
                if progress is not None:
                    progress.advance(len(rows))
                rows = []
        if rows:
            yield {table.name: pa.Table.from_pylist(rows, schema=schema)}
            if progress is not None:
                progress.advance(len(rows))


def rebuild(
    store_dir: Path, warehouse: Warehouse, progress: Progress | None = None
) -> Counter[str]:
    """Recreate the raw tables from the store; returns rows loaded by table name."""
    warehouse.drop_raw()
    warehouse.ensure_tables()
    return warehouse.restore(_chunks(store_dir, progress))
