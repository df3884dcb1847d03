"""The event contract: Avro schemas, canonical event types and the status model."""

from dlrw.models.events import (
    EVENT_TYPES,
    ConversionEvent,
    DeliveryReceipt,
    Event,
    InvalidEvent,
    SendEvent,
    event_problem,
    parse_timestamp,
)
from dlrw.models.status import FAILED_STATUSES, FINAL_STATUSES, Status

__all__ = [
    "EVENT_TYPES",
    "FAILED_STATUSES",
    "FINAL_STATUSES",
    "ConversionEvent",
    "DeliveryReceipt",
    "Event",
    "InvalidEvent",
    "SendEvent",
    "Status",
    "event_problem",
    "parse_timestamp",
]
