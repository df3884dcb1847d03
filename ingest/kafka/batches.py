"""Reading a topic partition as the record batches the broker sends, not record by record.

kafka-python decodes every record into a Python object: about 6 of the 7.5 µs of CPU a plain
consumer spends per record here. The ingest pipeline decodes a batch's records a column at a
time (``ingest.pipeline.records``), so its consumer takes each v2 record batch as it arrived —
checked against its CRC, control batches dropped — and kafka-python still does everything else:
group membership, fetching, positions and commits.

The hook replaces the class the consumer's fetcher builds its per-partition record iterators
with (``Fetcher.PartitionRecords``), on that one consumer only; its ``poll`` then returns
``RecordBatch`` items, and ``max_records`` counts batches. ``tests/kafka/test_batches.py`` holds
the batches' records to what kafka-python itself decodes from the same fetches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kafka
from kafka import KafkaConsumer
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError, UnsupportedVersionError
from kafka.structs import TopicPartition

from dlrw.ingest.errors import ServiceUnavailable

__all__ = ["KAFKA_PYTHON_VERSION", "RecordBatch", "read_record_batches"]

# The hook below extends kafka-python internals: only this tested version is trusted.
KAFKA_PYTHON_VERSION = "3.0.12"

# The record batch format (message format v2, Kafka 0.11 and later): the only one Kafka 4 writes.
BATCH_MAGIC = 2


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """One record batch of a topic partition, bytes as fetched (header included). Its records
    at offsets below ``first`` were read before (a fetch may start inside a batch) and are
    skipped; ``last`` is the batch's last offset, so reading resumes at ``last + 1``."""

    topic: str
    partition: int
    first: int
    last: int
    data: bytes

    @property
    def offset(self) -> int:
        """The offset kafka-python compares with a fetch's start to drop what was read."""
        return self.last

    @property
    def span(self) -> int:
        """How many offsets the batch covers from ``first``: its records, unless compaction
        removed some."""
        return self.last - self.first + 1


class _BatchRecords(Fetcher.PartitionRecords):
    """A fetched partition's data as ``RecordBatch`` items instead of records."""

    def _maybe_skip_record(self, record: Any) -> bool:
        return bool(record.offset < self.fetch_offset)

    def _unpack_records(
        self, tp: TopicPartition, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[RecordBatch]:
        batch = records.next_batch()
        while batch is not None:
            if batch.magic != BATCH_MAGIC:
                raise UnsupportedVersionError(
                    f"{tp.topic}[{tp.partition}] at offset {batch.base_offset} holds records in "
                    f"message format v{batch.magic}; dlrw reads format v2 (Kafka 0.11 and later)"
                )
            if self.check_crcs and not batch.validate_crc():
                raise CorruptRecordError(
                    f"record batch of {tp.topic}[{tp.partition}] at offset {batch.base_offset} "
                    "failed its CRC check"
                )
            self.leader_epoch = batch.leader_epoch
            self.next_fetch_offset = batch.next_offset
            if not batch.is_control_batch:  # transaction markers carry no records
                self.records_read += batch.records_count
                self.bytes_read += batch.size_in_bytes
                yield RecordBatch(
                    tp.topic,
                    tp.partition,
                    max(self.fetch_offset, batch.base_offset),
                    batch.last_offset,
                    bytes(batch._buffer),  # the batch as fetched; kafka-python copied it once
                )
            batch = records.next_batch()
        self.drain()


def read_record_batches(consumer: KafkaConsumer) -> None:
    """Make ``consumer.poll`` return ``RecordBatch`` items (``max_records`` counting batches).
    Records of aborted transactions are returned, as kafka-python's default isolation level
    (read_uncommitted) does; a read_committed consumer or an untested kafka-python is refused."""
    if kafka.__version__ != KAFKA_PYTHON_VERSION:
        raise ServiceUnavailable(
            f"dlrw ingest needs kafka-python {KAFKA_PYTHON_VERSION} (its fast path extends "
            f"kafka-python's fetcher), found {kafka.__version__}: "
            f"pip install kafka-python=={KAFKA_PYTHON_VERSION}"
        )
    if consumer.config["isolation_level"] != "read_uncommitted":
        raise ValueError("record batches are read at isolation level read_uncommitted only")
    fetcher = consumer._fetcher
    if not isinstance(fetcher, Fetcher):
        raise TypeError(f"unexpected kafka-python fetcher {type(fetcher).__name__}")
    fetcher.PartitionRecords = _BatchRecords
