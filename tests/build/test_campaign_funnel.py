"""agg_campaign_funnel on a hand-computed case: a few sends, receipts and conversions, the mart
row by row after a first build and after an incremental build that takes in a late receipt and a
late conversion (the only change to its day) -- on DuckDB and PostgreSQL. test_marts compares
its incremental runs with a full refresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from tests.build.compare import normalise, read_marts
from tests.build.events import Batch

T0 = datetime(2025, 5, 1, 10, 0, 0)
DAY_ONE, DAY_TWO = T0.date(), T0.date() + timedelta(days=1)
TMO, ATT = ("310260", "T-Mobile US"), ("310410", "AT&T Mobility")
VALUES = (
    "sent",
    "delivered",
    "converted",
    "conversion_value",
    "cost",
    "cost_per_delivered",
    "cost_per_conversion",
)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _send(
    b: Batch, message_id: str, campaign: str, operator: tuple[str, str], minutes: float, price: str
) -> None:
    b.send(message_id, "US", operator[0], 1, "twilio", _t(minutes), price=float(price))
    b.sends[-1]["campaign_id"] = campaign


def _delivered(b: Batch, message_id: str, minutes: float) -> None:
    at = _t(minutes)
    b.receipt(f"r-{message_id}", "twilio", f"p-{message_id}", "DELIVERED", at, done_at=at)


def _conversion(
    b: Batch,
    message_id: str,
    device_os: str | None,
    minutes: float,
    value: str | None = None,
    currency: str | None = "EUR",
) -> None:
    b.conversion(message_id, device_os, _t(minutes))
    b.conversions[-1].update(
        kind="click" if value is None else "purchase",
        value=None if value is None else float(value),
        currency=None if value is None else currency,
    )


def batch_one() -> Batch:
    """Day one: campaign c-a to T-Mobile (f1-f6) and AT&T (f8), c-b to T-Mobile (f7); day two:
    f9, delivered, no conversion yet."""
    b = Batch(ingested_at=_t(24 * 60))
    for message_id, minutes in (("f1", 0), ("f2", 1), ("f3", 2), ("f4", 3), ("f5", 4)):
        _send(b, message_id, "c-a", TMO, minutes, "0.05")
    _send(b, "f6", "c-a", TMO, 5, "0.11")
    _send(b, "f7", "c-b", TMO, 6, "0.05")
    _send(b, "f8", "c-a", ATT, 7, "0.05")
    _send(b, "f9", "c-a", TMO, 24 * 60 + 1, "0.05")
    for message_id, minutes in (("f1", 1), ("f2", 2), ("f3", 3), ("f6", 6), ("f7", 7), ("f8", 8)):
        _delivered(b, message_id, minutes)
    _delivered(b, "f9", 24 * 60 + 2)
    # f4 failed, f5 has no receipt yet
    b.receipt("r-f4", "twilio", "p-f4", "UNDELIVERABLE", _t(4), done_at=_t(4), error_code="30003")
    # f1: a click, then a purchase, on iOS
    _conversion(b, "f1", "ios", 10)
    _conversion(b, "f1", "ios", 20, "20.00")
    # f2: an Android purchase paid in GBP, converted at the rate of 2025-04-30 (May Day: no ECB
    # rate), 1 EUR = 0.8518 GBP in seed exchange_rates
    _conversion(b, "f2", "android", 10)
    _conversion(b, "f2", "android", 30, "5.50", "GBP")
    # f4 converted though it failed: its device counts, its value does not (undelivered)
    _conversion(b, "f4", "ios", 10, "3.00")
    # f6 reported its device as 'all', f7 none: both 'unknown'
    _conversion(b, "f6", "all", 12, "7.00")
    _conversion(b, "f7", None, 12, "2.00")
    return b


def batch_two() -> Batch:
    """A day later: f5 delivered after all (day one changes through its receipt), and a late iOS
    purchase for f9 (day two changes through the conversion alone)."""
    b = Batch(ingested_at=_t(48 * 60))
    _delivered(b, "f5", 24 * 60 + 30)
    _conversion(b, "f9", "ios", 47 * 60, "10.00")
    return b


def _row(*values: Any) -> tuple[Any, ...]:
    return tuple(Decimal(v) if isinstance(v, str) else v for v in values)


# (period_date, campaign, operator, device_os): sent, delivered, converted, conversion value,
# cost, cost per delivered, cost per conversion -- worked out by hand from the batches, in EUR.
UNCHANGED = {
    (DAY_ONE, "c-a", TMO, "ios"): _row(2, 1, 1, "20.00", "0.10", 0.10, 0.10),
    # 5.50 GBP / 0.8518 = 6.4569147..., to six decimals
    (DAY_ONE, "c-a", TMO, "android"): _row(1, 1, 1, "6.456915", "0.05", 0.05, 0.05),
    (DAY_ONE, "c-b", TMO, "unknown"): _row(1, 1, 1, "2.00", "0.05", 0.05, 0.05),
    (DAY_ONE, "c-a", ATT, "unknown"): _row(1, 1, 0, "0", "0.05", 0.05, None),
}
AFTER_ONE = {
    **UNCHANGED,
    # f3, f5 (pending), f6
    (DAY_ONE, "c-a", TMO, "unknown"): _row(3, 2, 1, "7.00", "0.21", 0.105, 0.21),
    (DAY_TWO, "c-a", TMO, "unknown"): _row(1, 1, 0, "0", "0.05", 0.05, None),
}
AFTER_TWO = {
    **UNCHANGED,
    (DAY_ONE, "c-a", TMO, "unknown"): _row(3, 3, 1, "7.00", "0.21", 0.07, 0.21),
    (DAY_TWO, "c-a", TMO, "ios"): _row(1, 1, 1, "10.00", "0.05", 0.05, 0.05),
}


@dataclass
class Funnel:
    after_one: dict[tuple[Any, ...], tuple[Any, ...]]
    incremental: dict[tuple[Any, ...], tuple[Any, ...]]


def _funnel(settings: Settings) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = read_marts(settings, ["agg_campaign_funnel"])["agg_campaign_funnel"]
    assert all(r["country"] == "US" for r in rows)
    return {
        (
            r["period_date"],
            r["campaign_id"],
            (r["mcc_mnc"], r["operator_name"]),
            r["device_os"],
        ): tuple(normalise(r[c]) for c in VALUES)
        for r in rows
    }


@pytest.fixture(scope="module")
def funnel(warehouse: Settings) -> Funnel:
    ensure_raw_tables(warehouse)
    batch_one().load(warehouse)
    run_build(warehouse)
    after_one = _funnel(warehouse)
    batch_two().load(warehouse)
    run_build(warehouse)
    return Funnel(after_one, _funnel(warehouse))


def _expected(rows: dict[tuple[Any, ...], tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple]:
    return {key: tuple(normalise(v) for v in values) for key, values in rows.items()}


def test_the_funnel_equals_the_hand_computed_rows(funnel: Funnel) -> None:
    assert funnel.after_one == _expected(AFTER_ONE)


def test_an_incremental_build_takes_in_a_late_receipt_and_a_late_conversion(
    funnel: Funnel,
) -> None:
    assert funnel.incremental == _expected(AFTER_TWO)
