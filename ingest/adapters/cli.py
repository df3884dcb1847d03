"""``dlrw parse-receipt --provider P [FILE|-]``: provider payloads in, one per line; canonical
receipts out, one JSON object per line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO, TextIO

from dlrw.ingest.adapters import PROVIDERS, ReceiptParseError, parse_receipts
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError
from dlrw.ingest.progress import Progress
from dlrw.models.events import InvalidEvent, parse_timestamp

__all__ = ["configure", "parse_lines", "run"]


def _timestamp_argument(value: str) -> datetime:
    try:
        return parse_timestamp(value)
    except InvalidEvent:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 timestamp: {value!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``parse-receipt`` arguments and handler to ``parser``."""
    parser.add_argument("--provider", required=True, choices=PROVIDERS, help="payload format")
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="one payload a line; '-' (the default) reads stdin",
    )
    parser.add_argument(
        "--received-at",
        type=_timestamp_argument,
        metavar="ISO",
        help="received_at of every receipt (default: now), for reproducible output",
    )
    parser.set_defaults(handler=run)


def parse_lines(
    provider: str,
    lines: Iterable[bytes],
    out: TextIO,
    err: TextIO,
    received_at: datetime | None = None,
) -> int:
    """Write the receipts of each payload line to ``out`` as JSON lines and each bad line's
    reason to ``err`` as ``line N: reason``; blank lines are skipped. Returns the bad count."""
    bad = 0
    progress = Progress("parse-receipt", unit="lines", stream=err)
    for number, line in enumerate(lines, start=1):
        progress.advance()
        if not line.strip():
            continue
        try:
            receipts = parse_receipts(provider, line.decode("utf-8"), received_at)
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text (byte {exc.start + 1})"
        except ReceiptParseError as exc:
            reason = str(exc)
        else:
            for receipt in receipts:
                record = receipt.to_json_dict()
                out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
            continue
        bad += 1
        print(f"line {number}: {reason}", file=err)
    # Short runs end silently; a long one has shown progress and gets its final line.
    if progress.elapsed >= progress.every_s:
        progress.close()
    return bad


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise DlrwError(f"cannot read {path}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse ``args.file`` as ``args.provider`` payloads; exit 1 if any line was bad."""
    source = _open(args.file)
    try:
        bad = parse_lines(args.provider, source, sys.stdout, sys.stderr, args.received_at)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    sys.stdout.flush()
    return 1 if bad else 0
