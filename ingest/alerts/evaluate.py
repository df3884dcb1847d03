"""One evaluation: aggregate ``fct_messages`` per cell, judge every cell, send what changed and
record it in ``alert_state``; and ``refresh_marts`` for ``--watch``.

Freshness in ``--watch``: before each evaluation the watch loop runs the build area's
``run_build`` on ``fct_messages`` and the models it depends on (incremental: only messages
touched by newly ingested raw rows are recomputed; views are cheap; the seed is loaded once; the
dbt tests are left to the full ``dlrw build``). The alert therefore reads exactly the
marts' definitions (one metric definition, docs/design.md) instead of a second copy of the status
fold written against the raw tables; the price is dbt's start-up (a few seconds)
per evaluation, which keeps an alert well inside a minute of its data landing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from dlrw.ingest.alerts.rules import (
    DELIVERY_DROP,
    Evaluation,
    Rules,
    evaluate_cells,
    name_dominant_causes,
)
from dlrw.ingest.alerts.sinks import Sink
from dlrw.ingest.alerts.state import ensure_state_table, load_state, plan_transitions, save_state
from dlrw.ingest.alerts.warehouse import (
    cell_counts,
    receipts_watermark,
    window_failure_causes,
)
from dlrw.ingest.config import Settings
from dlrw.ingest.warehouse.marts import MartsMissing, find_tables, open_marts

__all__ = ["EvaluationReport", "evaluate_once", "refresh_marts"]

MART = "fct_messages"


@dataclass
class EvaluationReport:
    """What one evaluation did."""

    evaluation: Evaluation
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fired(self) -> list[dict[str, Any]]:
        return [a for a in self.sent if a["status"] == "firing"]

    @property
    def resolved(self) -> list[dict[str, Any]]:
        return [a for a in self.sent if a["status"] == "resolved"]

    def line(self) -> str:
        """One-line summary for people (stderr)."""
        e = self.evaluation
        as_of = f"data to {e.as_of:%Y-%m-%d %H:%M:%S}Z: " if e.as_of else ""
        return (
            f"{as_of}evaluated {e.cells_evaluated} of {e.cells_seen} cells with traffic "
            f"({e.tests} tests, p <= {e.threshold:.2g}); {len(e.firing)} firing, "
            f"{len(self.fired)} alerted, {len(self.resolved)} resolved"
        )


def evaluate_once(
    settings: Settings, rules: Rules, sink: Sink, now: datetime, engine: Engine | None = None
) -> EvaluationReport:
    """Evaluate every cell at ``now``, send the alerts due and record them; an alert counts as
    sent (and enters the state) only once the sink accepted it."""
    own_engine = engine is None
    engine = engine or open_marts(settings.warehouse_url)
    try:
        table = find_tables(engine, [MART]).need(MART)
        as_of = data_complete_to(engine, table, rules, now)
        evaluation = evaluate_cells(cell_counts(engine, table, rules, as_of), rules)
        evaluation.as_of = as_of
        if any(f.fires and f.kind == DELIVERY_DROP for f in evaluation.findings):
            causes = window_failure_causes(engine, table, rules, as_of)
            name_dominant_causes(evaluation.findings, causes)
        ensure_state_table(engine)
        plans = plan_transitions(evaluation, load_state(engine), rules, now)
        report = EvaluationReport(evaluation)
        done: list[dict[str, Any]] = []
        try:
            for plan in plans:
                if plan.alert is not None:
                    sink.send(plan.alert)
                    report.sent.append(plan.alert)
                done.append(plan.row)
        finally:
            # Whatever reached the sink is recorded even if a later alert failed.
            save_state(engine, done)
        return report
    finally:
        if own_engine:
            engine.dispose()


def data_complete_to(engine: Engine, table: str, rules: Rules, now: datetime) -> datetime:
    """``now``, or earlier when receipts are only loaded up to an earlier time.

    A message's receipt is only known once receipts up to ``submitted_at + settle`` are loaded;
    when the receipts topic lags the sends (another partition, a slower batch, a replay), judging
    at ``now`` would count the lag as missing receipts. So the periods end where the receipts
    do: at the newest receipt loaded. Live, that is seconds behind the clock.
    """
    since = now - rules.settle - rules.window - rules.baseline
    watermark = receipts_watermark(engine, table, since)
    if watermark is None:
        return now
    watermark_utc = watermark.replace(tzinfo=UTC)
    return min(now, watermark_utc)


def refresh_marts(settings: Settings) -> None:
    """Bring ``fct_messages`` up to date with the raw tables (incremental dbt run)."""
    from dlrw.ingest.build import run_build

    engine = open_warehouse_or_none(settings)
    try:
        built = engine is not None and MART in find_tables(engine, [MART])
    finally:
        if engine is not None:
            # DuckDB allows one writing process per file: let dbt have it.
            engine.dispose()
    run_build(
        settings,
        # fct_messages and the incremental tables it reads; their dbt tests are left to the full
        # `dlrw build`, and the seed is loaded only the first time.
        select=[f"+{MART}"],
        exclude=[
            "test_type:data",
            "test_type:unit",
            *([] if not built else ["resource_type:seed"]),
        ],
    )


def open_warehouse_or_none(settings: Settings) -> Engine | None:
    """The warehouse engine, or None when the DuckDB file does not exist yet."""
    try:
        return open_marts(settings.warehouse_url)
    except MartsMissing:
        return None
