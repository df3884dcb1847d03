"""The dbt profile for ``settings.warehouse_url``, written under the data dir (never the tree).

Secrets stay out of the file: a PostgreSQL password reaches dbt through an environment variable
that only the dbt process sees.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.warehouse.spark import is_spark_url, parse_spark_url

__all__ = ["PASSWORD_ENV", "PROFILE_NAME", "DbtTarget", "dbt_target", "write_profiles"]

PROFILE_NAME = "dlrw"
PASSWORD_ENV = "DLRW_DBT_WAREHOUSE_PASSWORD"
# DuckDB: two threads on the reference 2-core machine; insertion order is not needed by any model.
DUCKDB_SETTINGS: dict[str, object] = {"threads": 2, "preserve_insertion_order": False}
# DuckDB's default is 80% of RAM; the machine is shared (broker, PostgreSQL, ingest), so dbt gets
# half of it and spills larger joins and sorts to disk under the data dir instead.
DUCKDB_MEMORY_SHARE = 0.5
SPARK_THREADS_PER_CORE_THREAD = 2


def _duckdb_memory_limit() -> str:
    """Half the physical memory, in MiB (DuckDB's default when the size is unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "80%"
    return f"{int(total * DUCKDB_MEMORY_SHARE) // (1024 * 1024)}MiB"


@dataclass(frozen=True)
class DbtTarget:
    """Where dbt builds: the adapter type, its profile output and the secret env it needs."""

    adapter: str
    output: dict[str, object]
    env: dict[str, str] = field(default_factory=dict)


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DLRW_WAREHOUSE_URL is not a valid URL: {url!r}") from exc


def dbt_target(settings: Settings, threads: int = 2) -> DbtTarget:
    """The dbt target for the warehouse URL (``duckdb:///path``, ``postgresql://...`` or
    ``spark://host:port/database``)."""
    if is_spark_url(settings.warehouse_url):
        spark = parse_spark_url(settings.warehouse_url)
        # The Thrift method, also locally: dbt and dlrw are separate processes sharing the one
        # metastore a Thrift server holds (ingest/local/spark.py).
        spark_output: dict[str, object] = {
            "type": "spark",
            "method": "thrift",
            "host": spark.host,
            "port": spark.port,
            "schema": spark.database,
            # Spark's small queries wait on scheduling more than on the cores: more in flight.
            "threads": threads * SPARK_THREADS_PER_CORE_THREAD,
            "connect_retries": 0,
            # dbt-spark sleeps this long (default 5 s) whenever a query is not done at its first
            # status check: most statements take well under a second.
            "poll_interval": 1,
        }
        return DbtTarget("spark", spark_output)
    url = _parse(settings.warehouse_url)
    backend = url.get_backend_name()
    if backend == "duckdb":
        if not url.database or url.database == ":memory:":
            raise ConfigError("DLRW_WAREHOUSE_URL: dbt needs a DuckDB file, not an in-memory one")
        path = Path(url.database).expanduser().resolve()
        output: dict[str, object] = {
            "type": "duckdb",
            "path": str(path),
            "schema": "main",
            "threads": threads,
            # At connect time, once: dbt-duckdb SETs `settings` on every cursor, and DuckDB
            # refuses a second temp_directory once a query has spilled to the first.
            "config_options": {
                **DUCKDB_SETTINGS,
                "memory_limit": _duckdb_memory_limit(),
                "temp_directory": str(settings.data_dir / "dbt" / "duckdb_tmp"),
            },
        }
        return DbtTarget("duckdb", output)
    if backend == "postgresql":
        if not url.database:
            raise ConfigError("DLRW_WAREHOUSE_URL: the PostgreSQL URL names no database")
        output = {
            "type": "postgres",
            "host": url.host or "localhost",
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "password": "{{ env_var('" + PASSWORD_ENV + "', '') }}",
            "dbname": url.database,
            # Staging and intermediate here; marts in schema `marts` (generate_schema_name).
            "schema": "public",
            "threads": threads,
            "connect_timeout": 10,
        }
        return DbtTarget("postgres", output, {PASSWORD_ENV: url.password or ""})
    raise ConfigError(
        f"DLRW_WAREHOUSE_URL: unsupported warehouse {backend!r} "
        "(use duckdb:///, postgresql:// or spark://)"
    )


def write_profiles(target: DbtTarget, profiles_dir: Path) -> Path:
    """Write ``profiles.yml`` with the single target ``dlrw`` into ``profiles_dir``."""
    profiles_dir.mkdir(parents=True, exist_ok=True)
    profile = {PROFILE_NAME: {"target": "dlrw", "outputs": {"dlrw": target.output}}}
    path = profiles_dir / "profiles.yml"
    # JSON is valid YAML, and needs no YAML library.
    path.write_text(json.dumps(profile, indent=2) + "\n")
    return path
