"""The `dlrw` command frame: every command is reachable, and failures are one readable line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ingest.cli import COMMANDS, run_command


def _dlrw(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def test_help_lists_every_command():
    result = _dlrw("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    result = _dlrw(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dlrw")


def test_unknown_command_is_a_usage_error_without_traceback():
    result = _dlrw("teleport")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


def test_user_error_is_one_line_and_non_zero(tmp_path, capsys):
    code = run_command(["parse-receipt", "--provider", "smpp", str(tmp_path / "missing.txt")])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "missing.txt" in err
