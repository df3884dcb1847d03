"""Progress lines for long work, on stderr, at most one every few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts work and prints ``label: N unit (R/s)`` now and then, and a final line on close."""

    def __init__(
        self,
        label: str,
        unit: str = "events",
        total: int | None = None,
        every_s: float = 5.0,
        stream: TextIO | None = None,
    ) -> None:
        self.label, self.unit, self.total, self.every_s = label, unit, total, every_s
        self.stream = stream or sys.stderr
        self.count = 0
        self.started = self._last = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._print()

    def _print(self, final: bool = False) -> None:
        done = f"{self.count:,}" + (f"/{self.total:,}" if self.total else "")
        tail = " done" if final else ""
        print(
            f"{self.label}: {done} {self.unit} in {self.elapsed:.1f}s ({self.rate:,.0f}/s){tail}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        self._print(final=True)
