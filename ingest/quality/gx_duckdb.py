"""The one workaround for Great Expectations on DuckDB (GX issue 11579).

GX's ``SqlAlchemyExecutionEngine.execute_query`` runs a query inside ``with engine.connect()``
and returns the cursor result *after* the block has closed the connection. psycopg2 buffers every
row client-side, so PostgreSQL does not notice; duckdb-engine's results live on the connection,
so the caller reads no rows and every metric dies with ``list index out of range`` (bundled
metrics) or ``'NoneType' object is not subscriptable`` (``UnexpectedRowsExpectation``).
Keeping the connection open and taking rollbacks on errors (GX recovers only from SQLAlchemy's
``PendingRollbackError``) is all it takes.

GX already keeps one connection open for the dialects that need it (SQLite, SQL Server, ...);
DuckDB is not on its list. ``DuckDBDatasource`` is a ``SQLDatasource`` whose execution engine
does the same for DuckDB: one connection, opened on first use and closed with the engine. Only
DuckDB warehouses use it; PostgreSQL goes through GX's own ``SQLDatasource`` untouched.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

__all__ = [
    "DUCKDB_DATASOURCE_TYPE",
    "DuckDBDatasource",
    "KeepConnectionExecutionEngine",
    "release",
]

DUCKDB_DATASOURCE_TYPE = "dlrw_duckdb"


class KeepConnectionExecutionEngine(SqlAlchemyExecutionEngine):
    """A SQL execution engine that reuses one open connection, so results outlive the query."""

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        # GX's own persisted-connection path, applied to every dialect this engine serves.
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        try:
            yield self._connection
        except Exception:
            # DuckDB aborts the transaction on any error; on a kept connection every later
            # metric would then fail with "Current transaction is aborted".
            self._connection.rollback()
            raise

    def close(self) -> None:
        """Close the kept connection, then the engine's pool. GX's own ``close`` leaves the
        connection checked out, and an open DuckDB connection locks the file to other processes."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        super().close()


class DuckDBDatasource(SQLDatasource):
    """GX's SQL datasource for a DuckDB warehouse, on ``KeepConnectionExecutionEngine``.

    Defining the class registers it with GX as the ``dlrw_duckdb`` datasource type.
    """

    type: Literal["dlrw_duckdb"] = "dlrw_duckdb"  # type: ignore[assignment]

    @property
    def execution_engine_type(self) -> builtins.type[SqlAlchemyExecutionEngine]:
        # builtins.type: inside this class body, `type` is the pydantic field above.
        return KeepConnectionExecutionEngine


def release(datasource: SQLDatasource) -> None:
    """Close every connection GX holds through ``datasource``: its execution engine's (kept
    open here) and the datasource's own engine, which GX uses to test the connection of each
    asset. A DuckDB file stays locked against other processes while either is open."""
    datasource.get_execution_engine().close()
    datasource.get_engine().dispose()
