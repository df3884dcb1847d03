"""Waiting out a service that went away (Kafka, the warehouse): one log line when it goes, one
when it answers again, and growing pauses between the attempts in between, so an outage of
an hour neither floods the log nor hammers the service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RECONNECT_BACKOFF_MAX_MS", "Outage"]

log = logging.getLogger(__name__)

# Pauses between attempts: doubling from the first to the longest.
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 15.0
# kafka-python's clients double their pause between attempts to reach a broker up to 30 s by
# default: a broker back from a restart would wait that long to be used again.
RECONNECT_BACKOFF_MAX_MS = 2_000


class Outage:
    """One service's availability as its caller sees it: ``failed`` on each failed attempt,
    ``pause`` before the next, ``answered`` once an attempt succeeds."""

    def __init__(self, service: str, stopping: Callable[[], bool]) -> None:
        self.service = service
        self.stopping = stopping
        self.since: float | None = None
        # What the last failed attempt said while the service is away (read by other threads).
        self.problem: str | None = None
        self.answered_at = time.monotonic()
        self._delay = FIRST_PAUSE_S

    @property
    def away(self) -> bool:
        return self.since is not None

    def failed(self, problem: str, waiting: str) -> None:
        """Note a failed attempt; the first of an outage is logged, with what waits for it."""
        self.problem = problem
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s unavailable (%s); waiting for it, %s", self.service, problem, waiting)

    def pause(self) -> None:
        """Sleep before the next attempt, each pause twice the last up to the longest; a stop
        request ends it early."""
        deadline = time.monotonic() + self._delay
        while not self.stopping() and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        self._delay = min(self._delay * 2, LONGEST_PAUSE_S)

    def answered(self) -> None:
        """Note a successful attempt; after an outage, say how long it lasted."""
        if self.since is not None:
            outage_s = time.monotonic() - self.since
            log.info("%s answers again after %.0fs; carrying on", self.service, outage_s)
        self.since = None
        self.problem = None
        self.answered_at = time.monotonic()
        self._delay = FIRST_PAUSE_S
