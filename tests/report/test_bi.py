"""The BI role reads the marts and cannot write; the README's example queries run as it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ingest.config import Settings
from ingest.report.bi import BI_ROLE, grant_bi_role
from ingest.warehouse.connection import sqlalchemy_url

pytestmark = pytest.mark.postgres

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "bi_queries.sql"
PASSWORD = "bi-test-password"


def _example_queries() -> list[tuple[str, str]]:
    parts = re.split(r"^-- name: (\S+)\n", QUERIES.read_text(), flags=re.MULTILINE)
    return [
        (name, sql.strip().rstrip(";")) for name, sql in zip(parts[1::2], parts[2::2], strict=True)
    ]


def _owner_and_bi(settings: Settings) -> tuple[Engine, Engine]:
    owner = create_engine(sqlalchemy_url(settings.warehouse_url))
    grant_bi_role(owner, PASSWORD)
    grant_bi_role(owner, PASSWORD)  # idempotent: a second build must not fail
    url = make_url(sqlalchemy_url(settings.warehouse_url)).set(username=BI_ROLE, password=PASSWORD)
    return owner, create_engine(url)


def test_bi_role_reads_marts_including_tables_built_later(postgres_marts: Settings) -> None:
    owner, bi = _owner_and_bi(postgres_marts)
    try:
        with bi.connect() as conn:
            # search_path = marts: BI tools see the marts unqualified.
            assert conn.execute(text("select sum(sent) from agg_deliverability_daily")).scalar()
            assert conn.execute(text("select count(*) from marts.fct_messages")).scalar() == 20_000
        with owner.begin() as conn:
            conn.execute(text("create table marts.built_later as select 1 as x"))
        with bi.connect() as conn:
            assert conn.execute(text("select x from marts.built_later")).scalar() == 1
    finally:
        owner.dispose()
        bi.dispose()


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
def test_bi_role_cannot_write(postgres_marts: Settings, statement: str) -> None:
    owner, bi = _owner_and_bi(postgres_marts)
    try:
        with bi.connect() as conn, pytest.raises(DBAPIError) as caught:
            conn.execute(text(statement))
        message = str(caught.value.orig)
        assert "permission denied" in message or "read-only transaction" in message
        # Denied by privileges too, not only by the read-only session default.
        with bi.connect() as conn:
            conn.execute(text("set transaction read write"))
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                conn.execute(text(statement))
    finally:
        owner.dispose()
        bi.dispose()


def test_grant_bi_role_is_a_no_op_on_duckdb(duckdb_marts: Settings) -> None:
    engine = create_engine(duckdb_marts.warehouse_url)
    try:
        assert grant_bi_role(engine, PASSWORD) is False
    finally:
        engine.dispose()


@pytest.mark.parametrize("name,sql", _example_queries(), ids=[n for n, _ in _example_queries()])
def test_example_query_runs_as_bi_role(postgres_marts: Settings, name: str, sql: str) -> None:
    owner, bi = _owner_and_bi(postgres_marts)
    try:
        with bi.connect() as conn:
            rows = conn.execute(text(sql)).all()
        # The synthetic data lies in November 2025: "this week" queries may find no rows.
        if name != "operator_drop_this_week":
            assert rows, f"{name} returned nothing"
    finally:
        owner.dispose()
        bi.dispose()


def test_there_are_ten_example_queries() -> None:
    assert len(_example_queries()) == 10
