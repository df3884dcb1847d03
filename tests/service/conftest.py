"""Helpers for the service tests: scraping a ``/metrics`` port, reading its JSON health
endpoints, and waiting for what a running service reports."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from tests.reliability.conftest import own_broker, own_postgres

__all__ = ["get", "own_broker", "own_postgres", "scrape", "wait_for"]

_T = TypeVar("_T")


def get(url: str) -> tuple[int, Any]:
    """GET ``url``: the status and the JSON body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``http://127.0.0.1:PORT/metrics``, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_for(
    what: str,
    probe: Callable[[], _T],
    done: Callable[[_T], bool],
    process: subprocess.Popen[str] | None = None,
    timeout: float = 120,
) -> _T:
    """Call ``probe`` until ``done`` holds for its value (a connection refused counts as not
    yet); fails naming ``what`` and the last value after ``timeout``, or at once if ``process``
    has ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except OSError as exc:  # not listening yet
            error: Any = exc
        else:
            if done(value):
                return value
            error = value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {error!r} after {timeout:g}s")
        time.sleep(0.5)
