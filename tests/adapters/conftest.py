"""Fixtures of the adapter tests: where the provider samples are, and a fixed received_at."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import SAMPLES_DIR


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The provider samples (``tests.conftest.SAMPLES_DIR``)."""
    return SAMPLES_DIR


@pytest.fixture
def received_at() -> datetime:
    """A fixed receive time, so tests are reproducible."""
    return datetime(2024, 3, 12, 11, 0, tzinfo=UTC)
