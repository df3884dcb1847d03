"""Alert state in the warehouse (``alert_state``): which cells fire, since when, and when they
last alerted -- so a cell is alerted once per cooldown, and told when it recovers.

Transitions per (cell, kind), at evaluation time ``now``:
- fires, not firing before (or resolved) and its last alert is older than the cooldown -> send a
  ``firing`` alert; state firing, first_fired_at = last_fired_at = now.
- fires, firing, last alert older than the cooldown -> send it again as a reminder.
- fires within the cooldown -> nothing sent; the state's last values are refreshed.
- recovered (enough volume and less than half the minimum effect left) while firing -> send
  ``resolved``; state resolved.
- anything else (not enough volume, or between recovered and firing) -> nothing changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, select
from sqlalchemy.exc import SQLAlchemyError

from dlrw.ingest.alerts.messages import FIRING, RESOLVED, alert_message
from dlrw.ingest.alerts.rules import Evaluation, Finding, Rules
from dlrw.ingest.alerts.warehouse import ALERT_STATE, naive_utc, state_metadata
from dlrw.ingest.errors import ServiceUnavailable, error_line

__all__ = ["Transition", "ensure_state_table", "load_state", "plan_transitions", "save_state"]

StateKey = tuple[str, str]  # (cell_id, kind)


@dataclass
class Transition:
    """One state row to write, and the alert to send first (None: a silent refresh)."""

    row: dict[str, Any]
    alert: dict[str, Any] | None


def ensure_state_table(engine: Engine) -> None:
    """Create ``alert_state`` when it is missing."""
    try:
        state_metadata.create_all(engine)
    except SQLAlchemyError as exc:
        reason = error_line(exc)
        raise ServiceUnavailable(f"cannot create alert_state: {reason}") from exc


def load_state(engine: Engine) -> dict[StateKey, dict[str, Any]]:
    """Every state row, by (cell_id, kind)."""
    with engine.connect() as conn:
        rows = conn.execute(select(ALERT_STATE)).mappings().all()
    return {(row["cell_id"], row["kind"]): dict(row) for row in rows}


def _row(
    finding: Finding,
    status: str,
    now: datetime,
    first_fired_at: datetime,
    last_fired_at: datetime,
    resolved_at: datetime | None,
    alert: dict[str, Any] | None,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    key = finding.key
    return {
        "cell_id": key.cell_id,
        "kind": finding.kind,
        "grain": key.grain,
        "country": key.country,
        "mcc_mnc": key.mcc_mnc,
        "operator_name": key.operator_name,
        "route_tier": key.route_tier,
        "provider": key.provider,
        "status": status,
        "severity": finding.severity if status == FIRING else (previous or {}).get("severity", ""),
        "first_fired_at": first_fired_at,
        "last_fired_at": last_fired_at,
        "resolved_at": resolved_at,
        "last_evaluated_at": now,
        "current_rate": finding.current_rate,
        "baseline_rate": finding.baseline_rate,
        "window_sent": finding.window.sent,
        "baseline_sent": finding.baseline.sent,
        "z": finding.z,
        "p_value": finding.p_value,
        "last_alert": json.dumps(alert) if alert else (previous or {}).get("last_alert"),
    }


def plan_transitions(
    evaluation: Evaluation,
    state: dict[StateKey, dict[str, Any]],
    rules: Rules,
    now: datetime,
) -> list[Transition]:
    """What to send and write after an evaluation at ``now`` (see the module docstring)."""
    now = naive_utc(now)
    as_of = naive_utc(evaluation.as_of) if evaluation.as_of else now
    plans: list[Transition] = []
    for finding in evaluation.findings:
        if finding.suppressed:
            continue  # a parent or child cell speaks for it; leave its state alone
        previous = state.get((finding.key.cell_id, finding.kind))
        firing = previous is not None and previous["status"] == FIRING
        cooled = previous is None or now - previous["last_fired_at"] >= rules.cooldown
        if finding.fires and cooled:
            first = previous["first_fired_at"] if firing and previous else now
            alert = alert_message(finding, FIRING, rules, now, first, evaluation.threshold, as_of)
            plans.append(
                Transition(_row(finding, FIRING, now, first, now, None, alert, previous), alert)
            )
        elif finding.fires and firing and previous:
            row = _row(
                finding, FIRING, now, previous["first_fired_at"], previous["last_fired_at"],
                None, None, previous,
            )  # fmt: skip
            plans.append(Transition(row, None))
        elif finding.recovered and firing and previous:
            alert = alert_message(
                finding, RESOLVED, rules, now, previous["first_fired_at"], evaluation.threshold,
                as_of,
            )  # fmt: skip
            row = _row(
                finding, RESOLVED, now, previous["first_fired_at"], previous["last_fired_at"],
                now, alert, previous,
            )  # fmt: skip
            plans.append(Transition(row, alert))
    return plans


def save_state(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Replace the state rows of these (cell, kind) pairs, in one transaction."""
    if not rows:
        return
    try:
        with engine.begin() as conn:
            for row in rows:
                conn.execute(
                    delete(ALERT_STATE).where(
                        and_(
                            ALERT_STATE.c.cell_id == row["cell_id"],
                            ALERT_STATE.c.kind == row["kind"],
                        )
                    )
                )
            conn.execute(ALERT_STATE.insert(), rows)
    except SQLAlchemyError as exc:
        reason = error_line(exc)
        raise ServiceUnavailable(f"cannot write alert_state: {reason}") from exc
