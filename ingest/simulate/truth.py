"""The truth file: one row per simulated message with what the warehouse must compute for it
from the receipts that were actually emitted (docs/design.md's metric definitions), beside what the
network really did.

Format by the file's suffix: ``.csv`` (header row; empty cell = none; booleans ``true`` /
``false``) or ``.jsonl`` (one JSON object a line; null = none). Times are ISO-8601 UTC with
milliseconds (``2026-01-02T10:00:00.123Z``). Columns:

- message_id, provider, provider_message_id, destination_hash, country, mcc_mnc, route_id,
  route_tier, campaign_id, campaign_kind, segments, price, currency, submitted_at: as in the
  send event (a subscriber's messages share its destination_hash).
- has_receipt: whether any receipt of the message was emitted (false = no_receipt).
- receipts: distinct receipts emitted (a duplicate, same event_id, counts once).
- final_status: the message's final status — among its final receipts the one with the latest
  done_at, then the latest received_at (duplicates taken at their first arrival; a final
  receipt without done_at ranks below any with one) — or empty when no final receipt was
  emitted.
- outcome: delivered (final_status DELIVERED), failed (UNDELIVERABLE, EXPIRED, REJECTED,
  DELETED) or pending (no final status; this includes the no_receipt messages).
- done_at: done_at of the deciding receipt (for DELIVERED, the delivery time), as the
  provider's format carries it (Twilio and Vonage: minute precision, SMPP: seconds).
- network_status: what really happened (empty: dropped without a trace); differs from
  final_status when receipts were lost or a provider could not express it.
- cause: why (delivered, delivered_after_retry, dnd, abandoned, phone_off, expired,
  route_drop, network, incident).
- failure_cause: the failure cause (seed failure_codes) the deciding receipt carries, which
  the marts must give the message; empty unless outcome is failed. It is what ``cause`` maps to
  (engine.FAILURE_CAUSES) unless the deciding receipt tells something else: ``expired`` for a
  message lost on its route that ran out its validity, ``absent_subscriber`` for a failed first
  attempt whose delivery was never reported.
- a2p_retry: whether the operator of mcc_mnc retries a phone that is off (no retry: the
  message fails absent_subscriber at once instead of waiting for the phone).
- conversions: conversion events emitted for the message (clicks and purchases).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from dlrw.ingest.errors import ConfigError
from dlrw.ingest.simulate.failures import UNKNOWN
from dlrw.models.events import DeliveryReceipt
from dlrw.models.status import FAILED_STATUSES, Status

__all__ = ["TruthRow", "TruthWriter", "deciding_receipt", "fold_receipts"]


@dataclass(frozen=True, slots=True)
class TruthRow:
    """One message's expected warehouse view (see the module docstring for each column)."""

    message_id: str
    provider: str
    provider_message_id: str
    destination_hash: str
    country: str
    mcc_mnc: str
    route_id: str
    route_tier: int
    campaign_id: str
    campaign_kind: str
    segments: int
    price: float
    currency: str
    submitted_at: datetime
    has_receipt: bool
    receipts: int
    final_status: str | None
    outcome: str
    done_at: datetime | None
    network_status: str | None
    cause: str
    failure_cause: str | None
    a2p_retry: bool
    conversions: int


COLUMNS = tuple(f.name for f in fields(TruthRow))


def deciding_receipt(receipts: Iterable[DeliveryReceipt]) -> DeliveryReceipt | None:
    """The receipt that decides a message's final status by docs/design.md's rule, or None."""
    first: dict[str, DeliveryReceipt] = {}
    for receipt in receipts:
        seen = first.get(receipt.event_id)
        if seen is None or receipt.received_at < seen.received_at:
            first[receipt.event_id] = receipt
    finals = [r for r in first.values() if r.is_final]
    if not finals:
        return None
    return max(
        finals, key=lambda r: (r.done_at is not None, r.done_at or r.received_at, r.received_at)
    )


def fold_receipts(
    receipts: list[DeliveryReceipt], failure_causes: dict[str, str], **send: Any
) -> TruthRow:
    """The truth row of one message: its send fields plus the fold of its emitted receipts;
    ``failure_causes``: the failure cause each failure receipt carries, by event id."""
    decider = deciding_receipt(receipts)
    status = decider.status if decider is not None else None
    if status is Status.DELIVERED:
        outcome = "delivered"
    elif status in FAILED_STATUSES:
        outcome = "failed"
    else:
        outcome = "pending"
    return TruthRow(
        has_receipt=bool(receipts),
        receipts=len({r.event_id for r in receipts}),
        final_status=status.value if status is not None else None,
        outcome=outcome,
        failure_cause=failure_causes.get(decider.event_id, UNKNOWN)
        if decider is not None and outcome == "failed"
        else None,
        done_at=decider.done_at if decider is not None else None,
        **send,
    )


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class TruthWriter:
    """Writes truth rows to a ``.csv`` or ``.jsonl`` file."""

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise ConfigError(f"--truth {path}: use a .csv or .jsonl file name")
        self.path = path
        self._csv = suffix == ".csv"
        try:
            self._handle: IO[str] = path.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--truth {path}: {exc.strerror}") from exc
        self._writer = csv.writer(self._handle, lineterminator="\n") if self._csv else None
        if self._writer is not None:
            self._writer.writerow(COLUMNS)
        self.rows = 0

    def write(self, row: TruthRow) -> None:
        """Append one row."""
        values = [
            _time(v) if isinstance(v, datetime) else v for v in map(row.__getattribute__, COLUMNS)
        ]
        if self._writer is not None:
            self._writer.writerow(
                "" if v is None else ("true" if v else "false") if isinstance(v, bool) else v
                for v in values
            )
        else:
            self._handle.write(json.dumps(dict(zip(COLUMNS, values, strict=True))) + "\n")
        self.rows += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
