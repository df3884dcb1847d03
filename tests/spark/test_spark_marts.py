"""Spark as a warehouse: the marts of one simulated run, built on Spark over the Avro store,
equal the DuckDB marts of the same run row for row (DuckDB is the reference), after a full
build and after an incremental build that takes late receipts; and they equal the simulator's
truth, as tests/build/test_truth.py asserts for DuckDB and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyhive import hive

from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.topics import create_topics
from dlrw.ingest.resources import DBT_PROJECT_DIR
from dlrw.ingest.warehouse.spark import parse_spark_url
from tests.build.compare import (
    daily_differences,
    message_differences,
    normalise,
    read_marts,
    row_set,
    without_build_stamp,
)
from tests.build.events import expected_daily
from tests.build.test_truth import COMPARED, SIMULATION, read_truth
from tests.cli import env_for, run_dlrw
from tests.conftest import KAFKA_BOOTSTRAP, require_kafka

# The first test's setup is the module's two builds on each warehouse: minutes on a loaded
# 2-core machine, so its hang guard is wider than the suite's.
pytestmark = [pytest.mark.spark, pytest.mark.broker, pytest.mark.timeout(1200)]

MARTS = sorted(p.stem for p in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))
# Receipts of the run's last stretch are held back, ingested and built after the first build.
LATE_SHARE = 0.15
# Spark's first build leaves out dbt's tests, about two thirds of its time: the second runs all.
BUILD_ARGS = {
    "full": ["--exclude", "resource_type:test", "resource_type:unit_test"],
    "incremental": [],
}


@dataclass
class Run:
    """The marts of the same run on DuckDB and on Spark, after each build."""

    truth: list[dict[str, Any]]
    duckdb: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    spark: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


def _spark_value(value: Any, type_name: str) -> Any:
    """PyHive gives dates and decimals as text: the types DuckDB's driver gives."""
    if not isinstance(value, str):
        return value
    if type_name == "TIMESTAMP_TYPE":
        return datetime.fromisoformat(value)
    if type_name == "DATE_TYPE":
        return date.fromisoformat(value)
    if type_name == "DECIMAL_TYPE":
        return Decimal(value)
    return value


def read_spark_marts(url: str, marts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of each mart on the Spark server, as dicts, by mart, without the build stamp."""
    endpoint = parse_spark_url(url)
    with contextlib.closing(hive.connect(endpoint.host, port=endpoint.port)) as connection:
        cursor = connection.cursor()
        result = {}
        for mart in marts:
            cursor.execute(f"select * from {endpoint.database}.{mart}")
            names = [(d[0].split(".")[-1], d[1]) for d in cursor.description]
            rows = [zip(names, row, strict=True) for row in cursor.fetchall()]
            result[mart] = [
                without_build_stamp({name: _spark_value(v, kind) for (name, kind), v in row})
                for row in rows
            ]
        return result


def _split(events: Path, early: Path, late: Path) -> None:
    """The events file without the receipts of its last stretch, and those receipts."""
    lines = events.read_text().splitlines(keepends=True)
    cut = int(len(lines) * (1 - LATE_SHARE))
    held = {i for i in range(cut, len(lines)) if json.loads(lines[i])["type"] == "receipt"}
    early.write_text("".join(line for i, line in enumerate(lines) if i not in held))
    late.write_text("".join(lines[i] for i in sorted(held)))


@pytest.fixture(scope="module")
def run(
    spark_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    topic_prefix: Callable[..., str],
) -> Run:
    """Simulate and ingest all but the late receipts; build on DuckDB and on Spark over the same
    store; ingest the late receipts and build both incrementally."""
    require_kafka()
    work = tmp_path_factory.mktemp("spark")
    duckdb = Settings(
        data_dir=work / "data",
        warehouse_url=f"duckdb:///{work / 'data' / 'w.duckdb'}",
        hash_key="test-hash-key",
        kafka_bootstrap=KAFKA_BOOTSTRAP,
        topic_prefix=topic_prefix("spark-"),
        store_dir=work / "store",
    )
    spark = duckdb.model_copy(update={"warehouse_url": spark_url, "data_dir": work / "spark"})
    create_topics(duckdb, partitions=3)
    env = env_for(duckdb)
    ingest = ["ingest", "--once", "--group", f"ingest-{duckdb.topic_prefix}"]
    run_dlrw(
        ["simulate", *SIMULATION, "--out", "events.jsonl", "--truth", "truth.csv"],
        env,
        cwd=work,
        check=True,
    )
    _split(work / "events.jsonl", work / "early.jsonl", work / "late.jsonl")
    result = Run(read_truth(work / "truth.csv"))
    for stage, events in (("full", "early.jsonl"), ("incremental", "late.jsonl")):
        run_dlrw(["produce", events], env, cwd=work, check=True)
        run_dlrw(ingest, env, cwd=work, check=True)
        run_dlrw(["build", "--quiet"], env, cwd=work, check=True)
        run_dlrw(["build", "--quiet", *BUILD_ARGS[stage]], env_for(spark), cwd=work, check=True)
        result.duckdb[stage] = read_marts(duckdb, MARTS)
        result.spark[stage] = read_spark_marts(spark_url, MARTS)
    return result


def _exact_and_inexact(row: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[float, ...]]:
    """A row's exact values (by column) and its fractional numbers as floats: an average is a
    double on DuckDB and a decimal rounded to its scale on Spark, equal to about 1e-9."""
    exact, inexact = [], []
    for column, value in sorted(row.items()):
        if isinstance(value, float | Decimal):
            inexact.append(float(value))
        else:
            exact.append((column, normalise(value)))
    return tuple(exact), tuple(inexact)


def differences(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """Rows of ``actual`` and ``expected`` that differ, in order (empty when equal)."""
    got = sorted(map(_exact_and_inexact, actual), key=repr)
    want = sorted(map(_exact_and_inexact, expected), key=repr)
    if len(got) != len(want):
        return [f"{len(got)} rows, expected {len(want)}"]
    return [
        f"{g} != {w}"
        for g, w in zip(got, want, strict=True)
        if g[0] != w[0]
        or not all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
            for a, b in zip(*[g[1], w[1]], strict=True)
        )
    ]


@pytest.mark.parametrize("stage", ["full", "incremental"])
@pytest.mark.parametrize("mart", MARTS)
def test_spark_marts_equal_duckdb_marts(run: Run, stage: str, mart: str) -> None:
    duckdb, spark = run.duckdb[stage][mart], run.spark[stage][mart]
    assert duckdb, f"{mart} is empty on DuckDB: nothing compared"
    problems = differences(spark, duckdb)
    assert problems == [], f"{len(problems)} rows differ, first: {problems[:3]}"


def test_every_message_outcome_on_spark_equals_the_truth(run: Run) -> None:
    messages = run.spark["incremental"]["fct_messages"]
    problems = message_differences(messages, run.truth, COMPARED)
    assert problems == [], f"{len(problems)} differences, first: {problems[:5]}"


def test_every_daily_cell_on_spark_equals_the_truth(run: Run) -> None:
    daily = run.spark["incremental"]["agg_deliverability_daily"]
    problems = daily_differences(daily, expected_daily(run.truth))
    assert problems == [], f"{len(problems)} differences, first: {problems[:5]}"


def test_late_receipts_changed_the_marts(run: Run) -> None:
    """Guards the test data: the held-back receipts moved some message's outcome."""
    assert row_set(run.spark["full"]["fct_messages"]) != row_set(
        run.spark["incremental"]["fct_messages"]
    )
