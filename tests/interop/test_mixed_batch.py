"""The ingest transform on a topic holding both framings, without services: registry-framed
records of the newest schema take the columnar path as single-object ones do, and a batch of
mixed framings and versions comes out as the same batch all single-object encoded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from dlrw.ingest.pipeline.batch import PreparedBatch, prepare_batch
from dlrw.ingest.pipeline.columnar import PADDING, decode_columns
from dlrw.ingest.pipeline.records import PartitionRecords, SourceRecord
from dlrw.models.events import Event
from dlrw.models.wire import Framing, decode, encode, single_object, writer_schema
from tests.models.test_wire_registry import IDS, framing, lookup
from tests.pipeline.conftest import traffic

NOW = datetime(2026, 11, 26, tzinfo=UTC)
EVENTS = list(traffic(300))


def _values(framings: list[Framing], version_every: int = 0) -> list[tuple[Event, bytes]]:
    """Each event encoded with the framing its index picks (cyclically); every
    ``version_every``-th send or receipt with its schema's v1."""
    out = []
    for i, event in enumerate(EVENTS):
        old = version_every and i % version_every == 0 and event.event_type != "conversion"
        value = encode(
            event.event_type,
            event.to_dict(),
            version=1 if old else None,
            framing=framings[i % len(framings)],
        )
        out.append((event, value))
    return out


def test_registry_records_of_the_newest_schema_decode_in_columns() -> None:
    sends = [v for e, v in _values([single_object, framing]) if e.event_type == "send"]
    sizes = np.array([len(v) for v in sends], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    buffer = b"".join([*sends, bytes(PADDING)])
    newest = IDS[writer_schema("send").fingerprint]

    decoded = decode_columns(buffer, starts, sizes, "send", [newest])
    assert decoded.fast.tolist() == list(range(len(sends)))
    reference = [decode(v, lookup)[1] for v in sends]
    assert decoded.table.equals(pa.Table.from_pylist(reference, schema=decoded.table.schema))
    # An id not named as the newest schema's is left to the exact decoder.
    single = [i for i, v in enumerate(sends) if v[0] == 0xC3]
    assert 0 < len(single) < len(sends)
    assert decode_columns(buffer, starts, sizes, "send").fast.tolist() == single


def _batch(values: list[tuple[Event, bytes]], store: Path) -> PreparedBatch:
    topics = {"send": "t.s", "receipt": "t.r", "conversion": "t.c"}
    records: dict[tuple[str, int], list[SourceRecord]] = {}
    for offset, (event, value) in enumerate(values):
        topic = topics[event.event_type]
        record = SourceRecord(topic, offset % 2, offset, 0, event.key(), value)
        records.setdefault((topic, record.partition), []).append(record)
    partitions = [PartitionRecords.of(t, p, r) for (t, p), r in records.items()]
    kinds = {topic: kind for kind, topic in topics.items()}
    return prepare_batch(partitions, kinds, store, NOW, NOW, schema_ids=lookup)


def test_a_batch_of_both_framings_and_versions_equals_it_single_object_encoded(
    tmp_path: Path,
) -> None:
    mixed = _batch(_values([framing, single_object, framing], version_every=4), tmp_path)
    plain = _batch(_values([single_object], version_every=4), tmp_path)

    assert not mixed.dead_letters and not plain.dead_letters
    assert mixed.tables.keys() == plain.tables.keys()
    for name, table in plain.tables.items():
        assert mixed.tables[name].equals(table), name
    assert [(s.path, s.bodies) for s in mixed.segments] == [
        (s.path, s.bodies) for s in plain.segments
    ]
    assert sum(t.num_rows for t in plain.tables.values()) == len(EVENTS)
