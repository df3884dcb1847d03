"""Where the checks' tables live on each warehouse, and the times the checks are relative to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["MART_SCHEMA_POSTGRES", "Reference", "Relations"]

# dbt_project/macros/generate_schema_name.sql: marts in schema `marts` on PostgreSQL, in the
# target schema on DuckDB; raw tables are in the default schema on both.
MART_SCHEMA_POSTGRES = "marts"


@dataclass(frozen=True, slots=True)
class Relations:
    """Names of the tables the checks read, qualified for the warehouse backend at hand."""

    backend: str

    def mart(self, name: str) -> str:
        """A mart's name as SQL can use it."""
        return f"{MART_SCHEMA_POSTGRES}.{name}" if self.backend == "postgresql" else name

    @staticmethod
    def raw(name: str) -> str:
        """A raw table's name as SQL can use it."""
        return name

    def mart_location(self, name: str) -> tuple[str | None, str]:
        """(schema, table) of a mart, for existence checks."""
        return (MART_SCHEMA_POSTGRES if self.backend == "postgresql" else None), name


@dataclass(frozen=True, slots=True)
class Reference:
    """The times the checks are relative to (naive UTC, like the warehouse's timestamps)."""

    now: datetime
    newest_send: datetime | None
    first_hour: datetime | None
    # `dlrw check --since/--until`: the period the windowed checks judge whole, [since, until).
    since: datetime | None = None
    until: datetime | None = None
