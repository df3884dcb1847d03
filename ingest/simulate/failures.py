"""The failure-cause taxonomy as the simulator uses it: the dbt seed ``failure_codes`` (one source
of truth with the marts), the cause it gives a receipt by the seed's precedence, and the codes a
provider reports for a cause.

Precedence (docs/design.md, "Why messages fail"; macro ``failure_causes``): an empty provider,
route_id, error_code or status matches any value; among the matching rows the one that sets
route_id wins, then error_code, then status, then provider; no matching row gives ``unknown``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from dlrw.ingest.errors import ConfigError
from dlrw.ingest.resources import SEEDS_DIR, read_seed

__all__ = ["FAILURE_CODES_CSV", "UNKNOWN", "FailureCodes", "load_failure_codes"]

FAILURE_CODES_CSV = SEEDS_DIR / "failure_codes.csv"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class _Row:
    """One seed row; None where the seed leaves a key empty (matches any value)."""

    provider: str | None
    route_id: str | None
    error_code: str | None
    status: str | None
    cause: str

    def matches(self, provider: str, route_id: str | None, code: str | None, status: str) -> bool:
        return (
            self.provider in (None, provider)
            and self.route_id in (None, route_id)
            and self.error_code in (None, code)
            and self.status in (None, status)
        )

    @property
    def precedence(self) -> tuple[bool, bool, bool, bool]:
        """Sorts the most specific row first: route_id, then error_code, status, provider."""
        return (
            self.route_id is None,
            self.error_code is None,
            self.status is None,
            self.provider is None,
        )


class FailureCodes:
    """The seed's rows, with the two questions the simulator asks of them."""

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = sorted(rows, key=lambda row: row.precedence)
        self._codes: dict[tuple[str, str | None, str, str], tuple[str, ...]] = {}

    def cause_of(self, provider: str, route_id: str | None, code: str | None, status: str) -> str:
        """The cause the marts give a failed message with this final status and error code."""
        for row in self._rows:
            if row.matches(provider, route_id, code, status):
                return row.cause
        return UNKNOWN

    def code_for(
        self, provider: str, route_id: str | None, status: str, cause: str, key: str
    ) -> str | None:
        """An error code ``provider`` reports on ``route_id`` with ``status`` for ``cause``
        (one of the seed's, picked by ``key`` so a message keeps its code without a random
        draw), or None when the status alone says the cause. ConfigError when neither can."""
        codes = self._codes.get((provider, route_id, status, cause))
        if codes is None:
            codes = self._codes[(provider, route_id, status, cause)] = tuple(
                sorted(
                    {
                        row.error_code
                        for row in self._rows
                        if row.error_code is not None
                        and row.provider in (None, provider)
                        and row.route_id in (None, route_id)
                        and self.cause_of(provider, route_id, row.error_code, status) == cause
                    }
                )
            )
        if codes:
            return codes[zlib.crc32(key.encode()) % len(codes)]
        if self.cause_of(provider, route_id, None, status) == cause:
            return None
        raise ConfigError(
            f"{FAILURE_CODES_CSV.name} has no {provider} code for {cause} on a {status} receipt"
            f"{f' of route {route_id}' if route_id else ''}"
        )


def load_failure_codes(path: Path = FAILURE_CODES_CSV) -> FailureCodes:
    """The taxonomy from the dbt seed."""
    records = read_seed(path)
    return FailureCodes(
        [
            _Row(
                provider=record["provider"] or None,
                route_id=record["route_id"] or None,
                error_code=record["error_code"] or None,
                status=record["status"] or None,
                cause=record["cause"],
            )
            for record in records
        ]
    )
