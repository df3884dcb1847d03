"""Module-scoped warehouses for build tests: dbt runs take seconds, so builds are shared."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ingest.config import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "DLRW_TEST_POSTGRES_URL", "postgresql://postgres:postgres@localhost:5432/postgres"
)
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")


def _duckdb_settings(tmp: Path) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        warehouse_url=f"duckdb:///{tmp / 'data' / 'w.duckdb'}",
        hash_key=SecretStr("test-hash-key"),
    )


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def warehouse(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """Settings on a fresh, empty warehouse: a DuckDB file, or a new PostgreSQL database."""
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "duckdb":
        yield _duckdb_settings(tmp)
        return
    admin_url = make_url(POSTGRES_ADMIN_URL)
    if admin_url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        admin_url = admin_url.set(drivername="postgresql+psycopg2")
    name = f"dlrw_build_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure here means the server is not usable
        pytest.fail(f"PostgreSQL is not usable at {admin_url.host}: run `make services` ({exc})")
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        yield _duckdb_settings(tmp).model_copy(update={"warehouse_url": url})
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
