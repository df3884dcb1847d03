"""A column-at-a-time screen for ``models.events.event_problem``: which decoded rows might break
the contract.

``event_problem`` is the rule and the wording; it checks one record. Running it on every record
of a batch costs more than decoding it, so the ingest hot path screens whole columns first and
hands only the rows the screen flags to ``event_problem``. The screen may flag a good row (it
then passes the exact check), never miss a bad one: each test below is at least as strict as the
rule it stands for (``tests/pipeline/test_columnar.py`` checks that against ``event_problem``).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dlrw.models.events import (
    AMOUNT_FIELDS,
    EARLIEST_TIME,
    EVENT_TYPES,
    FUTURE_SLACK,
    MAX_AMOUNT,
    MAX_TEXT_LENGTH,
    PAYLOAD_FIELDS,
)
from dlrw.models.status import FINAL_STATUSES

__all__ = ["suspects"]

# Text is empty after ``str.strip()`` only if its first character is whitespace: every Python
# whitespace character is ASCII up to the space, or not ASCII at all.
_STARTS_PRINTABLE = r"^[!-~]"
# ASCII forms of the rules' patterns (Python's \d also takes other scripts' digits and its $ a
# final newline, so these are stricter).
_PATTERNS = {"mcc_mnc": r"^[0-9]{5,6}$", "currency": r"^[A-Z]{3}$", "country": r"^[A-Z]{2}$"}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def suspects(event_type: str, table: pa.Table, now: datetime) -> np.ndarray:
    """A boolean per row of ``table`` (decoded ``event_type`` records): True where
    ``event_problem`` might object."""
    cls = EVENT_TYPES[event_type]
    names = set(table.column_names)
    flags: list[pa.ChunkedArray] = []
    for name in cls.required_text:
        printable = pc.match_substring_regex(table[name], _STARTS_PRINTABLE)
        flags.append(pc.invert(pc.fill_null(printable, False)))
    earliest, latest = _ms(EARLIEST_TIME), _ms(now + FUTURE_SLACK) - 1
    for name in cls.time_fields:
        millis = table[name].cast(pa.int64())
        flags.append(pc.or_(pc.less_equal(millis, earliest), pc.greater_equal(millis, latest)))
    for name, pattern in _PATTERNS.items():
        if name in names:
            flags.append(pc.invert(pc.match_substring_regex(table[name], pattern)))
    # Bytes, not characters: never fewer, and read straight from the offsets; one flag for all.
    lengths = [
        pc.binary_length(table[field.name])
        for field in table.schema
        if pa.types.is_string(field.type) and field.name not in PAYLOAD_FIELDS
    ]
    flags.append(pc.greater(pc.max_element_wise(*lengths), MAX_TEXT_LENGTH))
    for name in AMOUNT_FIELDS:
        if name in names:
            amount = table[name]
            within = pc.and_(pc.greater_equal(amount, 0.0), pc.less(amount, MAX_AMOUNT))
            flags.append(pc.invert(within))
    if event_type == "send":
        tier = table["route_tier"]
        flags.append(pc.or_(pc.less(tier, 1), pc.greater(tier, 4)))
        flags.append(pc.less(table["segments"], 1))
    elif event_type == "receipt":
        final = pc.is_in(table["status"], pa.array(sorted(s.value for s in FINAL_STATUSES)))
        flags.append(pc.not_equal(final, table["is_final"]))
    out = np.zeros(table.num_rows, dtype=bool)
    for flag in flags:
        # A null is an absent optional field, which the rules allow (a missing required text
        # field was flagged above).
        out |= pc.fill_null(flag, False).to_numpy(zero_copy_only=False)
    return out
