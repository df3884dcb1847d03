"""The BI role reads the marts and cannot write; the README's example queries run as it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from dlrw.ingest.config import Settings
from dlrw.ingest.report.bi import BI_ROLE, grant_bi_role
from dlrw.ingest.warehouse.connection import sqlalchemy_url

pytestmark = pytest.mark.postgres

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "bi_queries.sql"
PASSWORD = "bi-test-password"


def _example_queries() -> list[tuple[str, str]]:
    parts = re.split(r"^-- name: (\S+)\n", QUERIES.read_text(), flags=re.MULTILINE)
    return [
        (name, sql.strip().rstrip(";")) for name, sql in zip(parts[1::2], parts[2::2], strict=True)
    ]


@pytest.fixture
def roles(postgres_marts: Settings) -> Iterator[tuple[Engine, Engine]]:
    """Engines of the marts' owner and of the BI role it granted (twice)."""
    owner = create_engine(sqlalchemy_url(postgres_marts.warehouse_url))
    grant_bi_role(owner, PASSWORD)
    grant_bi_role(owner, PASSWORD)  # idempotent: a second build must not fail
    bi = create_engine(owner.url.set(username=BI_ROLE, password=PASSWORD))
    try:
        yield owner, bi
    finally:
        owner.dispose()
        bi.dispose()


def test_bi_role_reads_marts_including_tables_built_later(roles: tuple[Engine, Engine]) -> None:
    owner, bi = roles
    with bi.connect() as conn:
        # search_path = marts: BI tools see the marts unqualified.
        assert conn.execute(text("select sum(sent) from agg_deliverability_daily")).scalar()
        assert conn.execute(text("select count(*) from marts.fct_messages")).scalar() == 20_000
    with owner.begin() as conn:
        conn.execute(text("create table marts.built_later as select 1 as x"))
    with bi.connect() as conn:
        assert conn.execute(text("select x from marts.built_later")).scalar() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "create table marts.bi_scratch (x int)",
        "create table public.bi_scratch (x int)",
        "insert into marts.fct_messages (message_id) values ('bi-write')",
        "update marts.agg_deliverability_daily set sent = 0",
        "delete from marts.dim_operators",
        "drop table marts.dim_routes",
    ],
)
def test_bi_role_cannot_write(roles: tuple[Engine, Engine], statement: str) -> None:
    _, bi = roles
    with bi.connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(text(statement))
    message = str(caught.value.orig)
    assert "permission denied" in message or "read-only transaction" in message
    # Denied by privileges too, not only by the read-only session default.
    with bi.connect() as conn:
        conn.execute(text("set transaction read write"))
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
            conn.execute(text(statement))


def test_bi_role_cannot_create_temporary_tables(roles: tuple[Engine, Engine]) -> None:
    _, bi = roles
    with bi.connect() as conn:
        conn.execute(text("set transaction read write"))
        with pytest.raises(DBAPIError, match="permission denied to create temporary tables"):
            conn.execute(text("create temporary table bi_scratch (x int)"))


def test_bi_role_cannot_connect_to_other_databases(roles: tuple[Engine, Engine]) -> None:
    _, bi = roles
    other = create_engine(bi.url.set(database="postgres"))
    try:
        with pytest.raises(OperationalError, match='permission denied for database "postgres"'):
            other.connect()
        with bi.connect() as conn:  # its own database, still
            assert conn.execute(text("select count(*) from dim_routes")).scalar()
    finally:
        other.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "select lo_create(0)",
        "select lo_creat(-1)",
        "select lo_from_bytea(0, 'written by bi')",
        "select lo_import('/etc/hostname')",
        "select lo_put(:oid, 0, 'x')",
        "select lo_unlink(:oid)",
    ],
)
def test_bi_role_cannot_write_large_objects(roles: tuple[Engine, Engine], statement: str) -> None:
    owner, bi = roles
    with owner.begin() as conn:
        oid = conn.execute(text("select lo_from_bytea(0, 'the owner''s')")).scalar_one()
    with bi.connect() as conn:
        conn.execute(text("set transaction read write"))
        with pytest.raises(DBAPIError, match="permission denied for function lo_"):
            conn.execute(text(statement), {"oid": oid})


def test_bi_role_cannot_create_large_objects_through_the_client_api(
    roles: tuple[Engine, Engine],
) -> None:
    _, bi = roles
    with bi.connect() as conn:
        conn.execute(text("set transaction read write"))
        with pytest.raises(psycopg2.Error, match="permission denied for function lo_"):
            conn.connection.dbapi_connection.lobject(0, "wb")  # type: ignore[union-attr]


def test_bi_role_inherits_nothing_and_changes_only_what_postgresql_lets_any_role(
    roles: tuple[Engine, Engine],
) -> None:
    """NOINHERIT; and the README's list of what cannot be revoked: a role may always set its
    own session settings and defaults and change its own password, never its attributes."""
    owner, bi = roles
    with owner.connect() as conn:
        inherits = conn.execute(
            text("select rolinherit from pg_roles where rolname = :r"), {"r": BI_ROLE}
        ).scalar_one()
    assert inherits is False
    with bi.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("set default_transaction_read_only = off"))
        conn.execute(text(f"alter role {BI_ROLE} password '{PASSWORD}'"))
        conn.execute(text(f"alter role {BI_ROLE} set statement_timeout = '1h'"))
        conn.execute(text(f"alter role {BI_ROLE} reset statement_timeout"))
        for attribute in ("createdb", "createrole", "inherit", "connection limit 5"):
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text(f"alter role {BI_ROLE} {attribute}"))


def test_grant_bi_role_is_a_no_op_on_duckdb(duckdb_marts: Settings) -> None:
    engine = create_engine(duckdb_marts.warehouse_url)
    try:
        assert grant_bi_role(engine, PASSWORD) is False
    finally:
        engine.dispose()


@pytest.mark.parametrize("name,sql", _example_queries(), ids=[n for n, _ in _example_queries()])
def test_example_query_runs_as_bi_role(roles: tuple[Engine, Engine], name: str, sql: str) -> None:
    _, bi = roles
    with bi.connect() as conn:
        rows = conn.execute(text(sql)).all()
    # The synthetic data lies in November 2025: "this week" queries may find no rows.
    if name != "operator_drop_this_week":
        assert rows, f"{name} returned nothing"


def test_there_are_ten_example_queries() -> None:
    assert len(_example_queries()) == 10
