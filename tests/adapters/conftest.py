"""Fixtures of the adapter tests: where the provider samples are, and a fixed received_at."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The shared provider samples: ``$DLRW_SAMPLES_DIR``, else ``/work/shared/...`` beside
    the project."""
    default = Path(__file__).resolve().parents[3] / "shared" / "samples" / "receipts"
    return Path(os.environ.get("DLRW_SAMPLES_DIR") or default)


@pytest.fixture
def received_at() -> datetime:
    """A fixed receive time, so tests are reproducible."""
    return datetime(2024, 3, 12, 11, 0, tzinfo=UTC)
