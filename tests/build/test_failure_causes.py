"""Failure causes in the marts: each failed message's cause and permanence from the failure_codes
seed by its documented precedence, and agg_failure_causes_daily -- on DuckDB and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dlrw.ingest.build.runner import ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from tests.build.compare import read_marts
from tests.build.events import Batch

T0 = datetime(2025, 6, 2, 9, 0, 0)
OVERRIDE_ROUTE = "r-IN-t1-a"  # its SMSC numbers err: as Twilio's SMPP gateway does (seed)

# message: (provider, route_id or None for the default, status, error_code, cause, permanent)
CASES: dict[str, tuple[str, str | None, str, str | None, str | None, bool | None]] = {
    # a route's own numbering beats the provider's: 001 is absent here, unknown elsewhere
    "f01": ("smpp", OVERRIDE_ROUTE, "UNDELIVERABLE", "001", "absent_subscriber", False),
    "f02": ("smpp", None, "UNDELIVERABLE", "001", "unknown_subscriber", True),
    # a code the route does not override falls back to the provider's mapping
    "f03": ("smpp", OVERRIDE_ROUTE, "UNDELIVERABLE", "027", "absent_subscriber", False),
    # a status that says the cause itself, without a code
    "f04": ("smpp", None, "EXPIRED", None, "expired", False),
    "f05": ("twilio", None, "UNDELIVERABLE", "30007", "filtered", True),
    # a code beats what the status says
    "f06": ("infobip", None, "EXPIRED", "EC_UNKNOWN_SUBSCRIBER", "unknown_subscriber", True),
    # an unmapped code: unknown, unless the status says it
    "f07": ("twilio", None, "REJECTED", "30999", "unknown", None),
    "f08": ("twilio", None, "EXPIRED", "30999", "expired", False),
    # no code, and a status that says nothing: unknown
    "f09": ("vonage", None, "UNDELIVERABLE", None, "unknown", None),
    # Vonage's own "no cause could be determined" is mapped, to unknown
    "f10": ("vonage", None, "UNDELIVERABLE", "1", "unknown", False),
    "f11": ("infobip", None, "REJECTED", "13", "dnd_or_opt_out", True),
    # not failed: no cause at all
    "f12": ("twilio", None, "DELIVERED", None, None, None),
    "f13": ("smpp", None, "ENROUTE", None, None, None),
}


def _batch() -> Batch:
    b = Batch(ingested_at=T0 + timedelta(hours=1))
    for n, (message_id, (provider, route, status, code, _, _)) in enumerate(CASES.items()):
        submitted = T0 + timedelta(minutes=n)
        b.send(message_id, "IN", "40410", 1, provider, submitted, price=0.01 * (n + 1))
        if route is not None:
            b.sends[-1]["route_id"] = route
        b.receipt(
            f"r-{message_id}",
            provider,
            f"p-{message_id}",
            status,
            submitted + timedelta(seconds=30),
            done_at=submitted + timedelta(seconds=20),
            error_code=code,
        )
    return b


@dataclass
class Built:
    messages: dict[str, dict[str, Any]]
    causes: list[dict[str, Any]]
    summary: str


@pytest.fixture(scope="module")
def built(warehouse: Settings) -> Built:
    ensure_raw_tables(warehouse)
    _batch().load(warehouse)
    summary = run_build(warehouse).line()
    marts = read_marts(warehouse, ["fct_messages", "agg_failure_causes_daily"])
    messages = {r["message_id"]: r for r in marts["fct_messages"]}
    return Built(messages, marts["agg_failure_causes_daily"], summary)


@pytest.mark.parametrize("message_id", CASES)
def test_failed_message_takes_the_cause_of_the_most_specific_seed_row(
    built: Built, message_id: str
) -> None:
    *_, cause, permanent = CASES[message_id]
    row = built.messages[message_id]
    assert (row["failure_cause"], row["is_permanent_failure"]) == (cause, permanent)


def test_daily_causes_count_and_cost_the_failed_messages(built: Built) -> None:
    expected: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for message_id, (provider, *_, cause, _) in CASES.items():
        if cause is None:
            continue
        messages, cost = expected.get((provider, cause), (0, Decimal(0)))
        expected[(provider, cause)] = (messages + 1, cost + built.messages[message_id]["cost"])
    got = {
        (r["provider"], r["failure_cause"]): (int(r["messages"]), Decimal(r["cost"]))
        for r in built.causes
    }
    assert got == expected
    days = {r["period_date"] for r in built.causes}
    assert {d.date() if isinstance(d, datetime) else d for d in days} == {T0.date()}


def test_the_build_passes_the_causes_sum_to_failed_test(built: Built) -> None:
    assert " 0 failed, " in built.summary, built.summary
