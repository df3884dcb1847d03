"""A store written before the contract bounded amounts may hold an infinite or huge price, and
`dlrw rebuild` loads it back into the raw tables as it is: the build still succeeds, with no cost
for such a message -- on DuckDB and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.models.events import MAX_AMOUNT
from tests.build.compare import read_marts
from tests.build.events import Batch

T0 = datetime(2025, 5, 1, 10, 0, 0)
PRICES = {
    "inf": float("inf"),
    "nan": float("nan"),
    "1e12": 1e12,
    "bound": MAX_AMOUNT,
    "below": math.nextafter(MAX_AMOUNT, 0),
    "ordinary": 0.05,
}


@pytest.fixture(scope="module")
def built(warehouse: Settings) -> dict[str, list[dict[str, Any]]]:
    batch = Batch(ingested_at=T0)
    for name, price in PRICES.items():
        batch.send(name, "US", "310260", 1, "twilio", T0, price=price)
        batch.receipt(f"r-{name}", "twilio", f"p-{name}", "DELIVERED", T0, done_at=T0)
        batch.conversion(name, "ios", T0)
        batch.conversions[-1]["value"] = price
    ensure_raw_tables(warehouse)
    batch.load(warehouse)
    run_build(warehouse)
    return read_marts(warehouse, ["fct_messages", "dim_routes"])


def test_amounts_beyond_the_bound_cost_nothing_and_build(built: dict[str, list]) -> None:
    cost = {m["message_id"]: m["cost"] for m in built["fct_messages"]}
    assert {m for m, c in cost.items() if c is None} == {"inf", "nan", "1e12", "bound"}
    assert cost["ordinary"] == Decimal("0.05")
    assert abs(cost["below"] - Decimal(MAX_AMOUNT)) < 1
    (route,) = built["dim_routes"]
    assert route["cost"] == cost["ordinary"] + cost["below"]
