"""Deliverability-drop alerts: per-cell delivery and receipt rates from ``fct_messages`` against
their trailing baseline, significance-tested, with cooldown and resolve state in the warehouse."""

from dlrw.ingest.alerts.evaluate import EvaluationReport, evaluate_once, refresh_marts
from dlrw.ingest.alerts.rules import Rules, evaluate_cells, parse_duration, two_proportion_z

__all__ = [
    "EvaluationReport",
    "Rules",
    "evaluate_cells",
    "evaluate_once",
    "parse_duration",
    "refresh_marts",
    "two_proportion_z",
]
