"""Logging of every command, on stderr: ``time LEVEL message`` lines, or with
``DLRW_LOG_FORMAT=json`` one JSON object a line (``time``, ``level``, ``component``, ``logger``,
``message`` and ``fields``: whatever a call passed in ``extra``).

In JSON mode, what a command prints on stderr itself (progress, its one line on failure) is
logged too, a record per line, so the stream holds nothing but JSON objects.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["JsonFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
# The project's loggers (modules under ingest, and dlrw.*) say what they do at INFO; libraries
# only warn.
_OWN_LOGGERS = ("ingest", "dlrw")
# kafka-python logs every dropped connection as an ERROR; dlrw says in its own line what an
# outage cost, so only the client's critical failures are shown.
_QUIET_LOGGERS = {"kafka": logging.CRITICAL}
# The attributes every LogRecord has; the others came from ``extra``.
_STANDARD = {*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName"}
# How a command's last line on failure starts (ingest/cli.py, alerts --watch).
_FAILURE = re.compile(r"dlrw[\w -]*: (?:internal )?error: ")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
            "fields": fields,
        }
        return json.dumps(entry, default=str, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Writes to the stderr of the moment (a test may have swapped it), unless given one."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """StreamHandler sets it; the property above decides."""


class _LinesToLog(io.TextIOBase):
    """A stderr that logs each line written to it."""

    def __init__(self, original: TextIO) -> None:
        self.original = original
        self._log = logging.getLogger("dlrw.stderr")
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in filter(str.strip, lines):
            self._log.log(logging.ERROR if _FAILURE.match(line) else logging.INFO, line)
        return len(text)


def configure_logging(log_format: str, component: str) -> None:
    """Log the way ``log_format`` (``text`` or ``json``) says, as ``component`` (the command's
    name), for the rest of the process; a second call replaces the first."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    if isinstance(sys.stderr, _LinesToLog):
        sys.stderr = sys.stderr.original
    handler = _Stderr(sys.stderr if log_format == "json" else None)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(component))
        sys.stderr = _LinesToLog(sys.stderr)
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
