"""Consumer lag for ``dlrw_ingest_consumer_lag_records``: per partition this process holds, the
end offset minus the group's committed offset, as kafka_exporter measures it.

Both come from the broker, every few seconds, on a thread and an admin client of their own: the
ingest loop pays nothing for it, and the lag keeps growing in the metric while that loop is
stuck (a warehouse outage holds a batch in the worker), which is when it matters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from kafka.admin import OffsetSpec
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from prometheus_client import Gauge

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.kafka.client import admin_client

__all__ = ["LAG_EVERY_S", "LagProbe"]

log = logging.getLogger(__name__)

# Two small requests to the broker this often; Prometheus scrapes every 15 s by default.
LAG_EVERY_S = 5.0


class LagProbe:
    """Sets ``gauge`` (labels topic, partition) for the partitions ``held()`` returns, until
    ``close``; partitions no longer held lose their series, and all do while Kafka is away."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        held: Callable[[], Collection[TopicPartition]],
        gauge: Gauge,
    ) -> None:
        self.settings = settings
        self.group = group
        self.held = held
        self.gauge = gauge
        self._admin: Any = None
        self._shown: set[TopicPartition] = set()
        self._failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dlrw-ingest-lag", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._admin is not None:
            self._admin.close()

    def _run(self) -> None:
        while True:
            self.measure()
            if self._stop.wait(LAG_EVERY_S):
                return

    def measure(self) -> None:
        """Set the gauge once from the broker's offsets."""
        partitions = sorted(self.held())
        try:
            lags = self._lags(partitions) if partitions else {}
        except (KafkaError, ServiceUnavailable) as exc:
            if not self._failing:
                log.warning("consumer lag unknown while Kafka does not answer (%s)", exc)
            self._failing = True
            lags = {}
        else:
            self._failing = False
        for tp in self._shown - lags.keys():
            self.gauge.remove(tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.gauge.labels(tp.topic, str(tp.partition)).set(lag)
        self._shown = set(lags)

    def _lags(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self._admin is None:
            self._admin = admin_client(self.settings)
        admin = self._admin
        committed = {
            tp: meta.offset
            for tp, meta in admin.list_group_offsets({self.group: partitions})
            .get(self.group, {})
            .items()
            if meta.offset >= 0
        }
        ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
        # A partition the group never committed is read from its earliest offset.
        uncommitted = [tp for tp in partitions if tp not in committed]
        if uncommitted:
            starts = admin.list_partition_offsets(dict.fromkeys(uncommitted, OffsetSpec.EARLIEST))
            committed.update({tp: starts[tp].offset for tp in uncommitted})
        return {tp: max(ends[tp].offset - committed[tp], 0) for tp in partitions}
