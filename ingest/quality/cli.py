"""``dlrw check``: run the data-quality checks; exit 0 if all pass, else 1 with a line a failure."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from ingest.config import Settings
from models.events import InvalidEvent, parse_timestamp

__all__ = ["configure", "run"]


def _timestamp(value: str) -> datetime:
    try:
        return parse_timestamp(value, "--now")
    except InvalidEvent:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 timestamp: {value!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` options and handler to its sub-parser."""
    parser.add_argument(
        "--now",
        type=_timestamp,
        metavar="ISO",
        help="reference time for freshness (default: the wall clock; UTC unless it has an offset)",
    )
    parser.add_argument(
        "--thresholds",
        type=Path,
        metavar="FILE",
        help="TOML file overriding ingest/quality/thresholds.toml, key by key",
    )
    parser.add_argument(
        "--data-docs",
        type=Path,
        metavar="DIR",
        help="where to write the GX Data Docs (default: $DLRW_DATA_DIR/quality/data_docs)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print failures and the summary only"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the checks, print one line per failure and a summary; 0 if all passed, else 1."""
    from ingest.quality.runner import run_checks
    from ingest.quality.thresholds import load_thresholds

    thresholds = load_thresholds(args.thresholds)
    if not args.quiet:
        print("dlrw check: running the data-quality checks ...", file=sys.stderr, flush=True)
    result = run_checks(settings, thresholds, now=args.now, docs_dir=args.data_docs)
    for finding in result.failures:
        print(finding.line())
    failed_checks = {f.check for f in result.failures}
    verdict = (
        "all passed"
        if result.passed
        else f"{len(result.failures)} failure(s) in {', '.join(sorted(failed_checks))}"
    )
    print(
        f"dlrw check: {len(result.checks)} checks, {len(result.findings)} cells: {verdict} "
        f"({result.seconds:.1f}s; run {result.run_id} in table dq_results)",
        file=sys.stderr,
    )
    if result.data_docs is not None:
        print(f"dlrw check: Data Docs: {result.data_docs}", file=sys.stderr)
    return 0 if result.passed else 1
