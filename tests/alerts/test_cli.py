"""`dlrw alerts` as users run it: JSON lines on stdout, one readable line on every error."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta

import duckdb
import pytest

from dlrw.ingest.config import Settings
from tests.alerts.helpers import NORMAL_CELLS, T0, write_fct_messages
from tests.cli import env_for, run_dlrw, start_dlrw, stop


def test_a_bad_window_exits_2_with_one_line(settings: Settings) -> None:
    result = run_dlrw(["alerts", "--window", "1x"], env_for(settings))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dlrw alerts: error: --window: '1x' is not a duration like 90s, 30m, 1h, 7d or 2w"
    ]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "99999999999w"], "--window: '99999999999w' is longer than 999,999,999 days"),
        (
            ["--settle", "99999999999999s"],
            "--settle: '99999999999999s' is longer than 999,999,999 days",
        ),
        (
            ["--now", "0001-01-01"],
            "--now 0001-01-01T00:00:00+00:00 minus --settle, --window and --baseline is before "
            "the year 1",
        ),
        (
            ["--baseline", "9999999w"],
            "now minus --settle, --window and --baseline is before the year 1",
        ),
        (["--watch", "nan"], "--watch: nan is not a number of seconds between 0 and 604800"),
        (["--watch", "inf"], "--watch: inf is not a number of seconds between 0 and 604800"),
    ],
    ids=[
        "window-overflow",
        "settle-overflow",
        "now-year-1",
        "baseline-before-year-1",
        "watch-nan",
        "watch-inf",
    ],
)
def test_a_value_out_of_range_exits_2_with_one_line(
    settings: Settings, args: list[str], message: str
) -> None:
    result = run_dlrw(["alerts", *args], env_for(settings))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"dlrw alerts: error: {message}"]


def test_a_bad_sink_exits_2_with_one_line(settings: Settings) -> None:
    result = run_dlrw(["alerts", "--sink", "pager"], env_for(settings))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "expected `stdout`, `webhook URL` or `kafka`" in result.stderr


def test_no_warehouse_yet_is_one_readable_line(settings: Settings) -> None:
    result = run_dlrw(["alerts"], env_for(settings))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `dlrw ingest` and `dlrw build` first" in lines[0]
    # ... and asking did not create an empty warehouse file
    assert not (settings.data_dir / "warehouse.duckdb").exists()


def test_missing_marts_are_one_readable_line(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.data_dir / "warehouse.duckdb")) as conn:
        conn.execute("create table raw_sends (event_id varchar)")
    result = run_dlrw(["alerts"], env_for(settings))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "the table fct_messages is not in the warehouse" in lines[0]
    assert "run `dlrw build` first" in lines[0]


def test_alerts_print_json_lines_and_a_summary(settings: Settings) -> None:
    cells = [
        replace(c, incident=(T0 - timedelta(hours=1), T0, 0.4, 0.98)) if c.mcc_mnc == "40410" else c
        for c in NORMAL_CELLS
    ]
    write_fct_messages(settings, cells)
    result = run_dlrw(
        ["alerts", "--baseline", "2d", "--now", (T0 + timedelta(minutes=10)).isoformat()],
        env_for(settings),
    )
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["cell_id"] for a in alerts] == ["IN/40410/t2"]
    assert "evaluated 9 of 11 cells" in result.stderr


def test_watch_alerts_once_then_keeps_quiet_within_the_cooldown(settings: Settings) -> None:
    cells = [
        replace(c, incident=(T0 - timedelta(hours=1), T0 + timedelta(hours=3), 0.4, 0.98))
        if c.mcc_mnc == "40410"
        else c
        for c in NORMAL_CELLS
    ]
    write_fct_messages(settings, cells)
    now = (T0 + timedelta(minutes=10)).isoformat()
    process = start_dlrw(
        ["alerts", "--baseline", "2d", "--now", now, "--watch", "0.5", "--no-refresh"],
        env_for(settings),
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        summaries: list[str] = []
        deadline = time.monotonic() + 60
        while len(summaries) < 3 and time.monotonic() < deadline:
            line = process.stderr.readline()
            if "evaluated" in line:
                summaries.append(line)
    finally:
        out, _ = stop(process)
    assert len(summaries) == 3
    assert "1 alerted" in summaries[0] and "0 alerted" in summaries[2]
    assert [json.loads(line)["cell_id"] for line in out.splitlines()] == ["IN/40410/t2"]
