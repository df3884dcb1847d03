"""`dlrw check` on a warehouse that is not there or not built: one readable line, exit 1."""

from __future__ import annotations

from dlrw.ingest.config import Settings
from dlrw.ingest.warehouse.connection import open_warehouse
from tests.cli import env_for, run_dlrw


def test_check_without_a_warehouse_says_what_to_run(settings: Settings) -> None:
    result = run_dlrw(["check"], env_for(settings))

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = [x for x in result.stderr.splitlines() if "check:" in x and "error" in x]
    assert "no warehouse at" in line and "dlrw build" in line
    assert "Traceback" not in result.stderr


def test_check_before_build_names_the_missing_marts(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    with open_warehouse(settings.warehouse_url) as warehouse:
        warehouse.ensure_tables()

    result = run_dlrw(["check"], env_for(settings))

    assert result.returncode == 1
    errors = [x for x in result.stderr.splitlines() if "error" in x]
    assert errors == [
        "dlrw check: error: the warehouse has no int_receipts_matched, fct_messages, "
        "agg_deliverability_hourly, agg_deliverability_daily: "
        "run `dlrw ingest` and `dlrw build` first"
    ]
    assert "Traceback" not in result.stderr


def test_check_help_lists_its_options(settings: Settings) -> None:
    result = run_dlrw(["check", "--help"], env_for(settings), check=True)

    for option in ("--now", "--thresholds", "--data-docs"):
        assert option in result.stdout
