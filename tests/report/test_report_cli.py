"""`dlrw report` fails in one readable line when there is nothing to report."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings


def test_report_without_warehouse_says_to_build_first(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command(["report"], settings) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dlrw build" in err and "Traceback" not in err
    assert not (settings.data_dir / "warehouse.duckdb").exists()  # the report creates nothing


def test_report_with_a_missing_mart_names_it_and_says_run_build(
    duckdb_marts: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(duckdb_marts.warehouse_url)
    with engine.begin() as conn:
        conn.execute(text("drop table fct_conversions_by_segment"))
    engine.dispose()
    assert run_command(["report"], duckdb_marts) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "dlrw report: error: mart fct_conversions_by_segment not found in the warehouse: "
        "run `dlrw build` first"
    )


def test_report_writes_to_out_dir_and_prints_the_path(
    duckdb_marts: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "elsewhere"
    assert run_command(["report", "--out", str(out)], duckdb_marts) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "20,000" in html


def test_report_on_unreachable_postgres_is_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    down = settings.model_copy(
        update={"warehouse_url": "postgresql://nobody:secret@127.0.0.1:1/nowhere"}
    )
    assert run_command(["report"], down) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("dlrw report: error: warehouse ") and "is not reachable" in err
    assert len(err.splitlines()) == 1 and "secret" not in err
