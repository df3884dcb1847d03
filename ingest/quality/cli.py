"""``dlrw check``: run the data-quality checks; exit 0 if all pass, else 1 with a line a failure."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.models.events import InvalidEvent, parse_timestamp

__all__ = ["configure", "run"]


def _timestamp(value: str) -> datetime:
    try:
        return parse_timestamp(value, "--now")
    except InvalidEvent:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 timestamp: {value!r}") from None


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: not a date (YYYY-MM-DD): {value!r}") from None


def period(since: str | None, until: str | None) -> tuple[datetime, datetime | None] | None:
    """``--since`` / ``--until`` as [start of since, end of until) in naive UTC; None: neither."""
    if since is None:
        if until is not None:
            raise ConfigError("--until needs --since: the period starts at --since")
        return None
    start = _day(since, "--since")
    if until is None:
        return datetime.combine(start, datetime.min.time()), None
    end = _day(until, "--until")
    if end < start:
        raise ConfigError(f"--until {end} is before --since {start}")
    return (
        datetime.combine(start, datetime.min.time()),
        datetime.combine(end + timedelta(days=1), datetime.min.time()),
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` options and handler to its sub-parser."""
    parser.add_argument(
        "--now",
        type=_timestamp,
        metavar="ISO",
        help="reference time for freshness (default: the wall clock; UTC unless it has an offset)",
    )
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="judge missing receipts and silent hours over every hour from this UTC day on "
        "(default: only the recent monitoring window of each check)",
    )
    parser.add_argument(
        "--until",
        metavar="DATE",
        help="last UTC day of the --since period, included (default: the newest data)",
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
    from dlrw.ingest.quality.runner import run_checks
    from dlrw.ingest.quality.thresholds import load_thresholds

    judged = period(args.since, args.until)
    thresholds = load_thresholds(args.thresholds)
    if not args.quiet:
        print("dlrw check: running the data-quality checks ...", file=sys.stderr, flush=True)
    result = run_checks(settings, thresholds, now=args.now, docs_dir=args.data_docs, period=judged)
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
