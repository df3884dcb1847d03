"""bench/dbt.py's reference figures are honest and its comparison builds the project it names:
the hand-written fold equals agg_deliverability_daily on the bench's data, `run_build` builds
another dbt project when given one, and a revision git does not know is one readable error."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dlrw.ingest.build.runner import DBT_PROJECT_DIR, ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError

MESSAGES = 3000


def _load_bench() -> object:
    """bench/dbt.py as a module: the benchmarks are scripts, not an installed package."""
    spec = importlib.util.spec_from_file_location(
        "bench_dbt", DBT_PROJECT_DIR.parent / "bench" / "dbt.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


bench: Any = _load_bench()


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, warehouse_url=f"duckdb:///{data_dir / 'w.duckdb'}")


def test_hand_written_fold_equals_the_daily_mart(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    ensure_raw_tables(settings)
    warehouse = settings.data_dir / "w.duckdb"
    bench.generate_days(warehouse, MESSAGES)
    fold = tmp_path / "fold.parquet"
    assert bench.hand_fold(settings, warehouse, fold) > 0

    run_build(settings, full_refresh=True)

    cells, differing = bench.check_fold(fold, warehouse)
    assert cells > 100
    assert differing == 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        outcomes = con.execute(
            "select sum(delivered), sum(failed), sum(pending) from agg_deliverability_daily"
        ).fetchone()
        causes = con.execute(
            "select count(*) filter (where failure_cause = 'unknown'), count(*) "
            "from fct_messages where is_failed"
        ).fetchone()
    finally:
        con.close()
    assert outcomes is not None and all(n > 0 for n in outcomes)
    # failures carry codes of the failure_codes seed, so almost none is 'unknown' (DELETED only)
    assert causes is not None and causes[0] < causes[1] / 10


def test_run_build_builds_the_project_it_is_given(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    (project / "models" / "bench_probe.sql").write_text("select 1 as probe\n")
    settings = _settings(tmp_path / "data")

    summary = run_build(settings, select=["bench_probe"], project_dir=project)

    assert summary.count("model", "success") == 1
    con = duckdb.connect(str(settings.data_dir / "w.duckdb"), read_only=True)
    try:
        assert con.execute("select probe from bench_probe").fetchall() == [(1,)]
    finally:
        con.close()


def test_compare_rev_extracts_that_revisions_dbt_project(tmp_path: Path) -> None:
    project = bench.archived_project("HEAD", tmp_path)

    assert (project.path / "dbt_project.yml").is_file()
    assert (project.path / "models" / "marts" / "fct_messages.sql").is_file()
    assert project.label == project.path.parent.name


def test_an_unknown_revision_is_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(DlrwError) as raised:
        bench.archived_project("no-such-revision", tmp_path)

    assert str(raised.value).startswith("--compare-rev no-such-revision: ")
    assert "\n" not in str(raised.value)
