"""Realistic SMS traffic for dlrw: sends, provider receipts (in each provider's own payload
format) and conversions over a simulated timeline, with a truth file of what the warehouse
must compute. ``dlrw simulate`` is the command; ``Simulator`` the library entry point."""

from __future__ import annotations

from dlrw.ingest.simulate.engine import SimulationConfig, Simulator
from dlrw.ingest.simulate.incidents import Incident, parse_incident
from dlrw.ingest.simulate.truth import TruthRow, TruthWriter

__all__ = [
    "Incident",
    "SimulationConfig",
    "Simulator",
    "TruthRow",
    "TruthWriter",
    "parse_incident",
]
