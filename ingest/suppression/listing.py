"""`dlrw suppression-list`: the numbers whose latest messages failed permanently, read from mart
``dim_destinations``, as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ServiceUnavailable, error_line
from dlrw.ingest.warehouse.marts import find_tables, open_marts

__all__ = ["DeadNumber", "dead_numbers", "write_csv"]


@dataclass(frozen=True, slots=True)
class DeadNumber:
    """One row of the list; the columns are dim_destinations' (docs/design.md, "Dead numbers")."""

    destination_hash: str
    consecutive_permanent_failures: int
    first_permanent_failure_at: datetime
    cost_since_first_permanent_failure: Decimal


def dead_numbers(settings: Settings, min_failures: int) -> list[DeadNumber]:
    """Numbers with at least ``min_failures`` permanent failures in a row and no delivery
    since, the costliest first."""
    engine = open_marts(settings.warehouse_url, read_only=True)
    try:
        table = find_tables(engine, ["dim_destinations"]).need("dim_destinations")
        columns = ", ".join(f.name for f in fields(DeadNumber))
        query = text(
            f"select {columns} from {table} where consecutive_permanent_failures >= :n "
            "order by cost_since_first_permanent_failure desc, destination_hash"
        )
        with engine.connect() as conn:
            rows = conn.execute(query, {"n": min_failures})
            return [DeadNumber(**row._mapping) for row in rows]
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"cannot read dim_destinations: {error_line(exc)}") from exc
    finally:
        engine.dispose()


def write_csv(numbers: Iterable[DeadNumber], out: TextIO) -> None:
    """The list as CSV with a header row; times in ISO-8601 UTC."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(f.name for f in fields(DeadNumber))
    for number in numbers:
        writer.writerow(
            value.isoformat(timespec="milliseconds") + "Z" if isinstance(value, datetime) else value
            for value in astuple(number)
        )
