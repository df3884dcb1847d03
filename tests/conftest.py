"""Shared fixtures: isolated settings per test, and the real services `make services` starts."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics, delete_topics

KAFKA_BOOTSTRAP = os.environ.get("DLRW_KAFKA_BOOTSTRAP", "localhost:9092")
# The server `make services` starts; each test that asks gets a database of its own in it.
POSTGRES_ADMIN_URL = os.environ.get(
    "DLRW_TEST_POSTGRES_URL", "postgresql://postgres:postgres@localhost:5432/postgres"
)
# Real provider payloads, one a line (tests/samples/receipts/README.md says what each shows).
SAMPLES_DIR = Path(
    os.environ.get("DLRW_SAMPLES_DIR", Path(__file__).resolve().parent / "samples" / "receipts")
)


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=2):
            return True
    except OSError:
        return False


def require_kafka() -> None:
    """Fail the test, saying what to do, when the local broker is not running."""
    if not _reachable(KAFKA_BOOTSTRAP):
        pytest.fail(f"Kafka is not running at {KAFKA_BOOTSTRAP}: run `make services` first")


@pytest.fixture(scope="session")
def topic_prefix() -> Iterator[Callable[..., str]]:
    """``topic_prefix(kind="")``: a fresh topic prefix. The topics under all the prefixes it
    gave are deleted when the session ends, so runs do not pile topics up on the broker."""
    session = f"test-{uuid.uuid4().hex[:6]}-"
    yield lambda kind="": f"{session}{kind}{uuid.uuid4().hex[:8]}."
    if _reachable(KAFKA_BOOTSTRAP):
        delete_topics(Settings(kafka_bootstrap=KAFKA_BOOTSTRAP), session)


@pytest.fixture
def settings(tmp_path: Path, topic_prefix: Callable[..., str]) -> Settings:
    """Settings with a private data dir, DuckDB warehouse and topic prefix."""
    return Settings(
        data_dir=tmp_path / "data",
        kafka_bootstrap=KAFKA_BOOTSTRAP,
        topic_prefix=topic_prefix(),
        hash_key="test-hash-key",
    )


@pytest.fixture
def broker_settings(settings: Settings) -> Settings:
    """``settings`` whose topics exist on the real local broker."""
    require_kafka()
    create_topics(settings, partitions=3)
    return settings


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases on the local server; all are dropped at the end.

    The URLs are plain ``postgresql://``, as a user writes DLRW_WAREHOUSE_URL."""
    # psycopg2 is the project's one PostgreSQL driver (SQLAlchemy 2.1 would pick psycopg 3).
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg2")
    if not _reachable(f"{admin_url.host}:{admin_url.port or 5432}"):
        pytest.fail(f"PostgreSQL is not running at {admin_url.host}: run `make services` first")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def create() -> str:
        name = f"dlrw_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        url = admin_url.set(drivername="postgresql", database=name)
        return url.render_as_string(hide_password=False)

    try:
        yield create
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return postgres_database()


@pytest.fixture
def postgres_settings(settings: Settings, postgres_url: str) -> Settings:
    """``settings`` pointing the warehouse at a fresh PostgreSQL database."""
    return settings.model_copy(update={"warehouse_url": postgres_url})


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def warehouse(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[], str],
) -> Settings:
    """Settings on a fresh, empty warehouse shared by a module: a DuckDB file, or a new
    PostgreSQL database."""
    tmp = tmp_path_factory.mktemp(request.param)
    url = (
        postgres_database()
        if request.param == "postgres"
        else f"duckdb:///{tmp / 'data' / 'w.duckdb'}"
    )
    return Settings(data_dir=tmp / "data", warehouse_url=url, hash_key="test-hash-key")
