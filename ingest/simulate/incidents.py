"""Incidents: an operator's delivery or receipt reporting going wrong for a while.

``--incident operator=23410,start=2026-01-02T10:00,end=2026-01-02T14:00,delivery=0.4`` multiplies
the delivery rate of that operator's messages submitted in [start, end) by 0.4;
``receipts=0.0`` keeps that share of their receipts (0.0: none is reported). Both may be given.
``cause=filtered`` gives the messages the incident fails that failure cause (seed
failure_codes; default network_or_route): each provider reports it with one of its codes, so
only a cause every provider has a code for is accepted.
Times are ISO-8601, UTC unless they carry an offset; a bare date is its UTC midnight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dlrw.ingest.errors import ConfigError
from dlrw.ingest.simulate.failures import FAILURE_CODES_CSV, load_failure_codes
from dlrw.ingest.simulate.world import PROVIDERS

__all__ = ["Incident", "parse_incident"]

_KEYS = ("operator", "start", "end", "delivery", "receipts", "cause")


@dataclass(frozen=True, slots=True)
class Incident:
    """One operator's trouble over a window of submission times (epoch milliseconds)."""

    mcc_mnc: str
    start_ms: int
    end_ms: int
    delivery: float = 1.0  # multiplier on P(delivered)
    receipts: float = 1.0  # share of receipts still reported
    cause: str | None = None  # failure cause of the messages it fails; None: network_or_route

    def covers(self, mcc_mnc: str, submitted_ms: int) -> bool:
        return mcc_mnc == self.mcc_mnc and self.start_ms <= submitted_ms < self.end_ms


def _time(spec: str, key: str, text: str) -> int:
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--incident {spec!r}: {key}={text!r} is not an ISO-8601 time") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


def _share(spec: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--incident {spec!r}: {key}={text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"--incident {spec!r}: {key}={text} is outside 0..1")
    return value


def _cause(spec: str, cause: str) -> str:
    # An incident fails messages UNDELIVERABLE; every provider must have a code saying why.
    codes = load_failure_codes()
    missing = []
    for provider in PROVIDERS:
        try:
            codes.code_for(provider, None, "UNDELIVERABLE", cause, spec)
        except ConfigError:
            missing.append(provider)
    if missing:
        raise ConfigError(
            f"--incident {spec!r}: cause={cause}: {FAILURE_CODES_CSV.name} has no "
            f"{' or '.join(missing)} code for it on an UNDELIVERABLE receipt"
        )
    return cause


def parse_incident(spec: str, known_operators: Iterable[str]) -> Incident:
    """Parse one ``--incident`` value; ``ConfigError`` with a readable reason when it is wrong."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ConfigError(f"--incident {spec!r}: expected key=value, got {part!r}")
        if key not in _KEYS:
            raise ConfigError(f"--incident {spec!r}: unknown key {key!r} (use {', '.join(_KEYS)})")
        if key in fields:
            raise ConfigError(f"--incident {spec!r}: {key} given twice")
        fields[key] = value
    for key in ("operator", "start", "end"):
        if key not in fields:
            raise ConfigError(f"--incident {spec!r}: {key}= is required")
    if "delivery" not in fields and "receipts" not in fields:
        raise ConfigError(f"--incident {spec!r}: give delivery= and/or receipts=")
    if fields["operator"] not in set(known_operators):
        raise ConfigError(
            f"--incident {spec!r}: operator {fields['operator']!r} is not an MCC-MNC "
            "in dbt_project/seeds/operators.csv"
        )
    start_ms = _time(spec, "start", fields["start"])
    end_ms = _time(spec, "end", fields["end"])
    if end_ms <= start_ms:
        raise ConfigError(f"--incident {spec!r}: end must be after start")
    return Incident(
        mcc_mnc=fields["operator"],
        start_ms=start_ms,
        end_ms=end_ms,
        delivery=_share(spec, "delivery", fields["delivery"]) if "delivery" in fields else 1.0,
        receipts=_share(spec, "receipts", fields["receipts"]) if "receipts" in fields else 1.0,
        cause=_cause(spec, fields["cause"]) if "cause" in fields else None,
    )
