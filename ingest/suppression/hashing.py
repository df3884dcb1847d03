"""`dlrw hash-numbers`: E.164 numbers in, one a line; their destination hashes out, line for
line. A reason never carries the number, not even masked: the output may be shared."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from dlrw.ingest.kafka.pii import InvalidDestination, hash_destination

__all__ = ["hash_lines"]

_NOT_E164 = "not an E.164 number ('+', then 7 to 15 digits, the first not 0; no spaces)"


def _hash(line: bytes, key: bytes) -> str:
    """The hash of one line's number, '' for a blank line; ``ValueError`` with the reason."""
    try:
        number = line.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if not number:
        return ""
    try:
        return hash_destination(number, key)
    except InvalidDestination:
        raise ValueError(_NOT_E164) from None


def hash_lines(lines: Iterable[bytes], key: bytes, out: TextIO, err: TextIO) -> int:
    """Write each line's hash to ``out``, an empty line for a blank or bad one (so the output
    pairs with the input line by line), and ``line N: reason`` to ``err`` for each bad line;
    whitespace around a number is ignored. Returns the bad count."""
    bad = 0
    for number, line in enumerate(lines, start=1):
        try:
            out.write(_hash(line, key) + "\n")
        except ValueError as exc:
            bad += 1
            out.write("\n")
            print(f"line {number}: {exc}", file=err)
    return bad
