"""``dlrw alerts``: evaluate deliverability-drop alerts once, or every ``--watch`` seconds."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from dlrw.ingest.alerts.evaluate import evaluate_once, refresh_marts
from dlrw.ingest.alerts.rules import KINDS, Rules, parse_duration
from dlrw.ingest.alerts.sinks import Sink, make_sink
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, DlrwError
from dlrw.ingest.metrics import AlertsMetrics, add_metrics_arguments, serve_metrics

__all__ = ["configure", "parse_now", "rules_from_args", "run"]

# A longer interval is a typo, not a watch.
_MAX_WATCH_S = 7 * 86400.0


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``alerts`` options and handler to its sub-parser."""
    parser.epilog = (
        "Metric: delivered within --settle of submit, on messages at least --settle old, from "
        "fct_messages (run `dlrw build` first, or use --watch, which refreshes it). A cell "
        "fires when the drop is at least --min-drop and significant (one-sided two-proportion "
        "z-test, Bonferroni over all cells at family-wise --alpha). See ingest/alerts/rules.py."
    )
    # Durations are checked in run(): a bad value is one readable line with exit code 2.
    parser.add_argument("--window", default="1h", help="current window (default %(default)s)")
    parser.add_argument("--baseline", default="7d", help="trailing baseline (default %(default)s)")
    parser.add_argument(
        "--settle", default="10m", help="delivered-within time, and minimum message age "
        "(default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--cooldown", default="1h", help="no repeat alert for a cell within (default %(default)s)"
    )
    parser.add_argument(
        "--sink", nargs="+", metavar="SINK", default=["stdout"],
        help="stdout | webhook URL | kafka (default stdout)",
    )  # fmt: skip
    parser.add_argument(
        "--watch", type=float, default=None, metavar="SECONDS",
        help="refresh fct_messages and re-evaluate every SECONDS (up to a week) until stopped",
    )  # fmt: skip
    parser.add_argument(
        "--now", default=None, metavar="ISO",
        help="evaluate as of this UTC time instead of the clock (replays, tests)",
    )  # fmt: skip
    parser.add_argument(
        "--min-window",
        type=int,
        default=Rules.min_window,
        metavar="N",
        help="messages a cell needs in the window (default %(default)s)",
    )
    parser.add_argument(
        "--min-baseline",
        type=int,
        default=Rules.min_baseline,
        metavar="N",
        help="messages a cell needs in the baseline (default %(default)s)",
    )
    parser.add_argument(
        "--min-drop",
        type=float,
        default=Rules.min_drop,
        metavar="F",
        help="minimum absolute drop, 0-1 (default %(default)s)",
    )
    parser.add_argument(
        "--critical-drop",
        type=float,
        default=Rules.critical_drop,
        metavar="F",
        help="drop at which severity is critical (default %(default)s)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=Rules.alpha,
        metavar="P",
        help="family-wise false-alarm rate per evaluation (default %(default)s)",
    )
    parser.add_argument(
        "--no-refresh",
        action="store_true",
        help="with --watch: do not run the incremental dbt build first",
    )
    add_metrics_arguments(parser, "/metrics of the watch (with --watch)")
    parser.set_defaults(handler=run)  # fmt: skip


def parse_now(text: str | None) -> datetime | None:
    """``--now``: ISO-8601, UTC unless it carries an offset; None means the clock."""
    if text is None:
        return None
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now: {text!r} is not an ISO-8601 time") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def rules_from_args(args: argparse.Namespace) -> Rules:
    """The rules the options describe; ``ConfigError`` names the bad option."""
    return Rules(
        window=parse_duration(args.window, "--window"),
        baseline=parse_duration(args.baseline, "--baseline"),
        settle=parse_duration(args.settle, "--settle"),
        cooldown=parse_duration(args.cooldown, "--cooldown"),
        min_window=args.min_window,
        min_baseline=args.min_baseline,
        min_drop=args.min_drop,
        critical_drop=args.critical_drop,
        alpha=args.alpha,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate once (exit 0 whether or not anything fired) or keep watching."""
    rules = rules_from_args(args)
    fixed_now = parse_now(args.now)
    _check_periods(rules, fixed_now)
    if args.watch is not None and not 0 < args.watch <= _MAX_WATCH_S:
        raise ConfigError(
            f"--watch: {args.watch:g} is not a number of seconds between 0 and {_MAX_WATCH_S:g}"
        )
    if args.metrics_port is not None and args.watch is None:
        raise ConfigError("--metrics-port needs --watch: a single evaluation has nothing to serve")
    sink = make_sink(args.sink, settings)
    try:
        if args.watch is None:
            report = evaluate_once(settings, rules, sink, fixed_now or datetime.now(UTC))
            print(f"dlrw alerts: {report.line()}", file=sys.stderr, flush=True)
            return 0
        _watch(args, settings, rules, sink, fixed_now)
        return 0
    finally:
        sink.close()


def _check_periods(rules: Rules, fixed_now: datetime | None) -> None:
    """``ConfigError`` if the window and baseline reach before the calendar's first day."""
    try:
        rules.periods(fixed_now or datetime.now(UTC))
    except OverflowError:
        at = f"--now {fixed_now.isoformat()}" if fixed_now else "now"
        raise ConfigError(
            f"{at} minus --settle, --window and --baseline is before the year 1"
        ) from None


def _watch(
    args: argparse.Namespace,
    settings: Settings,
    rules: Rules,
    sink: Sink,
    fixed_now: datetime | None,
) -> None:
    interval = timedelta(seconds=args.watch).total_seconds()
    metrics = AlertsMetrics(KINDS)
    with contextlib.ExitStack() as serving:
        if args.metrics_port is not None:
            serving.enter_context(
                serve_metrics(metrics.registry, args.metrics_host, args.metrics_port)
            )
        while True:
            started = time.monotonic()
            try:
                if not args.no_refresh:
                    with metrics.build_duration.time():
                        refresh_marts(settings)
                report = evaluate_once(settings, rules, sink, fixed_now or datetime.now(UTC))
                metrics.evaluated(Counter(f.kind for f in report.evaluation.firing))
                took = time.monotonic() - started
                print(f"dlrw alerts: {report.line()} ({took:.1f}s)", file=sys.stderr, flush=True)
            except DlrwError as exc:
                # A transient failure (build, warehouse, sink) must not stop the watch; say it
                # once per evaluation and try again on the next tick.
                metrics.evaluations.labels("error").inc()
                print(f"dlrw alerts: error: {exc}", file=sys.stderr, flush=True)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
