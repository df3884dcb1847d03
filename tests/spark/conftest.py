"""One local Spark Thrift server for the whole test run, whatever the xdist workers: each
worker's session fixture starts it as `dlrw spark start` does, under a file lock in the shared
data dir, or finds it running. Each test module builds in a database of its own on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from dlrw.ingest.config import load_settings
from dlrw.ingest.local.spark import start_spark
from dlrw.ingest.warehouse.spark import parse_spark_url, run_statements

# Not Spark's default port, so a server someone runs on 10000 is left alone.
SPARK_URL = os.environ.get("DLRW_TEST_SPARK_URL", "spark://127.0.0.1:10010")


@pytest.fixture(scope="session")
def spark_server() -> str:
    """The shared server's URL (no database): started unless it runs, then awaited."""
    settings = load_settings().model_copy(update={"warehouse_url": SPARK_URL})
    start_spark(settings, log=lambda line: None)
    return SPARK_URL


@pytest.fixture(scope="module")
def spark_url(spark_server: str) -> Iterator[str]:
    """A fresh database on the shared server for one module, dropped after it."""
    endpoint = parse_spark_url(spark_server)
    database = f"t_{uuid.uuid4().hex[:10]}"
    url = f"spark://{endpoint.host}:{endpoint.port}/{database}"
    yield url
    run_statements(url, [f"drop database if exists {database} cascade"])
