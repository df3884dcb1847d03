"""The thresholds of `dlrw check`, from one TOML file (``thresholds.toml`` beside this module,
or another file of the same shape)."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, get_type_hints

from dlrw.ingest.errors import ConfigError
from dlrw.ingest.resources import package_path

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ExchangeRates",
    "Freshness",
    "MissingReceipts",
    "OrphanReceipts",
    "Reconciliation",
    "ReusedIds",
    "SilentHours",
    "Thresholds",
    "UnmappedFailureCodes",
    "load_thresholds",
]

DEFAULT_THRESHOLDS = package_path("dlrw.ingest.quality", "thresholds.toml")


@dataclass(frozen=True, slots=True)
class MissingReceipts:
    """Share of messages with no receipt at all, per provider x operator."""

    receipt_window_hours: float
    lookback_hours: float
    max_share: float
    min_messages: int


@dataclass(frozen=True, slots=True)
class SilentHours:
    """Hours with no sends or no receipts in a cell that normally has traffic."""

    lookback_hours: int
    settle_minutes: int
    min_normal_messages: float
    baseline_days: int


@dataclass(frozen=True, slots=True)
class Freshness:
    """Age of the newest receipt."""

    max_age_minutes: float


@dataclass(frozen=True, slots=True)
class OrphanReceipts:
    """Share of receipts that match no message, per provider."""

    max_share: float
    min_receipts: int


@dataclass(frozen=True, slots=True)
class ReusedIds:
    """Ids used by more than one send."""

    max_reused: int


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Avro store vs warehouse, per event type and day."""

    max_difference: int


@dataclass(frozen=True, slots=True)
class UnmappedFailureCodes:
    """Share of a provider's failures whose cause is unknown (no code, or one not in the seed)."""

    lookback_hours: float
    max_unknown_share: float
    min_failures: int


@dataclass(frozen=True, slots=True)
class ExchangeRates:
    """Priced messages without an exchange rate into the reporting currency, per currency."""

    max_unconverted: int


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every threshold of every check."""

    missing_receipts: MissingReceipts
    silent_hours: SilentHours
    freshness: Freshness
    orphan_receipts: OrphanReceipts
    reused_ids: ReusedIds
    reconciliation: Reconciliation
    unmapped_failure_codes: UnmappedFailureCodes
    exchange_rates: ExchangeRates

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str) -> Self:
        """Build from parsed TOML; unknown sections or keys and wrong types are a ConfigError."""
        section_types = get_type_hints(cls)
        unknown = set(data) - set(section_types)
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
        sections: dict[str, Any] = {}
        for name, section_type in section_types.items():
            values = data.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: [{name}] must be a table")
            sections[name] = _section(section_type, name, values, source)
        return cls(**sections)


def _section(section_type: type, name: str, values: dict[str, Any], source: str) -> Any:
    known = get_type_hints(section_type)
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    missing = set(known) - set(values)
    if missing:
        raise ConfigError(f"{source}: [{name}] lacks {', '.join(sorted(missing))}")
    converted: dict[str, Any] = {}
    for key, want in known.items():
        value = values[key]
        # TOML has no int/float distinction people remember; accept 1 for 1.0, never bools.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: [{name}] {key} must be a number, got {value!r}")
        if not math.isfinite(value):  # TOML spells nan and inf; no threshold means either
            raise ConfigError(f"{source}: [{name}] {key} must be a finite number, got {value!r}")
        if want is int and value != int(value):
            raise ConfigError(f"{source}: [{name}] {key} must be a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{source}: [{name}] {key} must not be negative, got {value!r}")
        converted[key] = want(value)
    return section_type(**converted)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read thresholds file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"thresholds file {path} is not valid TOML: {exc}") from exc


def load_thresholds(path: Path | None = None) -> Thresholds:
    """The defaults, with ``path``'s values (if given) laid over them key by key."""
    data = _read(DEFAULT_THRESHOLDS)
    if path is not None:
        for section, values in _read(path).items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: [{section}] must be a table")
            data.setdefault(section, {}).update(values)
    return Thresholds.from_mapping(data, str(path or DEFAULT_THRESHOLDS))
