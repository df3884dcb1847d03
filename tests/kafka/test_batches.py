"""Record batches as fetched, decoded by ``PartitionRecords.from_batches``, against kafka-python
decoding the same records one at a time: from built batches (any keys, values, headers and
timestamps) and from a real broker's fetches (plain and gzip, create and log-append time, a
fetch starting inside a batch)."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import CorruptRecordError, UnsupportedCodecError
from kafka.record.default_records import DefaultRecordBatchBuilder

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.batches import KAFKA_PYTHON_VERSION, RecordBatch, read_record_batches
from dlrw.ingest.kafka.client import admin_client
from dlrw.ingest.pipeline.records import PartitionRecords
from tests.reliability.conftest import fuzz_examples

Row = tuple[int, int, bytes | None, bytes | None]  # offset, timestamp, key, value


def _rows(records: PartitionRecords) -> list[Row]:
    return [
        (r.offset, r.timestamp if r.timestamp is not None else -1, r.key, r.value)
        for r in map(records.record, range(len(records)))
    ]


def _built(base: int, records: list[tuple[int, bytes | None, bytes | None, list[Any]]]) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 2**30)
    for delta, (timestamp, key, value, headers) in enumerate(records):
        builder.append(delta, timestamp, key, value, headers)
    data = bytearray(builder.build())
    data[:8] = base.to_bytes(8, "big")  # the broker assigns the base offset
    return bytes(data)


_BYTES = st.none() | st.binary(max_size=300)
_RECORD = st.tuples(
    st.integers(0, 2**41),
    _BYTES,
    _BYTES,
    st.lists(st.tuples(st.text(max_size=5), _BYTES), max_size=3),
)


@settings(
    max_examples=fuzz_examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(st.lists(_RECORD, min_size=1, max_size=40), min_size=1, max_size=5), st.data())
def test_built_batches_decode_record_for_record(batches: list[list[Any]], data: Any) -> None:
    expected: list[Row] = []
    fetched: list[RecordBatch] = []
    base = 1000
    for records in batches:
        first = base + data.draw(st.integers(0, len(records) - 1)) if not fetched else base
        fetched.append(RecordBatch("t", 4, first, base + len(records) - 1, _built(base, records)))
        expected += [
            (base + i, ts, key, value)
            for i, (ts, key, value, _) in enumerate(records)
            if base + i >= first
        ]
        base += len(records) + 7  # compaction may leave gaps between batches
    decoded = PartitionRecords.from_batches(fetched)
    assert (decoded.topic, decoded.partition) == ("t", 4)
    assert _rows(decoded) == expected


def test_a_batch_whose_records_do_not_parse_is_refused() -> None:
    good = _built(0, [(1, b"k", b"value", []), (2, None, b"other", [])])
    miscounted = bytearray(good)
    miscounted[57:61] = (3).to_bytes(4, "big")  # the header claims three records
    with pytest.raises(CorruptRecordError, match="2 parseable records of 3"):
        PartitionRecords.from_batches([RecordBatch("t", 0, 0, 1, bytes(miscounted))])
    overlong = bytearray(good)
    overlong[61] += 2  # the first record claims a byte of the second
    with pytest.raises(CorruptRecordError):
        PartitionRecords.from_batches([RecordBatch("t", 0, 0, 1, bytes(overlong))])


def test_a_codec_that_is_not_installed_is_named() -> None:
    snappy = bytearray(_built(0, [(1, None, b"v", [])]))
    snappy[22] |= 0x02  # attributes: snappy
    with pytest.raises(UnsupportedCodecError, match="snappy"):
        PartitionRecords.from_batches([RecordBatch("t", 0, 0, 0, bytes(snappy))])


def _fetch_all(settings: Settings, tp: TopicPartition, start: int, batches: bool) -> list[Any]:
    reader = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    if batches:
        read_record_batches(reader)
    reader.assign([tp])
    reader.seek(tp, start)
    end = reader.end_offsets([tp])[tp]
    items: list[Any] = []
    while reader.position(tp) < end:
        items += reader.poll(timeout_ms=2000).get(tp, [])
    reader.close()
    return items


@pytest.mark.parametrize(
    ("compression", "log_append"), [(None, False), ("gzip", False), (None, True)]
)
def test_fetched_batches_decode_like_kafka_python(
    broker_settings: Settings, compression: str | None, log_append: bool
) -> None:
    topic = f"{broker_settings.topic_prefix}batches-{uuid.uuid4().hex[:8]}"
    configs = {"message.timestamp.type": "LogAppendTime"} if log_append else {}
    admin = admin_client(broker_settings)
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=broker_settings.kafka_bootstrap,
        compression_type=compression,
        linger_ms=50,
        batch_size=4096,
    )
    for i in range(600):
        producer.send(
            topic,
            key=None if i % 3 else f"key-{i}".encode(),
            value=None if i % 21 == 0 else b"v" * (i % 250),  # keyed tombstones
            headers=[("h", b"x"), ("empty", b"")] if i % 10 == 0 else [],
            partition=0,
        )
    producer.flush()
    producer.close()
    tp = TopicPartition(topic, 0)
    for start in (0, 301):
        batches = _fetch_all(broker_settings, tp, start, batches=True)
        assert len(batches) > 2, "the producer should have written several batches"
        assert all(isinstance(b, RecordBatch) for b in batches)
        reference = [
            (r.offset, r.timestamp, r.key, r.value)
            for r in _fetch_all(broker_settings, tp, start, batches=False)
        ]
        assert reference[0][0] == start
        assert _rows(PartitionRecords.from_batches(batches)) == reference


def test_an_untested_kafka_python_is_refused_with_one_line(monkeypatch, settings: Settings):
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, api_version=(3, 0))
    try:
        monkeypatch.setattr("kafka.__version__", "3.0.99")
        with pytest.raises(
            ServiceUnavailable, match=r"needs kafka-python 3\.0\.12 .* found 3\.0\.99"
        ):
            read_record_batches(consumer)
    finally:
        consumer.close()


def test_the_project_requires_the_kafka_python_the_hook_was_tested_with():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert f"kafka-python=={KAFKA_PYTHON_VERSION}" in [
        dependency.split(";")[0].split("#")[0].strip()
        for dependency in pyproject["project"]["dependencies"]
    ]
