"""Raw rows for build tests, and an independent Python fold giving the expected marts.

The fold here is written from docs/design.md, not from the SQL: dedupe by event_id, match by the
echoed message_id when it names a send, else by provider + provider_message_id (a reused one: the
send in use when the receipt came); among final receipts the latest done_at (None oldest), then
latest received_at, then highest event_id wins; without a final, the latest intermediate by the
same order; UNKNOWN finals count as pending. A message_id sent twice is one message, its earliest
send deciding the cell.
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dlrw.ingest.build.runner import DBT_PROJECT_DIR
from dlrw.ingest.config import Settings
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.ingest.warehouse.tables import RAW_TABLES
from tests.build.compare import CELL

FINAL = {"DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED", "DELETED", "UNKNOWN"}
FAILED = {"UNDELIVERABLE", "EXPIRED", "REJECTED", "DELETED"}
_offsets = itertools.count(1)


@dataclass
class Batch:
    """Raw rows loaded together, with one _ingested_at."""

    ingested_at: datetime
    sends: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    conversions: list[dict[str, Any]] = field(default_factory=list)

    def _lineage(self, topic: str) -> dict[str, Any]:
        return {
            "_topic": topic,
            "_partition": 0,
            "_offset": next(_offsets),
            "_ingested_at": self.ingested_at,
        }

    def send(
        self,
        message_id: str,
        country: str,
        mcc_mnc: str | None,
        tier: int,
        provider: str,
        submitted_at: datetime,
        price: float = 0.05,
        provider_message_id: str | None = None,
        destination_hash: str | None = None,
    ) -> None:
        """Add a send; provider_message_id defaults to 'p-' + message_id, destination_hash to
        'h-' + message_id (a number of its own)."""
        self.sends.append(
            {
                "event_id": f"s-{message_id}",
                "message_id": message_id,
                "provider": provider,
                "provider_message_id": provider_message_id
                if provider_message_id is not None
                else f"p-{message_id}",
                "destination_hash": destination_hash or f"h-{message_id}",
                "country": country,
                "mcc_mnc": mcc_mnc,
                "route_id": f"{provider}-{country}-t{tier}",
                "route_tier": tier,
                "segments": 1,
                "price": price,
                "currency": "EUR",
                "submitted_at": submitted_at,
                **self._lineage("sms.sends"),
            }
        )

    def receipt(
        self,
        event_id: str,
        provider: str,
        provider_message_id: str,
        status: str,
        received_at: datetime,
        done_at: datetime | None = None,
        message_id: str | None = None,
        error_code: str | None = None,
        mcc_mnc: str | None = None,
    ) -> None:
        """Add a receipt (call twice with the same event_id for a duplicate)."""
        self.receipts.append(
            {
                "event_id": event_id,
                "provider": provider,
                "provider_message_id": provider_message_id,
                "message_id": message_id,
                "status": status,
                "is_final": status in FINAL,
                "error_code": error_code,
                "mcc_mnc": mcc_mnc,
                "done_at": done_at,
                "received_at": received_at,
                "raw": "{}",
                **self._lineage("sms.receipts"),
            }
        )

    def conversion(self, message_id: str, device_os: str | None, occurred_at: datetime) -> None:
        self.conversions.append(
            {
                "event_id": f"v-{message_id}-{len(self.conversions)}",
                "message_id": message_id,
                "kind": "click",
                "value": 1.0,
                "currency": "EUR",
                "device_os": device_os,
                "occurred_at": occurred_at,
                **self._lineage("sms.conversions"),
            }
        )

    def load(self, settings: Settings) -> None:
        """Insert the rows into the warehouse's raw tables."""
        engine = connect_engine(settings.warehouse_url)
        try:
            with engine.begin() as conn:
                for kind, rows in (
                    ("send", self.sends),
                    ("receipt", self.receipts),
                    ("conversion", self.conversions),
                ):
                    if rows:
                        conn.execute(RAW_TABLES[kind].insert(), rows)
        finally:
            engine.dispose()


def seed_operators() -> dict[str, str]:
    """Operator names by MCC-MNC, from the dbt seed."""
    with (DBT_PROJECT_DIR / "seeds" / "operators.csv").open() as handle:
        return {row["mcc_mnc"]: row["operator_name"] for row in csv.DictReader(handle)}


def _precedence(receipt: dict[str, Any]) -> tuple[Any, ...]:
    return (receipt["done_at"] or datetime.min, receipt["received_at"], receipt["event_id"])


def _in_use(candidates: list[dict[str, Any]], receipt: dict[str, Any]) -> str:
    """The message a reused provider id named when the receipt came: the latest send submitted at
    or before its received_at, else the earliest after; ties by message_id, then event_id."""
    before = [s for s in candidates if s["submitted_at"] <= receipt["received_at"]]
    if before:
        latest = max(s["submitted_at"] for s in before)
        chosen = min((s for s in before if s["submitted_at"] == latest), key=_send_order)
    else:
        chosen = min(candidates, key=lambda s: (s["submitted_at"], *_send_order(s)))
    return str(chosen["message_id"])


def _send_order(send: dict[str, Any]) -> tuple[str, str]:
    return (send["message_id"], send["event_id"])


def expected_messages(batches: list[Batch], operators: dict[str, str]) -> list[dict[str, Any]]:
    """One expected fct_messages row per message (the columns the comparison checks)."""
    every_send = {s["event_id"]: s for b in reversed(batches) for s in reversed(b.sends)}
    sends: dict[str, dict[str, Any]] = {}
    for send in sorted(every_send.values(), key=lambda s: (s["submitted_at"], s["event_id"])):
        sends.setdefault(send["message_id"], send)  # a reused message_id: the earliest send
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for send in every_send.values():
        by_key[(send["provider"], send["provider_message_id"])].append(send)
    receipts: dict[str, dict[str, Any]] = {}
    for batch in batches:
        for r in batch.receipts:
            receipts.setdefault(r["event_id"], r)
    per_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in receipts.values():
        if r["message_id"] in sends:
            per_message[r["message_id"]].append(r)
        elif (r["provider"], r["provider_message_id"]) in by_key:
            per_message[_in_use(by_key[(r["provider"], r["provider_message_id"])], r)].append(r)
    rows = []
    for message_id, send in sends.items():
        mine = per_message.get(message_id, [])
        finals = [r for r in mine if r["status"] in FINAL]
        deciding = max(finals or mine, key=_precedence) if mine else None
        final_status = deciding["status"] if deciding and finals else None
        outcome = (
            "delivered"
            if final_status == "DELIVERED"
            else "failed"
            if final_status in FAILED
            else "pending"
        )
        done_at = deciding["done_at"] if deciding and final_status == "DELIVERED" else None
        rows.append(
            {
                "message_id": message_id,
                "country": send["country"],
                "mcc_mnc": send["mcc_mnc"],
                "operator_name": operators.get(send["mcc_mnc"] or "", "unknown"),
                "route_tier": send["route_tier"],
                "provider": send["provider"],
                "submitted_at": send["submitted_at"],
                "status": deciding["status"] if deciding else None,
                "final_status": final_status,
                "outcome": outcome,
                "has_receipt": bool(mine),
                "receipt_count": len(mine),
                "done_at": done_at,
                # never negative: minute-precision done times can precede submitted_at
                "latency_s": max(0.0, (done_at - send["submitted_at"]).total_seconds())
                if done_at
                else None,
            }
        )
    return rows


def daily_cell(message: dict[str, Any]) -> tuple[Any, ...]:
    """A message's agg_deliverability_daily cell: its UTC day of submission and CELL's columns."""
    return (message["submitted_at"].date(), *(message[c] for c in CELL[1:]))


def expected_daily(messages: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, int]]:
    """Expected agg_deliverability_daily counts per cell."""
    cells: dict[tuple[Any, ...], dict[str, int]] = defaultdict(
        lambda: {"sent": 0, "delivered": 0, "failed": 0, "pending": 0, "no_receipt": 0}
    )
    for m in messages:
        cell = cells[daily_cell(m)]
        cell["sent"] += 1
        cell[m["outcome"]] += 1
        cell["no_receipt"] += 0 if m["has_receipt"] else 1
    return dict(cells)
