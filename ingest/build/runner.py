"""Run ``dbt build`` (seeds, models, data tests, unit tests) on the warehouse and summarise it.

dbt runs as a subprocess with its profile, target and log paths under the data dir, so the
source tree stays clean, concurrent builds on different data dirs never collide, and dbt's
global state never leaks into the caller. It runs offline: no telemetry, no version check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dlrw.ingest.build.profiles import dbt_target, write_profiles
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError, ServiceUnavailable
from dlrw.ingest.resources import DBT_PROJECT_DIR
from dlrw.ingest.warehouse.connection import open_warehouse
from dlrw.ingest.warehouse.spark import (
    is_spark_url,
    parse_spark_url,
    raw_table_statements,
    run_statements,
)

__all__ = [
    "DBT_PROJECT_DIR",
    "BuildSummary",
    "dbt_dirs",
    "ensure_raw_tables",
    "run_build",
]

# "12:00:01  3 of 41 OK created sql view model main.stg_raw__sends ..... [OK in 0.05s]"
_PROGRESS_LINE = re.compile(r"^\S+\s+\d+ of \d+ (?!START)")
_FAILED = ("error", "fail")


@dataclass
class BuildSummary:
    """What one ``dbt build`` did, counted from its run_results.json."""

    elapsed_s: float
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    log_path: Path = Path()

    def count(self, resource: str, *statuses: str) -> int:
        """Nodes of a resource type (model, seed, test, unit_test) with any of these statuses."""
        return sum(
            n
            for (kind, status), n in self.counts.items()
            if kind == resource and (not statuses or status in statuses)
        )

    def line(self) -> str:
        """One-line summary for people."""
        tests = ("test", "unit_test")
        passed = sum(self.count(kind, "pass", "success") for kind in tests)
        failed = sum(self.count(kind, *_FAILED) for kind in tests)
        warned = sum(self.count(kind, "warn") for kind in tests)
        return (
            f"built {self.count('model', 'success')} models and {self.count('seed', 'success')} "
            f"seeds; tests: {passed} passed, {failed} failed, {warned} warned; "
            f"{self.elapsed_s:.1f}s"
        )


def dbt_dirs(settings: Settings) -> dict[str, Path]:
    """Profiles, target and log directories of dbt for these settings (under the data dir)."""
    base = settings.data_dir / "dbt"
    return {"profiles": base, "target": base / "target", "logs": base / "logs"}


def ensure_raw_tables(settings: Settings) -> None:
    """Ready the raw tables as ingest does, so a warehouse with nothing ingested yet still builds
    (one way: an older warehouse gets its loaded-offset watermarks from its rows here too).
    On Spark the raw tables are the store's folders, made again so they list every segment."""
    if is_spark_url(settings.warehouse_url):
        url = settings.warehouse_url
        run_statements(url, raw_table_statements(parse_spark_url(url).database, settings.store_dir))
        return
    if settings.warehouse_url.startswith("duckdb"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # DuckDB allows one writing process per file: closed before dbt takes it.
    with open_warehouse(settings.warehouse_url) as warehouse:
        warehouse.ensure_tables()


def _dbt_command(
    project_dir: Path,
    dirs: dict[str, Path],
    full_refresh: bool,
    select: Sequence[str],
    exclude: Sequence[str],
    lookback_hours: int | None,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "dbt.cli.main",
        "--no-send-anonymous-usage-stats",
        "--no-version-check",
        "--no-use-colors",
        "build",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(dirs["profiles"]),
        "--target-path",
        str(dirs["target"]),
        "--log-path",
        str(dirs["logs"]),
    ]
    if full_refresh:
        command.append("--full-refresh")
    if select:
        command += ["--select", *select]
    if exclude:
        command += ["--exclude", *exclude]
    if lookback_hours is not None:
        command += ["--vars", json.dumps({"lookback_hours": lookback_hours})]
    return command


def _read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    results: list[dict[str, Any]] = json.loads(path.read_text()).get("results", [])
    return results


def _one_line(message: str | None, default: str) -> str:
    """dbt's node message on one line: its header and the first detail line (the actual error)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return default
    if len(lines) > 1 and lines[0].startswith(
        ("Runtime Error", "Database Error", "Compilation Error")
    ):
        return f"{lines[1]}"
    return lines[0]


def _first_error_line(output: str) -> str:
    """The first line of dbt's own error report when it failed before running any node."""
    lines = [re.sub(r"^\d\d:\d\d:\d\d\s+", "", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines):
        if line.startswith("Encountered an error"):
            rest = [part for part in lines[i + 1 : i + 4] if not part.endswith("Error")] or lines[
                i : i + 1
            ]
            kind = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].endswith("Error") else ""
            return f"{kind}: {rest[0]}" if kind else rest[0]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "no output"


def run_build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    lookback_hours: int | None = None,
    progress: TextIO | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> BuildSummary:
    """Run ``dbt build`` on the warehouse; raise ``DlrwError`` naming the first failing node.

    ``progress`` (e.g. stderr) receives dbt's one-line-per-node progress as it happens;
    ``project_dir`` is another dbt project to build instead (bench/dbt.py times an older one).
    """
    target = dbt_target(settings)  # validates the URL first
    ensure_raw_tables(settings)
    dirs = dbt_dirs(settings)
    write_profiles(target, dirs["profiles"])
    run_results = dirs["target"] / "run_results.json"
    run_results.unlink(missing_ok=True)
    env = {
        **os.environ,
        **target.env,
        "DBT_PROFILES_DIR": str(dirs["profiles"]),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }
    command = _dbt_command(project_dir, dirs, full_refresh, select, exclude, lookback_hours)
    started = time.monotonic()
    output: list[str] = []
    try:
        process = subprocess.Popen(
            command,
            cwd=project_dir,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:
        raise ServiceUnavailable(f"cannot start dbt: {exc}") from exc
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if progress is not None and _PROGRESS_LINE.match(line):
            progress.write(line)
            progress.flush()
    returncode = process.wait()
    summary = BuildSummary(elapsed_s=time.monotonic() - started, log_path=dirs["logs"] / "dbt.log")
    for result in _read_results(run_results):
        kind = result["unique_id"].split(".", 1)[0]
        status = str(result["status"])
        summary.counts[(kind, status)] += 1
        if status in _FAILED:
            summary.failures.append((result["unique_id"], _one_line(result.get("message"), status)))
    if returncode != 0:
        if summary.failures:
            node, message = summary.failures[0]
            more = f" (+{len(summary.failures) - 1} more)" if len(summary.failures) > 1 else ""
            reason = f"{node}: {message}{more}"
        else:
            reason = _first_error_line("".join(output))
        raise DlrwError(f"dbt build failed at {reason} (log: {summary.log_path})")
    return summary
