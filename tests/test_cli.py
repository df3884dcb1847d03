"""The `dlrw` command frame: every command is reachable, and failures are one readable line."""

from __future__ import annotations

import pytest

from dlrw.ingest.cli import COMMANDS, run_command
from tests.cli import run_dlrw, user_env


def test_help_lists_every_command():
    result = run_dlrw(["--help"])
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    result = run_dlrw([name, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dlrw")


def test_unknown_command_is_a_usage_error_without_traceback():
    result = run_dlrw(["teleport"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


def test_user_error_is_one_line_and_non_zero(tmp_path, capsys):
    code = run_command(["parse-receipt", "--provider", "smpp", str(tmp_path / "missing.txt")])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "missing.txt" in err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "DLRW_TOPIC_PREFIX",
            "team a.",
            "'team a.' cannot start a Kafka topic name: use at most 234 ASCII letters, digits, "
            "'.', '_' and '-'",
        ),
        (
            "DLRW_TOPIC_PREFIX",
            "équipe.",
            "'équipe.' cannot start a Kafka topic name: use at most 234 ASCII letters, digits, "
            "'.', '_' and '-'",
        ),
        (
            "DLRW_TOPIC_PREFIX",
            "p" * 235,
            f"'{'p' * 235}' cannot start a Kafka topic name: use at most 234 ASCII letters, "
            "digits, '.', '_' and '-'",
        ),
        ("DLRW_KAFKA_DELIVERY_TIMEOUT", "0", "Input should be greater than or equal to 1"),
        ("DLRW_KAFKA_DELIVERY_TIMEOUT", "nan", "Input should be a finite number"),
        (
            "DLRW_KAFKA_DELIVERY_TIMEOUT",
            "soon",
            "Input should be a valid number, unable to parse string as a number",
        ),
    ],
    ids=["space", "non-ascii", "too-long", "timeout-zero", "timeout-nan", "timeout-text"],
)
def test_a_bad_setting_exits_2_with_one_line(variable, value, message, tmp_path):
    result = run_dlrw(["topics", "create"], user_env(tmp_path, **{variable: value}))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"dlrw topics: error: {variable}: {message}"]
