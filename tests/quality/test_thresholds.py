"""The one thresholds file: defaults, overrides key by key, readable errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.quality.thresholds import load_thresholds


def test_defaults_load_from_the_shipped_file() -> None:
    thresholds = load_thresholds()

    assert thresholds.missing_receipts.receipt_window_hours == 6
    assert 0 < thresholds.missing_receipts.max_share < 1
    assert thresholds.reconciliation.max_difference == 0


def test_an_override_file_replaces_only_the_keys_it_names(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text("[missing_receipts]\nmax_share = 0.5\n[freshness]\nmax_age_minutes = 5\n")

    thresholds = load_thresholds(path)

    assert thresholds.missing_receipts.max_share == 0.5
    assert thresholds.missing_receipts.receipt_window_hours == 6
    assert thresholds.freshness.max_age_minutes == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "[missing_receipts]\nmax_sahre = 0.5\n",
            "unknown key(s) in [missing_receipts]: max_sahre",
        ),
        ("[nope]\nx = 1\n", "unknown section(s) nope"),
        ("[freshness]\nmax_age_minutes = 'soon'\n", "must be a number"),
        ("[silent_hours]\nlookback_hours = 1.5\n", "must be a whole number"),
        ("[orphan_receipts]\nmax_share = -1\n", "must not be negative"),
        ("[freshness\n", "not valid TOML"),
    ],
)
def test_a_wrong_thresholds_file_is_one_readable_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "q.toml"
    path.write_text(content)

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_thresholds(path)


def test_a_missing_thresholds_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read thresholds file"):
        load_thresholds(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("[freshness]\nmax_age_minutes = nan\n", "[freshness] max_age_minutes"),
        ("[orphan_receipts]\nmax_share = inf\n", "[orphan_receipts] max_share"),
        ("[silent_hours]\nlookback_hours = inf\n", "[silent_hours] lookback_hours"),
        ("[reconciliation]\nmax_difference = -inf\n", "[reconciliation] max_difference"),
    ],
    ids=["nan", "inf", "inf-for-a-whole-number", "minus-inf"],
)
def test_a_threshold_that_is_not_finite_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, shown: str
) -> None:
    path = tmp_path / "q.toml"
    path.write_text(content)
    value = content.rsplit("= ", 1)[1].strip()

    code = run_command(["check", "--thresholds", str(path)], Settings(data_dir=tmp_path / "data"))

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"dlrw check: error: {path}: {shown} must be a finite number, got {value}"
    ]
