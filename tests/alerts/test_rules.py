"""The statistics and gates of the alert rules, on counts alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scipy.stats import norm

from dlrw.ingest.alerts.rules import (
    CellCounts,
    CellKey,
    Counts,
    Rules,
    evaluate_cells,
    format_duration,
    parse_duration,
    two_proportion_z,
)
from dlrw.ingest.errors import ConfigError


def test_z_test_matches_the_textbook_formula() -> None:
    z, p = two_proportion_z(41, 100, 930, 1000)
    pooled = (41 + 930) / 1100
    expected = (0.41 - 0.93) / (pooled * (1 - pooled) * (1 / 100 + 1 / 1000)) ** 0.5
    assert z == pytest.approx(expected)
    assert p == pytest.approx(norm.cdf(expected))


def test_z_test_of_identical_or_empty_samples_is_not_significant() -> None:
    assert two_proportion_z(0, 0, 5, 10) == (0.0, 1.0)
    assert two_proportion_z(10, 10, 50, 50) == (0.0, 1.0)  # everyone delivered: no variance


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
     ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), ("1.5h", timedelta(minutes=90))],
)  # fmt: skip
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "--window") == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1h", "0h", "1 hour", "1h30m"])
def test_bad_durations_are_config_errors_naming_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--window"):
        parse_duration(text, "--window")


def test_durations_read_naturally() -> None:
    assert format_duration(timedelta(hours=1)) == "1 hour"
    assert format_duration(timedelta(days=7)) == "1 week"
    assert format_duration(timedelta(days=3)) == "3 days"
    assert format_duration(timedelta(minutes=90)) == "90 minutes"


def _cell(provider: str | None, window: Counts, baseline: Counts) -> CellCounts:
    return CellCounts(CellKey("IN", "40410", 2, provider, "Airtel"), window, baseline)


def test_a_large_drop_fires_and_small_or_thin_ones_do_not() -> None:
    rules = Rules()
    rows = [_cell("vonage", Counts(1204, 494, 20), Counts(20000, 18600, 300))]
    evaluation = evaluate_cells(rows, rules)
    kinds = {(f.key.cell_id, f.kind): f for f in evaluation.findings}
    parent = kinds[("IN/40410/t2", "delivery_drop")]
    assert parent.fires and parent.severity == "critical"
    # The one provider cell says the same as its parent: it is not reported twice.
    assert kinds[("IN/40410/t2/vonage", "delivery_drop")].suppressed
    assert [f.key.cell_id for f in evaluation.firing] == ["IN/40410/t2"]

    small = evaluate_cells([_cell("vonage", Counts(1000, 880, 20), Counts(20000, 18600, 300))],
                           rules)  # fmt: skip
    assert not small.firing  # 5 points: significant but below the minimum effect
    thin = evaluate_cells([_cell("vonage", Counts(99, 10, 0), Counts(20000, 18600, 300))], rules)
    assert thin.cells_evaluated == 0 and not thin.findings


def test_missing_receipts_are_a_receipt_gap_not_a_delivery_drop() -> None:
    # Half the receipts vanish: the delivered-within rate halves, but among the messages that
    # did report, delivery is as usual.
    rows = [_cell("vonage", Counts(1000, 460, 505), Counts(20000, 18400, 400))]
    firing = {f.kind for f in evaluate_cells(rows, Rules()).firing}
    assert firing == {"receipt_gap"}


@pytest.mark.parametrize("smpp_sent", [500, 5000])
def test_one_broken_provider_fires_on_its_own_cell(smpp_sent: int) -> None:
    # With a small healthy provider the operator x tier cell fires too, with a large one it is
    # diluted below the gates; either way the alert names the broken provider, once.
    rows = [
        _cell("vonage", Counts(500, 200, 10), Counts(10000, 9300, 150)),
        _cell("smpp", Counts(smpp_sent, round(smpp_sent * 0.93), 10), Counts(30000, 27900, 450)),
    ]
    firing = evaluate_cells(rows, Rules()).firing
    assert [(f.key.cell_id, f.kind) for f in firing] == [("IN/40410/t2/vonage", "delivery_drop")]
