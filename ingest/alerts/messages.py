"""The alert as sinks see it: a flat JSON object with the cell, the periods, both rates, the
volumes, the test statistic, the severity and one plain sentence in ``text``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dlrw.ingest.alerts.rules import DELIVERY_DROP, Finding, Rules, format_duration

__all__ = ["FIRING", "RESOLVED", "alert_message", "sentence"]

FIRING = "firing"
RESOLVED = "resolved"


def _iso(ts: datetime) -> str:
    return ts.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _last(delta_text: str) -> str:
    # "1 hour" reads "the last hour"; "3 hours" reads "the last 3 hours".
    return delta_text.removeprefix("1 ")


def sentence(finding: Finding, status: str, rules: Rules) -> str:
    """One plain sentence for people, e.g. "Delivery to Airtel (40410, IN) on tier 2 via vonage
    fell to 41% in the last hour from 93% over the previous 7 days (1,204 messages, ...); 73%
    filtered among its 655 failed messages"."""
    cell = finding.key.describe()
    window = _last(format_duration(rules.window))
    baseline = format_duration(rules.baseline)
    now, base, n = finding.current_rate, finding.baseline_rate, finding.window.sent
    settle = format_duration(rules.settle)
    if finding.kind == DELIVERY_DROP:
        if status == RESOLVED:
            return (
                f"Resolved: delivery to {cell} is back to {now:.0%} in the last {window}, "
                f"against {base:.0%} over the previous {baseline} ({n:,} messages)"
            )
        why = ""
        if finding.cause is not None:
            c = finding.cause
            why = f"; {c.share:.0%} {c.cause} among its {c.failed:,} failed messages"
        return (
            f"Delivery to {cell} fell to {now:.0%} in the last {window} from {base:.0%} over "
            f"the previous {baseline} ({n:,} messages, delivered within {settle} of submit){why}"
        )
    if status == RESOLVED:
        return (
            f"Resolved: receipts for {cell} are missing for {now:.0%} of messages in the last "
            f"{window}, against {base:.0%} over the previous {baseline} ({n:,} messages)"
        )
    return (
        f"Receipts for {cell} are missing for {now:.0%} of messages in the last {window}, up "
        f"from {base:.0%} over the previous {baseline} ({n:,} messages): a reporting gap, "
        "not a delivery drop"
    )


def alert_message(
    finding: Finding,
    status: str,
    rules: Rules,
    now: datetime,
    first_fired_at: datetime,
    p_threshold: float,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The JSON object every sink sends (the webhook adds nothing but Slack's ``text``, which is
    already here). The periods end at ``as_of`` (default ``now``): the time data is complete to."""
    as_of = as_of or now
    baseline_start, window_start, window_end = rules.periods(as_of)
    settle_minutes = int(rules.settle.total_seconds() // 60)
    metric = (
        f"delivered_within_{settle_minutes}m"
        if finding.kind == DELIVERY_DROP
        else f"no_receipt_within_{settle_minutes}m"
    )
    return {
        "text": sentence(finding, status, rules),
        "status": status,
        "kind": finding.kind,
        "severity": finding.severity,
        **finding.key.to_dict(),
        "metric": metric,
        "current_rate": round(finding.current_rate, 4),
        "baseline_rate": round(finding.baseline_rate, 4),
        "change": round(finding.change, 4),
        "window_sent": finding.window.sent,
        "baseline_sent": finding.baseline.sent,
        "z": round(finding.z, 3),
        "p_value": finding.p_value,
        "p_threshold": p_threshold,
        "window_start": _iso(window_start),
        "window_end": _iso(window_end),
        "baseline_start": _iso(baseline_start),
        "baseline_end": _iso(window_start),
        "dominant_cause": finding.cause.cause if finding.cause else None,
        "dominant_cause_share": round(finding.cause.share, 4) if finding.cause else None,
        "window_failed": finding.cause.failed if finding.cause else None,
        "window_counts": finding.window.to_dict(),
        "baseline_counts": finding.baseline.to_dict(),
        "evaluated_at": _iso(now),
        "data_complete_to": _iso(as_of),
        "first_fired_at": _iso(first_fired_at),
    }
