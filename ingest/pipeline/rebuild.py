"""Rebuild: drop the raw tables and reload them from the Avro store alone.

All four raw tables are restored, ``raw_quarantine`` included: ingest stores quarantined records
beside the events, so the store holds exactly what the raw tables hold. Loading uses the same
upsert as ingest (the latest ``_ingested_at`` wins per topic, partition and offset), so copies a
retried batch left in the store resolve to the row the live warehouse kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.progress import Progress
from ingest.store.schema import QUARANTINE_KIND, STORE_KINDS
from ingest.store.segments import iter_segments, read_segment
from ingest.warehouse.connection import Warehouse
from ingest.warehouse.tables import QUARANTINE, RAW_TABLES, arrow_schema

__all__ = ["rebuild"]

# Rows per load: large enough for bulk speed, small enough to keep memory flat.
_CHUNK_ROWS = 50_000


def _table_for(kind: str) -> Any:
    return QUARANTINE if kind == QUARANTINE_KIND else RAW_TABLES[kind]


def _chunks(store_dir: Path, kind: str) -> Iterator[list[dict[str, Any]]]:
    """Store records of ``kind`` in chunks whose (topic, partition, offset) keys are unique, as
    one upsert statement may touch a row only once."""
    chunk: dict[tuple[str, int, int], dict[str, Any]] = {}
    for path in iter_segments(store_dir, [kind]):
        for record in read_segment(path):
            key = (record["_topic"], record["_partition"], record["_offset"])
            held = chunk.get(key)
            if held is None or held["_ingested_at"] < record["_ingested_at"]:
                chunk[key] = record
        if len(chunk) >= _CHUNK_ROWS:
            yield list(chunk.values())
            chunk = {}
    if chunk:
        yield list(chunk.values())


def rebuild(
    store_dir: Path, warehouse: Warehouse, progress: Progress | None = None
) -> Counter[str]:
    """Recreate the raw tables from the store; returns rows loaded by table name."""
    warehouse.drop_raw()
    warehouse.ensure_tables()
    loaded: Counter[str] = Counter()
    for kind in STORE_KINDS:
        table = _table_for(kind)
        schema = arrow_schema(table)
        for rows in _chunks(store_dir, kind):
            warehouse.load({table.name: pa.Table.from_pylist(rows, schema=schema)})
            loaded[table.name] += len(rows)
            if progress is not None:
                progress.advance(len(rows))
    return loaded
