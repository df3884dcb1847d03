"""``spark://HOST[:PORT][/DATABASE]``: a Spark Thrift server as the warehouse.

dbt reaches it with dbt-spark's ``thrift`` method; every relation of the project lives in
DATABASE (a Spark schema, default ``dlrw``), so several data dirs can share one server. The raw
tables are the store itself: external Avro tables over ``<store>/<kind>/date=*/``, partitioned
by ``date``, made again before every build (metadata only), so they always carry the newest
store schema and list every segment written since.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dlrw.ingest.errors import ConfigError, DlrwError, ServiceUnavailable, error_line
from dlrw.ingest.store.schema import QUARANTINE_KIND, STORE_KINDS, store_schema
from dlrw.ingest.warehouse.tables import RAW_TABLE_NAMES

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_PORT",
    "SparkUrl",
    "is_spark_url",
    "parse_spark_url",
    "raw_table_statements",
    "run_statements",
]

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


_SPARK_TYPES = {
    "string": "string",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "boolean": "boolean",
    "bytes": "binary",
}


def _spark_type(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        avro_type = next(t for t in avro_type if t != "null")
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "timestamp-millis":
            return "timestamp"
        if avro_type["type"] == "enum":
            return "string"
        avro_type = avro_type["type"]
    return _SPARK_TYPES[avro_type]


def _literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def raw_table_statements(database: str, store_dir: Path) -> list[str]:
    """SQL that (re)makes every raw table as an external Avro table over its store folder."""
    statements = [f"create database if not exists {database}"]
    for kind in STORE_KINDS:
        name = "raw_quarantine" if kind == QUARANTINE_KIND else RAW_TABLE_NAMES[kind]
        schema, _ = store_schema(kind)
        columns = ", ".join(f"`{f['name']}` {_spark_type(f['type'])}" for f in schema["fields"])
        statements += [
            f"drop table if exists {database}.{name}",
            f"create table {database}.{name} ({columns}, `date` date) using avro "
            f"options (avroSchema {_literal(json.dumps(schema))}, pathGlobFilter '*.avro') "
            f"partitioned by (`date`) location {_literal(str(store_dir.resolve() / kind))}",
        ]
    return statements


def run_statements(url: str, statements: list[str]) -> None:
    """Run SQL statements in order on the Thrift server at ``url``."""
    from pyhive import hive
    from thrift.Thrift import TException

    endpoint = parse_spark_url(url)
    try:
        connection = hive.connect(endpoint.host, port=endpoint.port)
    except (OSError, TException) as exc:
        raise ServiceUnavailable(
            f"the Spark server at {url} is not reachable: {error_line(exc)}; "
            "`dlrw spark start` runs one locally"
        ) from exc
    with contextlib.closing(connection):
        cursor = connection.cursor()
        for statement in statements:
            try:
                cursor.execute(statement)
            except hive.Error as exc:
                raise DlrwError(
                    f"Spark at {url} refused {statement[:80]!r}: {error_line(exc)}"
                ) from exc
