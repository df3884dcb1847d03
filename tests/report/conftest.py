"""Fixtures for the report tests: synthetic marts on DuckDB and on PostgreSQL."""

from __future__ import annotations

import importlib.util
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ingest.config import Settings
from ingest.report.data import warehouse_url

POSTGRES_ADMIN_URL = "postgresql://postgres:postgres@localhost:5432/postgres"


def _load_marts_module() -> ModuleType:
    # Tests import in importlib mode (no package __init__), so load the helper by path.
    path = Path(__file__).with_name("marts.py")
    spec = importlib.util.spec_from_file_location("report_test_marts", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


marts = _load_marts_module()


@pytest.fixture(scope="session")
def mart_frames() -> dict[str, pd.DataFrame]:
    """Three days of seeded synthetic traffic, as every mart the report reads."""
    frames: dict[str, pd.DataFrame] = marts.mart_frames(marts.synthetic_messages())
    return frames


@pytest.fixture
def duckdb_marts(settings: Settings, mart_frames: dict[str, pd.DataFrame]) -> Settings:
    """``settings`` whose DuckDB warehouse holds the marts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    marts.create_marts(settings.warehouse_url, mart_frames)
    return settings


@pytest.fixture
def postgres_marts(postgres_settings: Settings, mart_frames: dict[str, pd.DataFrame]) -> Settings:
    """``settings`` whose PostgreSQL warehouse holds the marts in schema ``marts``."""
    marts.create_marts(postgres_settings.warehouse_url, mart_frames)
    return postgres_settings


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (as tests/conftest.py's, but through
    ``warehouse_url``: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which dlrw does
    not install)."""
    import os

    admin_url = make_url(
        warehouse_url(os.environ.get("DLRW_TEST_POSTGRES_URL", POSTGRES_ADMIN_URL))
    )
    try:
        socket.create_connection((admin_url.host or "localhost", admin_url.port or 5432), 2).close()
    except OSError:
        pytest.fail(f"PostgreSQL is not running at {admin_url.host}: run `make services` first")
    name = f"dlrw_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        # Handed out as plain postgresql://, as a user would write DLRW_WAREHOUSE_URL.
        yield admin_url.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
