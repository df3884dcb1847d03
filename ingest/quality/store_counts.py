"""Count the Avro store's records per kind and event date, for reconciliation with the warehouse.

The store may hold a record twice (a retried batch cut differently rewrites the same records
into a second segment); the warehouse holds it once, keyed by Kafka lineage. So a record is
counted once per (topic, partition, offset), as the raw tables' primary key does. A record's
date is the date of the same column the warehouse side groups by (``EVENT_DATE_COLUMNS``), read
from the record itself, so both sides agree whatever directory a segment sits in.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fastavro

from dlrw.ingest.errors import DlrwError
from dlrw.ingest.store.schema import STORE_KINDS
from dlrw.ingest.store.segments import iter_segments

__all__ = ["EVENT_DATE_COLUMNS", "StoreCounts", "count_store"]

# The timestamp that dates a record of each store kind (and each raw table's row).
EVENT_DATE_COLUMNS = {
    "send": "submitted_at",
    "receipt": "received_at",
    "conversion": "occurred_at",
    "quarantine": "_ingested_at",
}
_LINEAGE = ("_topic", "_partition", "_offset")


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Distinct records per (kind, event date), and how many segments and copies were read."""

    counts: dict[tuple[str, date], int]
    segments: int
    records_read: int


def _reader_schema(writer: dict[str, Any], date_column: str) -> dict[str, Any]:
    """The writer schema cut down to lineage and the date column: fastavro then skips the rest
    of each record instead of building it."""
    wanted = {*_LINEAGE, date_column}
    return {**writer, "fields": [f for f in writer["fields"] if f["name"] in wanted]}


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, int):  # timestamp-millis without the logical type
        return datetime.fromtimestamp(value / 1000, tz=UTC).date()
    raise DlrwError(f"store record has no usable event time: {value!r}")


def count_store(store_dir: Path) -> StoreCounts:
    """Distinct records per (kind, event date) in every finished segment under ``store_dir``."""
    seen: dict[str, set[tuple[str, int, int]]] = {kind: set() for kind in STORE_KINDS}
    counts: Counter[tuple[str, date]] = Counter()
    segments = records = 0
    for kind in STORE_KINDS:
        date_column = EVENT_DATE_COLUMNS[kind]
        for path in iter_segments(store_dir, [kind]):
            segments += 1
            try:
                with open(path, "rb") as handle:
                    reader = fastavro.reader(handle)
                    writer = json.loads(reader.metadata["avro.schema"])
                    handle.seek(0)
                    projected = fastavro.reader(
                        handle, reader_schema=_reader_schema(writer, date_column)
                    )
                    for item in projected:
                        record: dict[str, Any] = item  # type: ignore[assignment]
                        records += 1
                        key = (record["_topic"], record["_partition"], record["_offset"])
                        if key in seen[kind]:
                            continue
                        seen[kind].add(key)
                        counts[(kind, _day(record[date_column]))] += 1
            except (OSError, ValueError, KeyError, EOFError) as exc:
                raise DlrwError(f"cannot read store segment {path}: {exc}") from exc
    return StoreCounts(dict(counts), segments, records)
