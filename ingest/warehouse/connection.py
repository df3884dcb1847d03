"""Opening the warehouse and loading raw tables into it, on DuckDB or PostgreSQL.

``connect_engine`` is the one place that turns ``DLRW_WAREHOUSE_URL`` into a SQLAlchemy engine with
readable failures; ``open_warehouse`` adds the bulk loaders the ingest pipeline and ``rebuild``
use. Each loader takes one Arrow table per raw table and applies them in one transaction, by the
fastest path its engine has: Arrow scanned in place by DuckDB, ``COPY`` into PostgreSQL.

Every load is an upsert on (``_topic``, ``_partition``, ``_offset``) in which the row with the
latest ``_ingested_at`` wins. That makes a replayed batch harmless, and makes loading commutative:
``rebuild`` can replay the store's segments in any order and reach the same rows.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine, Table, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.exc import InterfaceError as DBAPIInterfaceError
from sqlalchemy.exc import OperationalError as DBAPIOperationalError
from sqlalchemy.schema import CreateTable

from ingest.errors import ConfigError, ServiceUnavailable
from ingest.warehouse.tables import ALL_RAW_TABLES, LINEAGE_KEY

__all__ = ["Warehouse", "connect_engine", "open_warehouse", "redact_url", "sqlalchemy_url"]

_LOCK_RETRY_S = 0.5


def redact_url(url: str | URL) -> str:
    """The URL as it may be shown: any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def sqlalchemy_url(url: str) -> URL:
    """The SQLAlchemy URL of a warehouse URL, with psycopg2 as the PostgreSQL driver (the
    project's one; SQLAlchemy 2.1 would pick psycopg 3 for a bare ``postgresql://``)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DLRW_WAREHOUSE_URL is not a valid URL: {redact_url(url)}") from exc
    if parsed.get_backend_name() not in ("duckdb", "postgresql"):
        raise ConfigError(
            f"unsupported warehouse {parsed.get_backend_name()!r} in {redact_url(url)}: "
            "use duckdb:///PATH or postgresql://USER@HOST/DB"
        )
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 would pick psycopg 3; the project ships psycopg2 (COPY via copy_expert).
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def connect_engine(url: str, **engine_options: Any) -> Engine:
    """A SQLAlchemy engine on the warehouse at ``url``, with one connection tried so that an
    unreachable server fails here with a one-line ``ServiceUnavailable``. A DuckDB file's folder
    is created if missing."""
    parsed = sqlalchemy_url(url)
    if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "postgresql":
        engine_options.setdefault("connect_args", {"connect_timeout": 10})
    engine = create_engine(parsed, **engine_options)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _unavailable(parsed, exc) from exc
    return engine


def _unavailable(url: URL, exc: BaseException) -> ServiceUnavailable:
    detail = _first_line(exc)
    if url.get_backend_name() == "duckdb" and "lock" in detail.lower():
        pid = re.search(r"PID (\d+)", detail)
        holder = f" (held by PID {pid.group(1)})" if pid else ""
        return ServiceUnavailable(
            f"DuckDB warehouse {url.database} is in use by another process{holder}; DuckDB allows "
            "one writer per file: stop it, or use PostgreSQL to run several ingest processes"
        )
    return ServiceUnavailable(f"warehouse {redact_url(url)} is not reachable: {detail}")


class Warehouse(ABC):
    """The raw tables of one warehouse, with bulk loading. Use as a context manager."""

    def __init__(self, url: URL, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        # One connection for the warehouse's lifetime: loads are transactions on it.
        self._fairy = engine.raw_connection()
        self._dbapi: Any = self._fairy.driver_connection

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return redact_url(self.url)

    def _run(self, sql: str) -> None:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    def ensure_tables(self) -> None:
        """Create the raw tables that are missing, and add the columns a newer schema version
        brought to tables an older one created (new fields are nullable, so old rows get NULL)."""
        for table in ALL_RAW_TABLES:
            ddl = str(CreateTable(table, if_not_exists=True).compile(dialect=self.engine.dialect))
            self._run(ddl)
            existing = self._columns(table.name)
            for column in table.columns:
                if column.name in existing:
                    continue
                if not column.nullable:
                    raise ConfigError(
                        f"raw table {table.name} lacks the required column {column.name}: "
                        "a schema change that is not backward compatible needs a rebuild"
                    )
                sql_type = column.type.compile(dialect=self.engine.dialect)
                self._run(
                    f"ALTER TABLE {self._quote(table.name)} "
                    f"ADD COLUMN {self._quote(column.name)} {sql_type}"
                )
        self._dbapi.commit()

    def _columns(self, table: str) -> set[str]:
        cursor = self._dbapi.cursor()
        try:
            # Our own table names, never user input: inlined, as the two drivers quote apart.
            cursor.execute(
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = current_schema() AND table_name = '{table}'"
            )
            return {row[0] for row in cursor.fetchall()}
        finally:
            cursor.close()

    def drop_raw(self) -> None:
        """Drop the raw tables (``rebuild`` reloads them from the store)."""
        for table in ALL_RAW_TABLES:
            self._run(f"DROP TABLE IF EXISTS {self._quote(table.name)}")
        self._dbapi.commit()

    @abstractmethod
    def load(self, tables: Mapping[str, pa.Table]) -> None:
        """Upsert one Arrow table per raw table (name -> rows in the table's column order) in one
        transaction; for each (topic, partition, offset) the latest ``_ingested_at`` wins."""

    def _quote(self, name: str) -> str:
        return str(self.engine.dialect.identifier_preparer.quote(name))

    def _column_list(self, table: Table) -> str:
        """The table's columns by name: a migrated table holds added columns last, so loads
        never rely on column positions."""
        return ", ".join(self._quote(c.name) for c in table.columns)

    def _upsert_tail(self, table: Table, target: str) -> str:
        """``ON CONFLICT`` clause keeping the row ingested last (the same SQL on both engines)."""
        keys = ", ".join(self._quote(c) for c in LINEAGE_KEY)
        updates = ", ".join(
            f"{self._quote(c.name)} = excluded.{self._quote(c.name)}"
            for c in table.columns
            if c.name not in LINEAGE_KEY
        )
        return (
            f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
            f" WHERE {target}._ingested_at < excluded._ingested_at"
        )

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failed load may succeed on a new connection (the server went away)."""
        return False

    def reconnect(self) -> None:
        """Replace the connection (and any pooled ones) with a fresh one; raises like a load
        while the server is still away."""
        with contextlib.suppress(Exception):
            self._fairy.invalidate()
        self.engine.dispose()
        self._fairy = self.engine.raw_connection()
        self._dbapi = self._fairy.driver_connection

    def close(self) -> None:
        """Release the connection and the engine."""
        self._fairy.close()
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DuckDBWarehouse(Warehouse):
    """DuckDB: each Arrow table is scanned in place by ``INSERT ... SELECT``, no copy."""

    def load(self, tables: Mapping[str, pa.Table]) -> None:
        con = self._dbapi
        con.execute("BEGIN TRANSACTION")
        try:
            for name, data in tables.items():
                if data.num_rows == 0:
                    continue
                table = _table(name)
                con.register("_dlrw_batch", data)
                try:
                    target, columns = self._quote(name), self._column_list(table)
                    con.execute(
                        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM _dlrw_batch"
                        + self._upsert_tail(table, target)
                    ).fetchall()
                finally:
                    con.unregister("_dlrw_batch")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


class PostgresWarehouse(Warehouse):
    """PostgreSQL: each Arrow table is written as CSV, ``COPY``'d into a temporary staging table
    and upserted from there in one statement."""

    def is_transient(self, exc: BaseException) -> bool:
        import psycopg2

        # A stopped, restarting or unreachable server: OperationalError (e.g. AdminShutdown),
        # or InterfaceError once psycopg2 has marked the connection closed.
        return isinstance(
            exc,
            psycopg2.OperationalError
            | psycopg2.InterfaceError
            | DBAPIOperationalError
            | DBAPIInterfaceError,
        )

    def load(self, tables: Mapping[str, pa.Table]) -> None:
        con = self._dbapi
        try:
            with con.cursor() as cursor:
                for name, data in tables.items():
                    if data.num_rows == 0:
                        continue
                    table = _table(name)
                    target, stage = self._quote(name), self._quote(f"_stage_{name}")
                    columns = self._column_list(table)
                    # Emptied at every commit, so a failed load leaves nothing behind.
                    cursor.execute(
                        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                        f"(LIKE {target}) ON COMMIT DELETE ROWS"
                    )
                    cursor.copy_expert(
                        f"COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv)",
                        _csv(_bytea_as_hex(data)),
                    )
                    cursor.execute(
                        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage}"
                        + self._upsert_tail(table, target)
                    )
            con.commit()
        except BaseException:
            con.rollback()
            raise


def _table(name: str) -> Table:
    for table in ALL_RAW_TABLES:
        if table.name == name:
            return table
    raise KeyError(f"not a raw table: {name}")


def _bytea_as_hex(data: pa.Table) -> pa.Table:
    """Binary columns as PostgreSQL's ``\\x<hex>`` bytea text (the CSV writer has no bytea form)."""
    for index, field in enumerate(data.schema):
        if pa.types.is_binary(field.type):
            values = [
                None if v is None else "\\x" + v.hex() for v in data.column(index).to_pylist()
            ]
            data = data.set_column(index, field.name, pa.array(values, pa.string()))
    return data


def _csv(data: pa.Table) -> io.BytesIO:
    # Strings are quoted and NULLs left empty, so "" and NULL stay apart in PostgreSQL's CSV.
    buffer = io.BytesIO()
    pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    buffer.seek(0)
    return buffer


def open_warehouse(url: str, lock_wait_s: float = 0.0) -> Warehouse:
    """The warehouse at ``url`` (``duckdb:///PATH`` or ``postgresql://...``), connected.

    A DuckDB file held by another process is retried for ``lock_wait_s`` seconds, then reported
    as ``ServiceUnavailable`` naming the holder.
    """
    parsed = sqlalchemy_url(url)
    deadline = time.monotonic() + lock_wait_s
    while True:
        try:
            engine = connect_engine(url)
            break
        except ServiceUnavailable:
            if parsed.get_backend_name() != "duckdb" or time.monotonic() >= deadline:
                raise
            time.sleep(_LOCK_RETRY_S)
    try:
        if parsed.get_backend_name() == "duckdb":
            return DuckDBWarehouse(parsed, engine)
        return PostgresWarehouse(parsed, engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _unavailable(parsed, exc) from exc
