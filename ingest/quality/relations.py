"""Where the checks' tables live on each warehouse, and the times the checks are relative to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Reference", "Relations"]


@dataclass(frozen=True, slots=True)
class Relations:
    """Names of the tables the checks read, as the warehouse at hand has them."""

    backend: str
    # Quoted, schema-qualified names, by table name (dlrw.ingest.warehouse.marts.find_tables).
    tables: Mapping[str, str]

    def model(self, name: str) -> str:
        """The name of a table dbt built (a mart or an intermediate model) as SQL can use it."""
        return self.tables[name]

    @staticmethod
    def raw(name: str) -> str:
        """A raw table's name: the default schema on both warehouses (GX reads them as tables)."""
        return name


@dataclass(frozen=True, slots=True)
class Reference:
    """The times the checks are relative to (naive UTC, like the warehouse's timestamps)."""

    now: datetime
    newest_send: datetime | None
    first_hour: datetime | None
    # `dlrw check --since/--until`: the period the windowed checks judge whole, [since, until).
    since: datetime | None = None
    until: datetime | None = None
