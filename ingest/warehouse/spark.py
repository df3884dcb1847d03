"""``spark://HOST[:PORT][/DATABASE]``: a Spark Thrift server as the warehouse.

dbt reaches it with dbt-spark's ``thrift`` method; every relation of the project, the raw
tables over the Avro store included, lives in DATABASE (a Spark schema, default ``dlrw``), so
several data dirs can share one server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from dlrw.ingest.errors import ConfigError

__all__ = ["DEFAULT_DATABASE", "DEFAULT_PORT", "SparkUrl", "is_spark_url", "parse_spark_url"]

DEFAULT_PORT = 10000  # HiveServer2's, which the Spark Thrift server speaks
DEFAULT_DATABASE = "dlrw"
_DATABASE = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class SparkUrl:
    """Where the Thrift server listens and the database dlrw builds in."""

    host: str
    port: int
    database: str


def is_spark_url(url: str) -> bool:
    """Whether DLRW_WAREHOUSE_URL names a Spark Thrift server."""
    return url.startswith("spark://")


def parse_spark_url(url: str) -> SparkUrl:
    """The parts of ``spark://HOST[:PORT][/DATABASE]``."""
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = 0
    database = parts.path.strip("/") or DEFAULT_DATABASE
    if parts.scheme != "spark" or not parts.hostname or not port or parts.query:
        raise ConfigError(f"DLRW_WAREHOUSE_URL={url!r} is not spark://HOST[:PORT][/DATABASE]")
    if not _DATABASE.fullmatch(database):
        raise ConfigError(
            f"DLRW_WAREHOUSE_URL={url!r}: database {database!r} must be lower-case letters, "
            "digits and underscores"
        )
    return SparkUrl(parts.hostname, port, database)
