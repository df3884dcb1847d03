"""Provider payloads that once crashed a parser mid-file (issue 16), each with the reason it must
be refused with: shared by the parse-receipt, collect and fuzz tests."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DEEP", "HOSTILE_RECEIPTS", "HUGE_INT", "infobip_document"]

# Far past Python's recursion limit: json.loads raised RecursionError on it.
DEEP = "[" * 5000 + "]" * 5000
# Past the 4,300 digits int() converts: json.loads and int() raised ValueError on it.
HUGE_INT = "9" * 5000


def infobip_document(**fields: Any) -> str:
    """A one-report Infobip document that parses, with ``fields`` of the report changed."""
    report = {
        "messageId": "HOSTILE-1",
        "to": "41793026727",
        "sentAt": "2024-03-12T10:15:00.000+0000",
        "doneAt": "2024-03-12T10:16:00.000+0000",
        "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"},
    }
    return json.dumps({"results": [report | fields]})


# name -> (provider, payload, the reason it is refused with)
HOSTILE_RECEIPTS: dict[str, tuple[str, str, str]] = {
    "deep nesting": ("infobip", '{"results":' + DEEP + "}", "JSON nested deeper than 32 levels"),
    "deep nesting (vonage)": (
        "vonage",
        '{"messageId":' + DEEP + "}",
        "JSON nested deeper than 32 levels",
    ),
    "5000-digit integer": (
        "infobip",
        infobip_document(smsCount=0).replace('"smsCount": 0', f'"smsCount": {HUGE_INT}'),
        "JSON integer longer than 4300 digits",
    ),
    "5000-digit integer (vonage)": (
        "vonage",
        '{"messageId":"M1","status":"delivered","price":' + HUGE_INT + "}",
        "JSON integer longer than 4300 digits",
    ),
    "superscript digit in SMPP sub": (
        "smpp",
        "id:77 sub:\u00b2 dlvrd:001 done date:2403121016 stat:DELIVRD err:000 text:",
        "sub '\u00b2' is not a number",
    ),
    "year 0001 with an offset": (
        "infobip",
        infobip_document(sentAt="0001-01-01T00:00:00.000+0100"),
        "results[0]: sentAt '0001-01-01T00:00:00.000+0100' is out of range in UTC",
    ),
    "year 9999 with an offset": (
        "infobip",
        infobip_document(doneAt="9999-12-31T23:59:59.000-0100"),
        "results[0]: doneAt '9999-12-31T23:59:59.000-0100' is out of range in UTC",
    ),
}
