"""Opening the warehouse and loading raw tables into it, on DuckDB or PostgreSQL.

``connect_engine`` is the one place that turns ``DLRW_WAREHOUSE_URL`` into a SQLAlchemy engine with
readable failures; ``open_warehouse`` adds the bulk loaders the ingest pipeline and ``rebuild``
use. Each loader takes one Arrow table per raw table and applies them in one transaction, by the
fastest path its engine has: Arrow scanned in place by DuckDB, ``COPY`` into PostgreSQL.

Every load is an upsert on (``_topic``, ``_partition``, ``_offset``) in which the row with the
latest ``_ingested_at`` wins, which makes a replayed batch harmless. No index backs it: each load
reads and advances its partitions' loaded-offset watermarks (``LOADED_OFFSETS``) in its own
transaction, appends outright when every row is at or above them (the steady state), and only
for a replay matches rows against the table. ``rebuild`` appends the store's segments in any
order and then keeps, per key, the row ingested last (``restore``).
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine, Table, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.exc import InterfaceError as DBAPIInterfaceError
from sqlalchemy.exc import OperationalError as DBAPIOperationalError
from sqlalchemy.schema import CreateTable

from dlrw.ingest.errors import ConfigError, ServiceUnavailable, error_line
from dlrw.ingest.warehouse.tables import ALL_RAW_TABLES, LINEAGE_KEY, LOADED_OFFSETS

__all__ = ["Warehouse", "connect_engine", "open_warehouse", "redact_url", "sqlalchemy_url"]

_LOCK_RETRY_S = 0.5
# The name a batch's Arrow table is scanned by on DuckDB.
_BATCH_VIEW = "_dlrw_batch"
# DuckDB's memory for the loading process, and how much log it gathers between checkpoints.
_DUCKDB_MEMORY_LIMIT = "128MB"
_DUCKDB_CHECKPOINT_THRESHOLD = "64MB"


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
    if parsed.get_backend_name() == "spark":
        # Spark is reached through its Thrift server by dbt alone (docs/design.md, "Spark").
        raise ConfigError(
            f"{redact_url(url)}: only `dlrw build` runs on Spark; this command reads and writes "
            "the warehouse through SQLAlchemy, which has no Spark dialect here: run it with a "
            "duckdb:/// or postgresql:// DLRW_WAREHOUSE_URL"
        )
    if parsed.get_backend_name() not in ("duckdb", "postgresql"):
        raise ConfigError(
            f"unsupported warehouse {parsed.get_backend_name()!r} in {redact_url(url)}: "
            "use duckdb:///PATH or postgresql://USER@HOST/DB"
        )
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 would pick psycopg 3; the project ships psycopg2 (COPY via copy_expert).
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


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
    detail = error_line(exc)
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
        self._one_thread = False
        self._configure()

    @abstractmethod
    def _configure(self) -> None:
        """Settings for the loading connection, applied whenever it is (re)opened."""

    def share_cores(self) -> None:
        """Run this connection's queries on one thread (an embedded engine; a server has cores
        of its own): for loads beside other work on the same cores, as in the ingest worker,
        whose consumer prepares the next batch during a load."""
        self._one_thread = True
        self._configure()

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
        brought to tables an older one created (new fields are nullable, so old rows get NULL).
        A warehouse from before the loaded-offset watermarks gets them from its rows."""
        self._lock_schema()
        had_watermarks = bool(self._columns(LOADED_OFFSETS.name))
        for table in (*ALL_RAW_TABLES, LOADED_OFFSETS):
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
        if not had_watermarks:
            self._run(self._watermarks_from_rows())
        self._dbapi.commit()

    @abstractmethod
    def _lock_schema(self) -> None:
        """Serialise ``ensure_tables`` between processes until the transaction ends."""

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
        for table in (*ALL_RAW_TABLES, LOADED_OFFSETS):
            self._run(f"DROP TABLE IF EXISTS {self._quote(table.name)}")
        self._dbapi.commit()

    def load(self, tables: Mapping[str, pa.Table]) -> None:
        """Upsert one Arrow table per raw table (name -> rows in the table's column order) in one
        transaction; for each (topic, partition, offset) the latest ``_ingested_at`` wins.

        Rows of one table must have distinct keys; a topic partition's rows may be loaded in any
        order and by several processes at once (PostgreSQL locks the partitions' watermarks)."""
        batch = {name: data for name, data in tables.items() if data.num_rows}
        if not batch:
            return
        ranges = {name: _offset_ranges(data) for name, data in batch.items()}
        ends: dict[tuple[str, int], int] = {}
        for per_table in ranges.values():
            for tp, (_, high) in per_table.items():
                ends[tp] = max(ends.get(tp, 0), high + 1)
        self._begin()
        try:
            marks = self._lock_watermarks(list(ends))
            for name, data in batch.items():
                replay = any(low < marks[tp] for tp, (low, _) in ranges[name].items())
                with self._staged(name, data) as source:
                    if replay:
                        self._upsert(_table(name), source)
                    else:
                        self._append(_table(name), source)
            loaded = self._quote(LOADED_OFFSETS.name)
            self._execute(
                f"INSERT INTO {loaded} VALUES {_values(ends)}"
                " ON CONFLICT (_topic, _partition) DO UPDATE"
                f" SET next_offset = greatest({loaded}.next_offset, excluded.next_offset)"
            )
            self._dbapi.commit()
        except BaseException:
            self._rollback()
            raise

    def restore(self, chunks: Iterable[Mapping[str, pa.Table]]) -> Counter[str]:
        """Load rows that may repeat keys (a store's segments, in any order) into emptied raw
        tables: append them all, then keep per key the row ingested last and set the watermarks
        from what is left. Returns the rows kept by table name (tables left empty omitted)."""
        for tables in chunks:
            self._begin()
            try:
                for name, data in tables.items():
                    if data.num_rows:
                        with self._staged(name, data) as source:
                            self._append(_table(name), source)
                self._dbapi.commit()
            except BaseException:
                self._rollback()
                raise
        kept: Counter[str] = Counter()
        self._begin()
        try:
            for table in ALL_RAW_TABLES:
                self._execute(self._dedupe(table))
                rows = self._execute(f"SELECT count(*) FROM {self._quote(table.name)}")
                if rows[0][0]:
                    kept[table.name] = int(rows[0][0])
            self._execute(f"DELETE FROM {self._quote(LOADED_OFFSETS.name)}")
            self._execute(self._watermarks_from_rows())
            self._dbapi.commit()
        except BaseException:
            self._rollback()
            raise
        return kept

    # -- the SQL both engines share: only staging, transactions and locking differ ------------

    # The clause that locks rows a SELECT reads until the transaction ends; a row's physical id.
    _FOR_UPDATE = ""
    _ROW_ID = "rowid"

    @abstractmethod
    def _begin(self) -> None:
        """Start a transaction on the warehouse connection."""

    @abstractmethod
    def _rollback(self) -> None:
        """Roll back the transaction on the warehouse connection."""

    @abstractmethod
    def _execute(self, sql: str) -> list[Any]:
        """Run one statement in the current transaction; its rows, if it returns any."""

    @abstractmethod
    def _staged(self, name: str, data: pa.Table) -> contextlib.AbstractContextManager[str]:
        """``data``, rows of the raw table ``name``, as a relation SQL reads by the name given."""

    def _lock_watermarks(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The watermarks of ``partitions`` (0 for new ones), locked until the transaction ends:
        a concurrent load of the same partition waits, then sees this one's watermark."""
        table = self._quote(LOADED_OFFSETS.name)
        self._execute(
            f"INSERT INTO {table} VALUES {_values(dict.fromkeys(partitions, 0))}"
            " ON CONFLICT (_topic, _partition) DO NOTHING"
        )
        topics: dict[str, list[int]] = {}
        for topic, partition in sorted(partitions):
            topics.setdefault(topic, []).append(partition)
        where = " OR ".join(
            f"(_topic = {_literal(topic)} AND _partition IN ({', '.join(map(str, numbers))}))"
            for topic, numbers in topics.items()
        )
        rows = self._execute(
            f"SELECT _topic, _partition, next_offset FROM {table} WHERE {where}"
            f" ORDER BY _topic, _partition{self._FOR_UPDATE}"
        )
        return {(topic, partition): mark for topic, partition, mark in rows}

    def _append(self, table: Table, source: str) -> None:
        columns = self._column_list(table)
        self._execute(
            f"INSERT INTO {self._quote(table.name)} ({columns}) SELECT {columns} FROM {source}"
        )

    def _upsert(self, table: Table, source: str) -> None:
        """Replace the rows ingested before ``source``'s, then add those not there yet."""
        target, columns = self._quote(table.name), self._column_list(table)
        same_key = " AND ".join(f"t.{c} = s.{c}" for c in map(self._quote, LINEAGE_KEY))
        updates = ", ".join(
            f"{self._quote(c.name)} = s.{self._quote(c.name)}"
            for c in table.columns
            if c.name not in LINEAGE_KEY
        )
        self._execute(
            f"UPDATE {target} AS t SET {updates} FROM {source} AS s"
            f" WHERE {same_key} AND t._ingested_at < s._ingested_at"
        )
        self._execute(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source} AS s"
            f" WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {same_key})"
        )

    def _dedupe(self, table: Table) -> str:
        """The statement deleting all but the row ingested last of every key held more than once
        (copies ingested at the same instant are the same record: one is kept)."""
        target = self._quote(table.name)
        keys = ", ".join(f"t.{c}" for c in map(self._quote, LINEAGE_KEY))
        same_key = " AND ".join(f"t.{c} = d.{c}" for c in map(self._quote, LINEAGE_KEY))
        return (
            f"DELETE FROM {target} WHERE {self._ROW_ID} IN (SELECT rid FROM ("
            f"SELECT t.{self._ROW_ID} AS rid, row_number() OVER"
            f" (PARTITION BY {keys} ORDER BY t._ingested_at DESC) AS n FROM {target} AS t"
            f" JOIN (SELECT {keys} FROM {target} AS t GROUP BY {keys} HAVING count(*) > 1) AS d"
            f" ON {same_key}) AS r WHERE n > 1)"
        )

    def _watermarks_from_rows(self) -> str:
        """The statement filling the watermarks from the raw tables' rows."""
        tops = " UNION ALL ".join(
            f"SELECT _topic, _partition, max(_offset) AS top FROM {self._quote(t.name)}"
            " GROUP BY _topic, _partition"
            for t in ALL_RAW_TABLES
        )
        return (
            f"INSERT INTO {self._quote(LOADED_OFFSETS.name)}"
            f" SELECT _topic, _partition, max(top) + 1 FROM ({tops}) AS m"
            " GROUP BY _topic, _partition"
        )

    def _quote(self, name: str) -> str:
        return str(self.engine.dialect.identifier_preparer.quote(name))

    def _column_list(self, table: Table) -> str:
        """The table's columns by name: a migrated table holds added columns last, so loads
        never rely on column positions."""
        return ", ".join(self._quote(c.name) for c in table.columns)

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failed load may succeed on a new connection (the server went away)."""
        return False

    def ping(self) -> None:
        """Raise, as a load would, unless the warehouse answers a query on the connection."""
        self._run("SELECT 1")

    def reconnect(self) -> None:
        """Replace the connection (and any pooled ones) with a fresh one; raises like a load
        while the server is still away."""
        if self._fairy.dbapi_connection is not None:  # not closed by an earlier attempt
            with contextlib.suppress(Exception):
                self._fairy.invalidate()
        self.engine.dispose()
        self._fairy = self.engine.raw_connection()
        self._dbapi = self._fairy.driver_connection
        self._configure()

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
    """DuckDB: each Arrow table is scanned in place by ``INSERT ... SELECT``, no copy. One
    process holds a DuckDB file, so its watermarks need no lock."""

    def _lock_schema(self) -> None:
        """Nothing to do: DuckDB lets one process write a file."""

    def _configure(self) -> None:
        # Measured on 1M-2M rows: DuckDB's buffer cache otherwise grows with the table, and its
        # checkpoints (every 16MB of log by default) cost more than the inserts; these keep the
        # process's memory flat and checkpoint a quarter as often. Larger queries spill to disk.
        self._dbapi.execute(f"SET memory_limit = '{_DUCKDB_MEMORY_LIMIT}'")
        self._dbapi.execute(f"SET checkpoint_threshold = '{_DUCKDB_CHECKPOINT_THRESHOLD}'")
        if self._one_thread:
            # Measured with ingest on 2 cores (1M events): about 7% more events/s and 5% less
            # CPU than DuckDB's default of a thread per core.
            self._dbapi.execute("SET threads = 1")

    def _begin(self) -> None:
        self._dbapi.execute("BEGIN TRANSACTION")

    def _rollback(self) -> None:
        self._dbapi.execute("ROLLBACK")
        # A failed statement leaves its batch registered (unregistering needs a live transaction).
        with contextlib.suppress(Exception):
            self._dbapi.unregister(_BATCH_VIEW)

    def _execute(self, sql: str) -> list[Any]:
        result = self._dbapi.execute(sql)
        return list(result.fetchall()) if result.description else []

    @contextlib.contextmanager
    def _staged(self, name: str, data: pa.Table) -> Iterator[str]:
        self._dbapi.register(_BATCH_VIEW, data)
        yield _BATCH_VIEW
        self._dbapi.unregister(_BATCH_VIEW)


class PostgresWarehouse(Warehouse):
    """PostgreSQL: each Arrow table is written as CSV and ``COPY``'d into a temporary staging
    table the load reads from. Several processes may load at once: a load holds the watermark
    rows of its partitions until it commits."""

    _FOR_UPDATE = " FOR UPDATE"
    _ROW_ID = "ctid"

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

    def ping(self) -> None:
        super().ping()
        # psycopg2 opened a transaction for the query: leave the connection idle, not in it.
        self._dbapi.rollback()

    def _lock_schema(self) -> None:
        # Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL (a unique violation in
        # its catalog), and two processes must not both derive the watermarks.
        self._run("SELECT pg_advisory_xact_lock(hashtext('dlrw.ensure_tables'))")

    def _configure(self) -> None:
        """The server's settings serve as they are."""

    def _begin(self) -> None:
        """psycopg2 opens a transaction with the first statement."""

    def _rollback(self) -> None:
        self._dbapi.rollback()

    def _execute(self, sql: str) -> list[Any]:
        with self._dbapi.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    @contextlib.contextmanager
    def _staged(self, name: str, data: pa.Table) -> Iterator[str]:
        target, stage = self._quote(name), self._quote(f"_stage_{name}")
        with self._dbapi.cursor() as cursor:
            # Emptied at every commit, so a failed load leaves nothing behind.
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {target}) ON COMMIT DELETE ROWS"
            )
            cursor.copy_expert(
                f"COPY {stage} ({self._column_list(_table(name))}) FROM STDIN WITH (FORMAT csv)",
                _csv(_bytea_as_hex(data)),
            )
        yield stage


def _table(name: str) -> Table:
    for table in ALL_RAW_TABLES:
        if table.name == name:
            return table
    raise KeyError(f"not a raw table: {name}")


def _offset_ranges(data: pa.Table) -> dict[tuple[str, int], tuple[int, int]]:
    """The lowest and highest offset of each topic partition in ``data``.

    In numpy, from the columns' buffers: ``Table.group_by`` and ``to_numpy`` make pyarrow import
    pandas (about 40MB and 0.2s in the ingest worker, which has no other use for it)."""
    if not data.num_rows:
        return {}
    topics = data.column("_topic").combine_chunks().dictionary_encode()
    names = topics.dictionary.to_pylist()
    # One integer per (topic, partition): the topic's code in the high half.
    keys = (_values_of(topics.indices).astype(np.int64) << 32) | _values_of(
        data.column("_partition").combine_chunks()
    )
    offsets = _values_of(data.column("_offset").combine_chunks())
    order = np.lexsort((offsets, keys))
    keys, offsets = keys[order], offsets[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)] - 1
    return {
        (names[key >> 32], key & 0xFFFFFFFF): (low, high)
        for key, low, high in zip(
            keys[starts].tolist(), offsets[starts].tolist(), offsets[ends].tolist(), strict=True
        )
    }


def _values_of(array: pa.Array) -> np.ndarray:
    """The values of an integer array without nulls, as numpy (no copy)."""
    dtype = np.dtype(f"int{array.type.bit_width}")
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _values(rows: Mapping[tuple[str, int], int]) -> str:
    """``(_topic, _partition, offset)`` rows as a ``VALUES`` list, in key order."""
    return ", ".join(
        f"({_literal(topic)}, {int(partition)}, {int(offset)})"
        for (topic, partition), offset in sorted(rows.items())
    )


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
