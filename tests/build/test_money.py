"""Money in its currency: prices and conversion values in EUR, USD, GBP and JPY (which the seed
has no rate for) are built on DuckDB and PostgreSQL, and every mart's money equals a sum computed
here by hand from the ECB quotes, converted into EUR at the rate of the amount's day (a weekend
takes Friday's). No mart adds a raw USD amount to EUR, and the amount without a rate is reported
(dbt warning, `dlrw check` sanity rule), never added raw."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import text

from dlrw.ingest.build.runner import DBT_PROJECT_DIR, ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.quality.runner import CheckRun, run_checks
from dlrw.ingest.quality.thresholds import DEFAULT_THRESHOLDS, load_thresholds
from dlrw.ingest.warehouse.connection import connect_engine
from tests.build.compare import mart_schema, read_marts
from tests.build.events import Batch

FRIDAY, TUESDAY, WEDNESDAY = date(2025, 5, 2), date(2025, 5, 6), date(2025, 5, 7)
SATURDAY = date(2025, 5, 3)
# The ECB's euro reference rates (units per euro) of the days the amounts take their rate from.
ECB_QUOTES = {
    ("USD", FRIDAY): "1.1343",
    ("USD", TUESDAY): "1.1325",
    ("USD", WEDNESDAY): "1.136",
    ("GBP", TUESDAY): "0.8469",
}
US = ("US", "310260", 1, "twilio")
GB = ("GB", "23415", 1, "vonage")
# message -> (cell, price, currency, submitted_at, day of its rate or None, final status)
MESSAGES: dict[str, tuple[tuple[str, str, int, str], float | None, str | None, datetime, Any]] = {
    "e1": (US, 0.05, "EUR", datetime(2025, 5, 3, 10, 0), "DELIVERED"),
    "u1": (US, 0.07, "USD", datetime(2025, 5, 3, 10, 5), "UNDELIVERABLE"),
    "u2": (US, 1000.0, "USD", datetime(2025, 5, 6, 9, 0), "DELIVERED"),
    "g1": (GB, 0.035, "GBP", datetime(2025, 5, 6, 9, 10), "REJECTED"),
    "j1": (US, 5000.0, "JPY", datetime(2025, 5, 6, 9, 20), "DELIVERED"),
    "x1": (US, 0.0079, "USD", datetime(2025, 5, 7, 12, 0), None),
    "n1": (GB, None, None, datetime(2025, 5, 7, 12, 5), None),
}
RATE_DAY = {"u1": FRIDAY, "u2": TUESDAY, "g1": TUESDAY, "x1": WEDNESDAY}
# message -> (device_os, value, currency, occurred_at); the rate is that of the conversion's day
CONVERSIONS = {
    "e1": ("ios", 10.0, "EUR", datetime(2025, 5, 3, 10, 30)),
    "u2": ("ios", 1000.0, "USD", datetime(2025, 5, 7, 8, 0)),
    "j1": ("android", 5000.0, "JPY", datetime(2025, 5, 6, 10, 0)),
}
CONVERSION_RATE_DAY = {"u2": WEDNESDAY}
# The largest converted sum any mart may hold: a mart adding the raw USD 1000 (or JPY 5000)
# to anything reaches 1000.
RAW_SUM = Decimal(1000)


def _rate(currency: str | None, day: date | None) -> Decimal | None:
    """1 / the ECB's quote to 12 decimals, as the seed holds it; 1 for EUR; None without one."""
    if currency == "EUR":
        return Decimal(1)
    if day is None:
        return None
    quote = Decimal(ECB_QUOTES[(str(currency), day)])
    return (1 / quote).quantize(Decimal("1e-12"), ROUND_HALF_UP)


def _convert(amount: float | None, rate: Decimal | None) -> Decimal | None:
    if amount is None or rate is None:
        return None
    return (Decimal(str(amount)) * rate).quantize(Decimal("1e-6"), ROUND_HALF_UP)


def _cost(message_id: str) -> Decimal | None:
    _, price, currency, _, _ = MESSAGES[message_id]
    return _convert(price, _rate(currency, RATE_DAY.get(message_id)))


def _sum(values: list[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return sum(present, Decimal(0)) if present else None


def _batch() -> Batch:
    batch = Batch(ingested_at=datetime(2025, 5, 8))
    for message_id, (
        (country, mcc_mnc, tier, provider),
        price,
        currency,
        at,
        final,
    ) in MESSAGES.items():
        batch.send(message_id, country, mcc_mnc, tier, provider, at)
        batch.sends[-1].update(price=price, currency=currency)
        if final is not None:
            code = "30005" if final == "UNDELIVERABLE" else None
            batch.receipt(f"r-{message_id}", provider, f"p-{message_id}", final, at, at, None, code)
    for message_id, (device_os, value, currency, at) in CONVERSIONS.items():
        batch.conversion(message_id, device_os, at)
        batch.conversions[-1].update(kind="purchase", value=value, currency=currency)
        batch.conversion(message_id, device_os, at)  # a click: no value, no currency
        batch.conversions[-1].update(currency=None, value=None)
    return batch


def _marts() -> list[str]:
    return sorted(p.stem for p in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))


@dataclass
class Built:
    settings: Settings
    summary: str
    marts: dict[str, list[dict[str, Any]]]
    money_columns: dict[str, list[str]]


@pytest.fixture(scope="module")
def built(warehouse: Settings) -> Built:
    ensure_raw_tables(warehouse)
    _batch().load(warehouse)
    summary = run_build(warehouse).line()
    marts = read_marts(warehouse, _marts())
    engine = connect_engine(warehouse.warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "select table_name, column_name from information_schema.columns "
                    "where table_schema = :schema and (data_type like 'DECIMAL%' "
                    "or data_type = 'numeric')"
                ),
                {"schema": mart_schema(warehouse)},
            ).all()
    finally:
        engine.dispose()
    money_columns: dict[str, list[str]] = defaultdict(list)
    for table, column in rows:
        if table in marts:
            money_columns[table].append(column)
    return Built(warehouse, summary, marts, dict(money_columns))


def test_fct_messages_keeps_price_currency_rate_and_converted_cost(built: Built) -> None:
    got = {m["message_id"]: m for m in built.marts["fct_messages"]}
    for message_id, (_, price, currency, _, _) in MESSAGES.items():
        row = got[message_id]
        day = RATE_DAY.get(message_id)
        rate = _rate(currency, day)
        assert (
            row["price"],
            row["currency"],
            row["fx_rate"],
            row["fx_rate_date"],
            row["cost"],
            row["cost_currency"],
        ) == (
            None if price is None else Decimal(str(price)),
            currency,
            rate,
            day,
            _cost(message_id),
            "EUR",
        ), message_id


def _by_cell(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    totals: dict[tuple[Any, ...], list[Decimal | None]] = defaultdict(list)
    for row in rows:
        totals[tuple(row[k] for k in keys)].append(row["cost"])
    return {key: _sum(values) for key, values in totals.items()}


def _expected_by(key: Any, messages: list[str]) -> dict[Any, Decimal | None]:
    groups: dict[Any, list[Decimal | None]] = defaultdict(list)
    for message_id in messages:
        groups[key(message_id)].append(_cost(message_id))
    return {k: _sum(v) for k, v in groups.items()}


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def test_deliverability_marts_sum_converted_costs(built: Built) -> None:
    daily = {
        (_day(r["period_date"]), r["provider"]): r["cost"]
        for r in built.marts["agg_deliverability_daily"]
    }
    assert daily == _expected_by(lambda m: (MESSAGES[m][3].date(), MESSAGES[m][0][3]), [*MESSAGES])
    hourly = _by_cell(built.marts["agg_deliverability_hourly"], ("period_hour", "provider"))
    assert hourly == _expected_by(
        lambda m: (MESSAGES[m][3].replace(minute=0), MESSAGES[m][0][3]), [*MESSAGES]
    )
    assert daily[(SATURDAY, "twilio")] == Decimal("0.05") + _cost("u1")  # EUR + converted USD


def test_failure_causes_sum_converted_costs(built: Built) -> None:
    causes = _by_cell(built.marts["agg_failure_causes_daily"], ("period_date", "provider"))
    failed = [m for m, v in MESSAGES.items() if v[4] in ("UNDELIVERABLE", "REJECTED")]
    expected = _expected_by(lambda m: (MESSAGES[m][3].date(), MESSAGES[m][0][3]), failed)
    assert {(_day(d), p): c for (d, p), c in causes.items()} == expected


def test_routes_price_stats_are_converted(built: Built) -> None:
    routes = {r["provider"]: r for r in built.marts["dim_routes"]}
    for provider in ("twilio", "vonage"):
        costs = [c for m, v in MESSAGES.items() if v[0][3] == provider if (c := _cost(m))]
        row = routes[provider]
        assert row["cost"] == sum(costs)
        assert (row["price_min"], row["price_max"]) == (min(costs), max(costs))
        assert float(row["price_avg"]) == pytest.approx(float(sum(costs)) / len(costs))


def test_conversion_value_is_converted_at_the_conversion_day(built: Built) -> None:
    values = {
        r["device_os"]: r["conversion_value"]
        for r in built.marts["fct_conversions_by_segment"]
        if r["mcc_mnc"] == "310260"
    }
    ios = Decimal("10") + _convert(1000.0, _rate("USD", CONVERSION_RATE_DAY["u2"]))
    # JPY has no rate: its value is left out (and reported), not added as 5000
    assert values == {"ios": ios, "android": Decimal(0), "all": ios}


def test_no_mart_adds_raw_amounts(built: Built) -> None:
    """Every money column of every mart (new ones too) stays below what adding the raw USD 1000
    or JPY 5000 would give; only fct_messages.price holds amounts in their own currency."""
    assert built.money_columns.keys() >= {"fct_messages", "agg_deliverability_daily"}
    for mart, columns in built.money_columns.items():
        for column in columns:
            if (mart, column) in {("fct_messages", "price"), ("fct_messages", "fx_rate")}:
                continue
            values = [r[column] for r in built.marts[mart] if r[column] is not None]
            assert all(v < RAW_SUM for v in values), (mart, column, max(values))


def test_an_amount_without_a_rate_warns_and_the_build_goes_on(built: Built) -> None:
    assert " 0 failed, 1 warned" in built.summary, built.summary


@pytest.fixture(scope="module")
def checked(built: Built) -> CheckRun:
    return run_checks(built.settings, load_thresholds(DEFAULT_THRESHOLDS), now=datetime(2025, 5, 8))


def test_dlrw_check_names_the_price_without_a_rate(checked: CheckRun) -> None:
    findings = {f.cell_text: f for f in checked.findings if f.check == "exchange_rates"}
    assert {cell for cell, f in findings.items() if f.passed} == {
        "currency=EUR",
        "currency=USD",
        "currency=GBP",
    }
    assert findings["currency=JPY"].line() == (
        "exchange_rates: currency=JPY unconverted=1 > 0 (of 1 prices; those submitted 2025-05-06 "
        "to 2025-05-06 have no exchange rate: add it to seed exchange_rates and rebuild)"
    )
