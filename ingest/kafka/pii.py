"""Phone numbers are personal data: only a keyed hash of one leaves the producer, and any text
shown to a person carries a masked form instead of the number."""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["E164", "InvalidDestination", "hash_destination", "mask_number"]

# '+', a country code that does not start with 0, at most 15 digits in all (ITU-T E.164).
E164 = re.compile(r"\A\+[1-9][0-9]{6,14}\Z")


class InvalidDestination(ValueError):
    """A destination that is not an E.164 number; the message never contains the number."""


def mask_number(number: str) -> str:
    """The number with all but its first three and last two characters hidden, for messages."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def hash_destination(number: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of an E.164 number (e.g. ``+447700900123``) under ``key``.

    The same number and key always give the same hash, so messages to one handset can be
    joined without the number ever being stored. Raises ``InvalidDestination`` on anything that
    is not E.164.
    """
    if not E164.match(number):
        raise InvalidDestination(f"destination {mask_number(number)} is not an E.164 number")
    return hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()
