"""Store record schemas: the newest event schema plus the Kafka lineage, and the quarantine record.

A store record holds exactly what its raw-table row holds, in the same column order, so a rebuild
reproduces the raw tables from the store alone.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import fastavro

from dlrw.models.wire import registry

__all__ = ["QUARANTINE_KIND", "STORE_KINDS", "lineage_fields", "store_schema"]

QUARANTINE_KIND = "quarantine"
# Directory names under the store, one per raw table.
STORE_KINDS = ("send", "receipt", "conversion", QUARANTINE_KIND)

_TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}


def lineage_fields() -> list[dict[str, Any]]:
    """Where a record came from and when it was ingested; appended after the event's fields."""
    return [
        {"name": "_topic", "type": "string"},
        {"name": "_partition", "type": "int"},
        {"name": "_offset", "type": "long"},
        {"name": "_ingested_at", "type": _TIMESTAMP},
    ]


@cache
def store_schema(kind: str) -> tuple[dict[str, Any], Any]:
    """The store schema of ``kind`` ('send', 'receipt', 'conversion', 'quarantine'): its JSON
    form (written into each segment's header) and the fastavro-parsed form."""
    if kind == QUARANTINE_KIND:
        raw: dict[str, Any] = {
            "type": "record",
            "name": "QuarantinedRecord",
            "namespace": "io.dlrw.store",
            "doc": "A Kafka record that could not be decoded or broke the contract, with why.",
            "fields": [
                *lineage_fields(),
                {"name": "key", "type": ["null", "bytes"], "default": None},
                {"name": "payload", "type": "bytes"},
                {"name": "error_class", "type": "string"},
                {"name": "reason", "type": "string"},
            ],
        }
    else:
        event = registry().latest[kind]
        raw = json.loads(event.path.read_text())
        raw["name"] = f"Stored{raw['name']}"
        raw["namespace"] = "io.dlrw.store"
        raw["dlrw.event_version"] = event.version
        raw["fields"] = [*raw["fields"], *lineage_fields()]
    return raw, fastavro.parse_schema(copy.deepcopy(raw))
