"""`dlrw suppression-list` and `dlrw hash-numbers`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.suppression import MIN_FAILURES

__all__ = ["configure_hash", "configure_list", "run_hash", "run_list"]


def configure_list(parser: argparse.ArgumentParser) -> None:
    """Arguments of `dlrw suppression-list`."""
    parser.description = (
        "Write the hashes of the numbers whose latest messages failed permanently (unknown "
        "subscriber, DND or opt-out) at least N times in a row, with no delivery since, and what "
        "was spent on each since its first such failure, as CSV (mart dim_destinations; run "
        "`dlrw build` first). Match it against your contacts with `dlrw hash-numbers`."
    )
    parser.add_argument(
        "--min-failures",
        type=int,
        default=MIN_FAILURES,
        metavar="N",
        help=f"permanent failures in a row that make a number dead (default {MIN_FAILURES})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write here instead of stdout"
    )
    parser.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """Write the list; say on stderr how many numbers and what they cost since."""
    from dlrw.ingest.suppression.listing import dead_numbers, write_csv

    if args.min_failures < 1:
        raise ConfigError(f"--min-failures must be at least 1, got {args.min_failures}")
    numbers = dead_numbers(settings, args.min_failures)
    if args.out is None:
        write_csv(numbers, sys.stdout)
        sys.stdout.flush()
    else:
        # Written aside and renamed, so a reader never sees half a list.
        partial = args.out.with_name(f".{args.out.name}.{os.getpid()}")
        try:
            with partial.open("w", newline="", encoding="utf-8") as handle:
                write_csv(numbers, handle)
            partial.replace(args.out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ConfigError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    wasted = sum(n.cost_since_first_permanent_failure for n in numbers)
    where = f" to {args.out}" if args.out is not None else ""
    print(
        f"{len(numbers)} numbers failed permanently at least {args.min_failures} times in a row, "
        f"costing {wasted} since; listed{where}",
        file=sys.stderr,
    )
    return 0


def configure_hash(parser: argparse.ArgumentParser) -> None:
    """Arguments of `dlrw hash-numbers`."""
    parser.description = (
        "Print the destination hash of each E.164 number (one a line) under the key the "
        "traffic was hashed with (DLRW_HASH_KEY, or hash.key in DLRW_DATA_DIR), line for line, "
        "to match your contacts against `dlrw suppression-list`. A blank line gives an empty "
        "line, and so does a bad one, with 'line N: reason' on stderr (never the number) and "
        "exit code 1."
    )
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="one number a line; '-' (the default) reads stdin",
    )
    parser.set_defaults(handler=run_hash)


def run_hash(args: argparse.Namespace, settings: Settings) -> int:
    """Hash ``args.file``'s numbers; exit 1 if any line was bad."""
    from dlrw.ingest.suppression.hashing import hash_lines

    key = settings.hash_secret(create=False)
    if args.file == "-":
        bad = hash_lines(sys.stdin.buffer, key, sys.stdout, sys.stderr)
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below; the error is one line
        except OSError as exc:
            raise ConfigError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
        with source:
            bad = hash_lines(source, key, sys.stdout, sys.stderr)
    sys.stdout.flush()
    return 1 if bad else 0
