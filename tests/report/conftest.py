"""Fixtures for the report tests: synthetic marts on DuckDB and on PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from dlrw.ingest.config import Settings

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
