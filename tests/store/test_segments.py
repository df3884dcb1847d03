"""Store segments: valid Avro OCF that any reader opens, written atomically."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import fastavro

from dlrw.ingest.store.segments import SegmentBatch, encode_long, iter_segments, segment_path
from dlrw.models.events import SendEvent
from dlrw.models.wire import HEADER_SIZE, encode_event

EVENT = SendEvent(
    event_id="e-1",
    message_id="m-1",
    provider="twilio",
    destination_hash="ab" * 32,
    country="GB",
    route_id="r-1",
    route_tier=2,
    segments=1,
    submitted_at=datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC),
)
INGESTED = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def _store_body(offset: int) -> bytes:
    """The event's Kafka body with the lineage fields appended, as ingest builds it."""
    topic = b"sms.sends"
    return (
        encode_event(EVENT)[HEADER_SIZE:]
        + encode_long(len(topic))
        + topic
        + encode_long(4)
        + encode_long(offset)
        + encode_long(int(INGESTED.timestamp() * 1000))
    )


def test_a_segment_is_avro_any_reader_opens_with_event_and_lineage(tmp_path: Path) -> None:
    path = segment_path(tmp_path, "send", date(2026, 11, 25), "sms.sends", 4, 10, 5009)
    batch = SegmentBatch()
    batch.add(path, "send", [_store_body(o) for o in range(10, 5010)], {"dlrw.writer": "test"})
    assert not path.exists()  # nothing under the final name before commit
    assert batch.commit() == [path]

    with open(path, "rb") as handle:
        reader = fastavro.reader(handle)
        assert reader.metadata["dlrw.writer"] == "test"
        records = list(reader)
    assert len(records) == 5000
    assert records[0] == {
        **EVENT.to_dict(),
        "_topic": "sms.sends",
        "_partition": 4,
        "_offset": 10,
        "_ingested_at": INGESTED,
    }
    assert records[-1]["_offset"] == 5009
    assert list(iter_segments(tmp_path)) == [path]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_an_aborted_batch_leaves_no_files(tmp_path: Path) -> None:
    path = segment_path(tmp_path, "send", date(2026, 11, 25), "sms.sends", 0, 0, 0)
    batch = SegmentBatch()
    batch.add(path, "send", [_store_body(0)], {})
    batch.abort()
    assert list(path.parent.iterdir()) == []


def test_zigzag_longs_match_the_avro_spec() -> None:
    assert [encode_long(v) for v in (0, -1, 1, -64, 64)] == [
        b"\x00",
        b"\x01",
        b"\x02",
        b"\x7f",
        b"\x80\x01",
    ]
