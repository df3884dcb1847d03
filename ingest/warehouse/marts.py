"""The read side of the warehouse: the one way the build, checks, alerts, report and suppression
list reach the marts and find where each table lives.

``dlrw build`` puts the marts in the target schema on DuckDB and in schema ``marts`` on
PostgreSQL (``dbt_project/macros/generate_schema_name.sql``); raw tables are in the default
schema. Rather than repeat that rule, readers ask the warehouse where a table is.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from dlrw.ingest.errors import DlrwError, ServiceUnavailable, error_line
from dlrw.ingest.warehouse.connection import connect_engine, sqlalchemy_url

__all__ = ["MartsMissing", "Tables", "find_tables", "open_marts"]

# Where a table name is found in several schemas, the first of these wins.
_SCHEMA_PREFERENCE = ("marts", "main", "public")


class MartsMissing(DlrwError):
    """The warehouse, or a table a reader needs, is not built yet."""


def open_marts(url: str, read_only: bool = False) -> Engine:
    """An engine on the warehouse at ``url``, connected once so an unreachable server fails here.

    A DuckDB file that does not exist is ``MartsMissing``, never a new empty file. ``read_only``
    opens DuckDB without taking its single writer's lock.
    """
    parsed = sqlalchemy_url(url)
    options: dict[str, object] = {}
    if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "").expanduser()
        if not path.exists():
            raise MartsMissing(f"no warehouse at {path}: run `dlrw ingest` and `dlrw build` first")
        if read_only:
            options["connect_args"] = {"read_only": True}
    return connect_engine(url, **options)


class Tables(dict[str, str]):
    """Quoted, schema-qualified names of the tables found, by table name."""

    def need(self, name: str) -> str:
        """The qualified name of ``name``; ``MartsMissing`` when the warehouse lacks it."""
        try:
            return self[name]
        except KeyError:
            raise MartsMissing(
                f"the table {name} is not in the warehouse: run `dlrw build` first"
            ) from None


def find_tables(connectable: Engine | Connection, names: Iterable[str]) -> Tables:
    """Where each of ``names`` is in the warehouse; names not found are left out.

    information_schema works alike on both warehouses (DuckDB's inspector names schemas
    ``db.schema``); ``current_database()`` keeps DuckDB's attached catalogs out.
    """
    query = text(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database()"
    )
    try:
        if isinstance(connectable, Engine):
            with connectable.connect() as conn:
                rows = conn.execute(query).all()
        else:
            rows = connectable.execute(query).all()
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"cannot reach the warehouse: {error_line(exc)}") from exc
    wanted = set(names)
    rank = {schema: i for i, schema in enumerate(_SCHEMA_PREFERENCE)}
    found = Tables()
    pairs = sorted(
        ((str(schema), str(name)) for schema, name in rows),
        key=lambda r: (rank.get(r[0], len(rank)), r[0]),
    )
    for schema, name in pairs:
        if name in wanted and name not in found:
            found[name] = f'"{schema}"."{name}"'
    return found
