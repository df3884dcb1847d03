"""Dead-letter record headers: where a refused record came from and why, in one format for
every producer of dead letters (the ingest pipeline, the receipt collector)."""

from __future__ import annotations

__all__ = ["dead_letter_headers"]


def dead_letter_headers(error_class: str, reason: str, **source: object) -> list[tuple[str, bytes]]:
    """Kafka headers ``dlrw.source.<key>`` for each source item, then ``dlrw.error.class`` and
    ``dlrw.error.reason``."""
    headers = [(f"dlrw.source.{key}", str(value).encode()) for key, value in source.items()]
    headers.append(("dlrw.error.class", error_class.encode()))
    headers.append(("dlrw.error.reason", reason.encode()))
    return headers
