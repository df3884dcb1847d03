"""DLRW_WAREHOUSE_URL=spark://...: parsed, turned into a dbt target and raw-table DDL, and
refused in one line by the commands that do not run on Spark (no Spark server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrw.ingest.build.profiles import dbt_target
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.warehouse.connection import connect_engine
from dlrw.ingest.warehouse.spark import SparkUrl, parse_spark_url, raw_table_statements
from tests.cli import run_dlrw, user_env


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("spark://127.0.0.1", SparkUrl("127.0.0.1", 10000, "dlrw")),
        ("spark://thrift.example:10001/sales_2", SparkUrl("thrift.example", 10001, "sales_2")),
    ],
)
def test_a_spark_url_names_host_port_and_database(url: str, parsed: SparkUrl) -> None:
    assert parse_spark_url(url) == parsed


@pytest.mark.parametrize(
    "url", ["spark://", "spark://h:port", "spark://h/Bad-Name", "spark://h?x=1"]
)
def test_a_malformed_spark_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="DLRW_WAREHOUSE_URL"):
        parse_spark_url(url)


def test_dbt_builds_on_spark_through_the_thrift_server(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, warehouse_url="spark://127.0.0.1:10010/marts_a")
    target = dbt_target(settings)
    assert target.adapter == "spark"
    assert target.output["method"] == "thrift"
    assert (target.output["host"], target.output["port"]) == ("127.0.0.1", 10010)
    assert target.output["schema"] == "marts_a"


def test_raw_tables_are_external_avro_tables_over_the_store(tmp_path: Path) -> None:
    statements = raw_table_statements("db", tmp_path / "store")
    creates = [s for s in statements if s.startswith("create table")]
    assert [s.split()[2] for s in creates] == [
        "db.raw_sends",
        "db.raw_receipts",
        "db.raw_conversions",
        "db.raw_quarantine",
    ]
    for create, kind in zip(creates, ("send", "receipt", "conversion", "quarantine"), strict=True):
        assert "using avro" in create
        assert "partitioned by (`date`)" in create
        assert create.endswith(f"location '{tmp_path / 'store' / kind}'")
    assert "`_ingested_at` timestamp" in creates[1]


def test_sqlalchemy_commands_refuse_spark_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only `dlrw build` runs on Spark"):
        connect_engine("spark://127.0.0.1:10010/db")
    env = user_env(tmp_path, DLRW_WAREHOUSE_URL="spark://127.0.0.1:10010/db")
    done = run_dlrw(["report"], env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("dlrw report: error: spark://")
