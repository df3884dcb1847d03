"""Form-encoded payloads (``a=1&b=2``: Twilio callbacks, Vonage query strings), read once.

A field named twice is refused: which of its values counts would depend on the reader, so a
signature check and an adapter could read the same payload differently.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import unquote_plus

from dlrw.ingest.adapters._common import REDACTED, ReceiptParseError, shown

__all__ = ["Form", "read_form"]


@dataclass(frozen=True, slots=True)
class Form:
    """A form payload: its pieces as written, in order, with their decoded names, and the
    decoded value of each field (an empty piece, as in ``a=1&&b=2``, is no field)."""

    pieces: tuple[tuple[str, str], ...]
    fields: dict[str, str]

    def without(self, names: Collection[str]) -> Form:
        """The form without the fields ``names``."""
        return Form(
            tuple(piece for piece in self.pieces if piece[0] not in names),
            {name: value for name, value in self.fields.items() if name not in names},
        )

    def redacted_text(self, name: str) -> str:
        """The payload as written, with the value of field ``name`` replaced by ``REDACTED``."""
        return "&".join(
            f"{name}={REDACTED}" if piece_name == name else piece
            for piece_name, piece in self.pieces
        )


def read_form(text: str) -> Form:
    """``text`` as a form; a field named twice raises ``ReceiptParseError``."""
    pieces = []
    fields: dict[str, str] = {}
    for piece in text.split("&"):
        raw_name, _, raw_value = piece.partition("=")
        name = unquote_plus(raw_name)
        pieces.append((name, piece))
        if not piece:
            continue
        if name in fields:
            raise ReceiptParseError(f"field {shown(name)} given twice")
        fields[name] = unquote_plus(raw_value)
    return Form(tuple(pieces), fields)
