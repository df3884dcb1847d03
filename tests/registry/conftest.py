"""The local schema registry `make services` starts, shared by every test of a session."""

from __future__ import annotations

import pytest

from dlrw.ingest.config import load_settings
from dlrw.ingest.local.registry import start_registry


@pytest.fixture(scope="session")
def schema_registry_url() -> str:
    """The Confluent-compatible API of the shared local registry: started as `dlrw registry
    start` starts it, from the same settings, unless it runs already (then only awaited)."""
    settings = load_settings()
    start_registry(settings, log=lambda line: None)
    return settings.schema_registry_url
