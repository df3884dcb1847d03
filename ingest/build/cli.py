"""``dlrw build``: build the marts with dbt (seeds, models, data tests and unit tests)."""

from __future__ import annotations

import argparse
import sys

from dlrw.ingest.build.runner import run_build
from dlrw.ingest.config import Settings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``build`` options and handler to its sub-parser."""
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild incremental marts from all raw rows instead of the lookback window",
    )
    parser.add_argument(
        "-s",
        "--select",
        nargs="+",
        default=[],
        metavar="SELECTOR",
        help="dbt node selection (e.g. fct_messages+); default: everything",
    )
    parser.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="SELECTOR",
        help="dbt nodes to leave out",
    )
    parser.add_argument(
        "--lookback-hours",
        type=int,
        default=None,
        metavar="N",
        help="recompute what raw rows ingested within N hours touched (default: 72)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-node progress lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the build and print a one-line summary; failures raise ``DlrwError``."""
    summary = run_build(
        settings,
        full_refresh=args.full_refresh,
        select=args.select,
        exclude=args.exclude,
        lookback_hours=args.lookback_hours,
        progress=None if args.quiet else sys.stderr,
    )
    print(f"dlrw build: {summary.line()}")
    return 0
