"""Compare built marts with expected rows: reusable for any truth (tests, the simulator's truth)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.warehouse.connection import connect_engine

MESSAGE_COLUMNS = (
    "status",
    "final_status",
    "outcome",
    "has_receipt",
    "receipt_count",
    "done_at",
    "latency_s",
    "country",
    "mcc_mnc",
    "operator_name",
    "route_tier",
    "provider",
)
DAILY_COLUMNS = ("sent", "delivered", "failed", "pending", "no_receipt")
CELL = ("period_date", "country", "mcc_mnc", "operator_name", "route_tier", "provider")


def mart_schema(settings: Settings) -> str:
    """The schema holding the marts: `marts` on PostgreSQL, `main` on DuckDB."""
    return "main" if settings.warehouse_url.startswith("duckdb") else "marts"


# fct_messages' `_built_at`: when a build made the row, which no two builds share.
BUILD_STAMP = "_built_at"


def without_build_stamp(row: Mapping[str, Any]) -> dict[str, Any]:
    """A mart row's columns but the build stamp."""
    return {column: value for column, value in row.items() if column != BUILD_STAMP}


def read_marts(settings: Settings, marts: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of each mart, as dicts, by mart, without the build stamp (``BUILD_STAMP``)."""
    schema = mart_schema(settings)
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return {
                mart: [
                    without_build_stamp(r._mapping)
                    for r in conn.execute(text(f"select * from {schema}.{mart}"))
                ]
                for mart in marts
            }
    finally:
        engine.dispose()


def normalise(value: Any) -> Any:
    """Comparable form: floats rounded (float sums may differ in the last bit), dates kept."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Decimal):
        return round(value, 6)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def row_set(rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A sorted, order-free form of a row set for equality checks."""
    return sorted((tuple((k, normalise(v)) for k, v in sorted(r.items())) for r in rows), key=repr)


def message_differences(
    actual: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    columns: Iterable[str] = MESSAGE_COLUMNS,
) -> list[str]:
    """Per-message differences between fct_messages rows and expected rows (empty when equal)."""
    columns = [c for c in columns if expected and c in expected[0]]
    got = {r["message_id"]: r for r in actual}
    want = {r["message_id"]: r for r in expected}
    problems = [f"{m}: missing from fct_messages" for m in sorted(want.keys() - got.keys())]
    problems += [f"{m}: not expected" for m in sorted(got.keys() - want.keys())]
    for m in sorted(want.keys() & got.keys()):
        for c in columns:
            if normalise(got[m][c]) != normalise(want[m][c]):
                problems.append(f"{m}.{c}: got {got[m][c]!r}, expected {want[m][c]!r}")
    return problems


def daily_differences(
    actual: list[dict[str, Any]], expected: dict[tuple[Any, ...], dict[str, int]]
) -> list[str]:
    """Cell-by-cell differences of agg_deliverability_daily counts (empty when equal)."""
    got = {}
    for r in actual:
        day = r["period_date"]
        key = (day.date() if isinstance(day, datetime) else day, *(r[c] for c in CELL[1:]))
        got[key] = {c: int(r[c]) for c in DAILY_COLUMNS}
    problems = [f"cell {k}: missing" for k in expected.keys() - got.keys()]
    problems += [f"cell {k}: not expected" for k in got.keys() - expected.keys()]
    for k in expected.keys() & got.keys():
        if got[k] != expected[k]:
            problems.append(f"cell {k}: got {got[k]}, expected {expected[k]}")
    return sorted(problems)


__all__ = [
    "BUILD_STAMP",
    "daily_differences",
    "mart_schema",
    "message_differences",
    "read_marts",
    "row_set",
    "without_build_stamp",
]
