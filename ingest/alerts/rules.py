"""Deliverability-drop rules: the metric, the cells, the volume gates and the statistical test.

Metric -- "delivered within ``settle`` of submit" (default 10 minutes), from ``fct_messages``:
a message counts as delivered when the marts' status fold says ``outcome = 'delivered'`` and its
``latency_s`` (done_at of the deciding DELIVERED receipt - submitted_at) is at most ``settle``.
A message counts as *unreported* when no receipt of it was received within ``settle`` of submit
(``first_received_at`` NULL or later). Only messages at least ``settle`` old are measured, so the
current window is ``[now - settle - window, now - settle)`` and the baseline is the ``baseline``
before it. Why: final statuses take hours to settle (phones that are off are retried for up to
48 h, receipts are held back), so comparing a fresh hour's *final* rate with a settled week would
always look like a drop, and waiting for the fresh hour to settle would make the alert hours
late. Capping both sides at the same ``settle`` makes a fresh window exactly comparable with the
baseline after ``settle`` minutes. The only residue: a DELIVERED receipt held back for hours is
already counted in the baseline (its done_at was early) but not yet in the current window; that
share is the simulator's 0.5-4 % "late receipt" rate, well below the minimum effect. And the
periods end where the loaded receipts end when that is before ``now`` (``data_complete_to`` in
evaluate.py): a receipts topic lagging the sends must not look like a receipt gap.

Cells -- country x operator (mcc_mnc) x route tier, and below each, the same per provider. Each
problem is reported once, on its most specific cell: when an operator x tier cell fires, its
provider cells are not reported, unless some of its providers are healthy -- then only the broken
providers' cells are (one provider's route broke). A provider cell can also fire alone, when the
operator's other routes dilute the drop below the gates at the operator x tier level.

Gates -- a cell is evaluated only with at least ``min_window`` messages in the window and
``min_baseline`` in the baseline; a drop fires only if it is at least ``min_drop`` (absolute
rate points) *and* statistically significant.

Test -- one-sided two-proportion z-test (pooled variance) on the counts of the window against
the baseline, with a Bonferroni correction over every test made in the evaluation, so
``alpha`` is the family-wise false-alarm rate of one evaluation across all cells (hundreds of
cells x 2 kinds would otherwise fire by chance every few runs). The z-test was chosen over
Wilson intervals because it compares two samples directly and gives the one number (z, p) the
alert reports; the volume gates keep it in the regime where the normal approximation holds.

Kinds -- ``delivery_drop``: the delivered-within rate fell, and it fell among the messages that
did get a receipt too (rate over reported messages), so it is not explained by missing
receipts. ``receipt_gap``: the share of messages with no receipt at all rose -- a reporting gap
(provider callbacks or SMSC receipts not reaching us), which lowers the delivery rate without any
message failing. Both may fire on one cell.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dlrw.ingest.errors import ConfigError

__all__ = [
    "CauseCounts",
    "CellCounts",
    "CellKey",
    "Counts",
    "DominantCause",
    "Evaluation",
    "Finding",
    "Rules",
    "evaluate_cells",
    "format_duration",
    "name_dominant_causes",
    "parse_duration",
    "two_proportion_z",
]

DELIVERY_DROP = "delivery_drop"
RECEIPT_GAP = "receipt_gap"
KINDS = (DELIVERY_DROP, RECEIPT_GAP)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_NAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def parse_duration(text: str, option: str) -> timedelta:
    """``30m``, ``1h``, ``7d``, ``90s``, ``2w`` -> timedelta; ``ConfigError`` (exit 2) otherwise."""
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{option}: {text!r} is not a duration like 90s, 30m, 1h, 7d or 2w")
    try:
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except OverflowError:
        longest = f"{timedelta.max.days:,} days"
        raise ConfigError(f"{option}: {text!r} is longer than {longest}") from None


def format_duration(delta: timedelta) -> str:
    """The largest whole unit: 3600 s -> '1 hour', 7 days -> '7 days', 90 min -> '90 minutes'."""
    seconds = delta.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {_UNIT_NAMES[unit]}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


@dataclass(frozen=True)
class Rules:
    """When an alert fires. Defaults suit hourly windows against a week of traffic."""

    window: timedelta = timedelta(hours=1)
    baseline: timedelta = timedelta(days=7)
    settle: timedelta = timedelta(minutes=10)
    min_window: int = 100
    min_baseline: int = 500
    min_drop: float = 0.10  # absolute rate points (0.10 = 10 points)
    critical_drop: float = 0.25
    alpha: float = 0.01  # family-wise, over every test of one evaluation
    cooldown: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.min_window < 1 or self.min_baseline < 1:
            raise ConfigError("--min-window and --min-baseline must be at least 1")
        if not 0 < self.min_drop < 1 or not 0 < self.critical_drop < 1:
            raise ConfigError("--min-drop and --critical-drop must be between 0 and 1")
        if not 0 < self.alpha < 1:
            raise ConfigError("--alpha must be between 0 and 1")

    def periods(self, now: datetime) -> tuple[datetime, datetime, datetime]:
        """(baseline start, window start, window end) for an evaluation at ``now``."""
        window_end = now - self.settle
        window_start = window_end - self.window
        return window_start - self.baseline, window_start, window_end


@dataclass(frozen=True, order=True)
class CellKey:
    """A reporting cell; ``provider`` None is the operator x tier cell over all providers."""

    country: str
    mcc_mnc: str
    route_tier: int
    provider: str | None = None
    operator_name: str = field(default="unknown", compare=False)

    @property
    def cell_id(self) -> str:
        base = f"{self.country}/{self.mcc_mnc}/t{self.route_tier}"
        return f"{base}/{self.provider}" if self.provider else base

    @property
    def grain(self) -> str:
        return "operator_tier_provider" if self.provider else "operator_tier"

    @property
    def parent(self) -> CellKey:
        return CellKey(self.country, self.mcc_mnc, self.route_tier, None, self.operator_name)

    def describe(self) -> str:
        """'Airtel (40410, IN) on tier 2 via vonage'."""
        via = f" via {self.provider}" if self.provider else ""
        return (
            f"{self.operator_name} ({self.mcc_mnc}, {self.country}) on tier {self.route_tier}{via}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "grain": self.grain,
            "country": self.country,
            "mcc_mnc": self.mcc_mnc,
            "operator_name": self.operator_name,
            "route_tier": self.route_tier,
            "provider": self.provider,
        }


@dataclass
class Counts:
    """One side (window or baseline) of a cell: messages, delivered-within, unreported-within."""

    sent: int = 0
    delivered: int = 0
    unreported: int = 0

    @property
    def reported(self) -> int:
        return self.sent - self.unreported

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.sent if self.sent else None

    @property
    def unreported_rate(self) -> float | None:
        return self.unreported / self.sent if self.sent else None

    @property
    def reported_delivery_rate(self) -> float | None:
        return self.delivered / self.reported if self.reported else None

    def add(self, other: Counts) -> None:
        self.sent += other.sent
        self.delivered += other.delivered
        self.unreported += other.unreported

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "no_receipt": self.unreported,
            "delivery_rate": _round(self.delivery_rate),
            "no_receipt_rate": _round(self.unreported_rate),
            "reported_delivery_rate": _round(self.reported_delivery_rate),
        }


@dataclass
class CellCounts:
    """Window and baseline counts of one cell, as the warehouse aggregated them."""

    key: CellKey
    window: Counts
    baseline: Counts


@dataclass(frozen=True)
class CauseCounts:
    """Failed messages of one provider cell and failure cause in the window."""

    key: CellKey
    cause: str
    failed: int


@dataclass(frozen=True)
class DominantCause:
    """The failure cause with the largest share of a cell's failed messages in the window."""

    cause: str
    messages: int
    failed: int  # all failed messages of the cell in the window

    @property
    def share(self) -> float:
        return self.messages / self.failed


@dataclass
class Finding:
    """The verdict on one cell and kind: whether it fires, or has recovered, and the numbers."""

    key: CellKey
    kind: str
    window: Counts
    baseline: Counts
    current_rate: float
    baseline_rate: float
    change: float  # the adverse change in rate points: a drop, or a rise in unreported share
    z: float
    p_value: float
    fires: bool
    recovered: bool
    severity: str
    suppressed: bool = False  # fires, but a parent or child cell reports it instead
    cause: DominantCause | None = None  # a firing delivery drop's, when the window has failures


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """One-sided two-proportion z-test of "p1 < p2" (pooled variance): (z, p-value).

    z is negative when the first proportion is lower; the p-value is P(Z <= z) under equal
    proportions. A degenerate pool (all or none succeed on both sides) gives z 0, p 1.
    """
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return z, 0.5 * math.erfc(-z / math.sqrt(2))


def _rollup(rows: list[CellCounts]) -> list[CellCounts]:
    """Operator x tier cells summed from the provider cells (exact: counts add up)."""
    parents: dict[CellKey, CellCounts] = {}
    for row in rows:
        parent = row.key.parent
        total = parents.setdefault(parent, CellCounts(parent, Counts(), Counts()))
        total.window.add(row.window)
        total.baseline.add(row.baseline)
    return list(parents.values())


def _judge(cell: CellCounts, kind: str, rules: Rules, threshold: float) -> Finding | None:
    """The finding of one kind on one cell; None when the kind cannot be measured there."""
    w, b = cell.window, cell.baseline
    if kind == DELIVERY_DROP:
        # Successes = delivered; a drop means the window's share is lower.
        z, p = two_proportion_z(w.delivered, w.sent, b.delivered, b.sent)
        current, base = w.delivery_rate, b.delivery_rate
        # The same test over reported messages only: a real delivery drop shows there too, a
        # reporting gap does not.
        _, p_rep = two_proportion_z(w.delivered, w.reported, b.delivered, b.reported)
        rep_now, rep_base = w.reported_delivery_rate, b.reported_delivery_rate
        rep_drop = (rep_base - rep_now) if rep_now is not None and rep_base is not None else 0.0
        also_reported = p_rep <= threshold and rep_drop >= rules.min_drop
    else:
        # Successes = unreported; the adverse direction is a rise, so test baseline < window.
        z, p = two_proportion_z(b.unreported, b.sent, w.unreported, w.sent)
        current, base = w.unreported_rate, b.unreported_rate
        also_reported = True
    if current is None or base is None:
        return None
    change = (base - current) if kind == DELIVERY_DROP else (current - base)
    fires = p <= threshold and change >= rules.min_drop and also_reported
    return Finding(
        key=cell.key,
        kind=kind,
        window=w,
        baseline=b,
        current_rate=current,
        baseline_rate=base,
        change=change,
        z=z,
        p_value=p,
        fires=fires,
        # Hysteresis: recovered only once most of the effect is gone, so a cell hovering at
        # the threshold does not flap between firing and resolved.
        recovered=change < rules.min_drop / 2,
        severity="critical" if change >= rules.critical_drop else "warning",
    )


@dataclass
class Evaluation:
    """Everything one evaluation found: every measured finding, and how many cells it saw."""

    findings: list[Finding]
    cells_seen: int  # cells (both grains) with any message in window or baseline
    cells_evaluated: int  # of those, cells with enough volume on both sides
    tests: int  # tests in the Bonferroni family
    threshold: float  # the per-test p-value threshold (alpha / tests)
    as_of: datetime | None = None  # the time the periods end at, when not the evaluation time

    @property
    def firing(self) -> list[Finding]:
        return [f for f in self.findings if f.fires and not f.suppressed]


def _pick_most_specific(findings: list[Finding]) -> None:
    """One alert per problem: when an operator x tier cell fires, its provider cells are
    suppressed -- unless some of its providers are healthy (evaluated, not firing), in which case
    the broken providers' cells say it more precisely and the parent is suppressed."""
    children: dict[tuple[CellKey, str], list[Finding]] = {}
    for f in findings:
        if f.key.provider:
            children.setdefault((f.key.parent, f.kind), []).append(f)
    for parent in findings:
        if parent.key.provider or not parent.fires:
            continue
        kids = children.get((parent.key, parent.kind), [])
        broken = [k for k in kids if k.fires]
        if broken and len(broken) < len(kids):
            parent.suppressed = True
        else:
            for kid in broken:
                kid.suppressed = True


def evaluate_cells(rows: list[CellCounts], rules: Rules) -> Evaluation:
    """Judge every cell with enough volume, at both grains, and mark the ``suppressed`` ones so
    each problem is reported once, on its most specific cell."""
    cells = _rollup(rows) + rows
    eligible = [
        c
        for c in cells
        if c.window.sent >= rules.min_window and c.baseline.sent >= rules.min_baseline
    ]
    tests = len(eligible) * len(KINDS)
    threshold = rules.alpha / max(tests, 1)
    findings: list[Finding] = []
    for cell in eligible:
        for kind in KINDS:
            finding = _judge(cell, kind, rules, threshold)
            if finding is not None:
                findings.append(finding)
    _pick_most_specific(findings)
    return Evaluation(
        findings=findings,
        cells_seen=sum(1 for c in cells if c.window.sent or c.baseline.sent),
        cells_evaluated=len(eligible),
        tests=tests,
        threshold=threshold,
    )


def name_dominant_causes(findings: list[Finding], causes: list[CauseCounts]) -> None:
    """Set ``cause`` on every firing delivery drop whose window holds failed messages: the cause
    with the most of them (ties: the first by name), an operator x tier cell summing its
    providers."""
    per_cell: dict[CellKey, dict[str, int]] = {}
    for row in causes:
        for key in (row.key, row.key.parent):
            counts = per_cell.setdefault(key, {})
            counts[row.cause] = counts.get(row.cause, 0) + row.failed
    for finding in findings:
        failed = per_cell.get(finding.key)
        if finding.kind != DELIVERY_DROP or not finding.fires or not failed:
            continue
        cause = min(failed, key=lambda c: (-failed[c], c))
        finding.cause = DominantCause(cause, failed[cause], sum(failed.values()))
