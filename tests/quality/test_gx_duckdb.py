"""The GX-on-DuckDB workaround (ingest/quality/gx_duckdb.py): without it, GX's SQL metrics read
their rows after the connection has closed and get none (GX issue 11579)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import great_expectations.expectations as gxe

from dlrw.ingest.quality.gx_duckdb import DuckDBDatasource, release


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    """A DuckDB file with 100 messages, 7 of them with a rate above 1."""
    path = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(
        "create table agg as select range as id, "
        "case when range < 7 then 1.5 else 0.9 end as delivery_rate from range(100)"
    )
    conn.close()
    return f"duckdb:///{path}"


def _validate(datasource: Any) -> list[Any]:
    context = gx.get_context(mode="ephemeral")
    context.add_datasource(datasource=datasource)
    try:
        return _validate_on(context, datasource)
    finally:
        release(datasource)


def _raised(result: Any) -> str | None:
    info = result.exception_info or {}
    for value in [info, *info.values()]:
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def test_gx_sql_metrics_on_duckdb_get_their_rows_with_the_workaround(warehouse: str) -> None:
    results = _validate(DuckDBDatasource(name="w", connection_string=warehouse))

    assert [_raised(r) for r in results] == [None, None]
    between, rows = results
    assert between.result["unexpected_count"] == 7
    assert rows.result["observed_value"] == 7


def test_closing_the_engine_releases_the_duckdb_file(warehouse: str) -> None:
    """The kept connection must not outlive the run: DuckDB locks the file against other
    processes (a `dlrw ingest` or `dlrw build` right after `dlrw check`)."""
    _validate(DuckDBDatasource(name="w", connection_string=warehouse))
    path = warehouse.removeprefix("duckdb:///")

    opened = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({path!r}).close()"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert opened.returncode == 0, opened.stderr


def test_plain_gx_sql_datasource_on_duckdb_still_loses_its_rows(warehouse: str) -> None:
    """Upstream's behaviour the workaround exists for; when this fails, GX fixed issue 11579 and
    ingest/quality/gx_duckdb.py can go."""
    context = gx.get_context(mode="ephemeral")
    plain = context.data_sources.add_sql(name="plain", connection_string=warehouse)
    results = _validate_on(context, plain)

    errors = [_raised(r) for r in results]
    assert all(errors), errors
    assert any("list index out of range" in (e or "") for e in errors)


def _validate_on(context: Any, datasource: Any) -> list[Any]:
    batch = datasource.add_table_asset(
        name="agg", table_name="agg"
    ).add_batch_definition_whole_table("all")
    suite = context.suites.add(gx.ExpectationSuite(name="rates"))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="delivery_rate", min_value=0, max_value=1)
    )
    suite.add_expectation(
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query="select * from {batch} where delivery_rate > 1"
        )
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="rates", data=batch, suite=suite)
    )
    return list(definition.run().results)


def test_a_failing_query_does_not_poison_the_kept_connection(warehouse: str) -> None:
    """DuckDB aborts the transaction on an error; the kept connection must roll back."""
    context = gx.get_context(mode="ephemeral")
    datasource = DuckDBDatasource(name="w", connection_string=warehouse)
    context.add_datasource(datasource=datasource)
    batch = datasource.add_table_asset(
        name="agg", table_name="agg"
    ).add_batch_definition_whole_table("all")
    suite = context.suites.add(gx.ExpectationSuite(name="rates"))
    suite.add_expectation(
        gxe.UnexpectedRowsExpectation(unexpected_rows_query="select * from {batch} where nope > 1")
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="delivery_rate", min_value=0, max_value=1)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="rates", data=batch, suite=suite)
    )
    try:
        bad, good = definition.run().results
    finally:
        release(datasource)
    assert _raised(bad) is not None
    assert _raised(good) is None
    assert good.result["unexpected_count"] == 7
