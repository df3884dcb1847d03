"""Printing measured figures the same way in every benchmark."""

from __future__ import annotations

__all__ = ["spread"]


def spread(values: list[float]) -> str:
    """The lowest and highest of ``values``, compactly (thousands as ``k``)."""
    low, high = min(values), max(values)
    if high >= 1000:
        return f"{low / 1000:.1f}k-{high / 1000:.1f}k"
    return f"{low:.2f}-{high:.2f}"
