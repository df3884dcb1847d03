"""JSON from outside (provider callbacks, event lines), read strictly: standard JSON with finite
numbers and a bounded depth, or a one-line reason; never a crash, whatever the text."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

__all__ = ["MAX_DEPTH", "JSONRefused", "load"]

# Receipts and events nest at most five levels; deeper input is refused before anything
# (json.dumps, repr, fastavro) recurses over it.
MAX_DEPTH = 32
_TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels"


class JSONRefused(Exception):
    """Text that is not JSON dlrw accepts; ``str(exc)`` is the reason."""


def _no_constant(name: str) -> Any:
    raise JSONRefused(f"not JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 20 else text[:19] + "…"
        raise JSONRefused(f"not JSON: number {shown} is out of range")
    return value


def _nested_deeper_than(value: Any, limit: int) -> bool:
    level = [value]
    for _ in range(limit):
        if not level:
            return False  # most values are flat: their check ends at once
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
    return any(isinstance(item, dict | list) for item in level)


def load(text: str) -> Any:
    """``text`` as JSON; raises ``JSONRefused`` for anything but standard JSON (NaN and
    Infinity included, and numbers that overflow a float), integers longer than Python reads,
    and nesting deeper than ``MAX_DEPTH``."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise JSONRefused(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise JSONRefused(_TOO_DEEP) from None
    except ValueError:
        # The one other ValueError json raises: an integer past Python's conversion limit.
        limit = sys.get_int_max_str_digits()
        raise JSONRefused(f"JSON integer longer than {limit} digits") from None
    if _nested_deeper_than(value, MAX_DEPTH):
        raise JSONRefused(_TOO_DEEP)
    return value
