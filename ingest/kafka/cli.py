"""`dlrw broker`, `dlrw topics` and `dlrw produce`."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dlrw.ingest.config import TOPICS, Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.progress import Progress

__all__ = ["configure_broker", "configure_produce", "configure_topics"]

# Past this many, bad lines are only counted: a wrong file should not flood the terminal.
MAX_BAD_LINES_SHOWN = 100


def configure_broker(parser: argparse.ArgumentParser) -> None:
    """`dlrw broker start|stop|status`."""
    from dlrw.ingest.local.broker import DEFAULT_START_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S

    parser.epilog = (
        "The broker listens at DLRW_KAFKA_BOOTSTRAP (host:port, controller on port+1) and keeps "
        "its data under $DLRW_DATA_DIR/kafka. Needs Java 17+; the Kafka jars are fetched once "
        "with Maven into ${XDG_CACHE_HOME:-~/.cache}/dlrw."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start", help="start the broker and wait until it answers (idempotent)"
    )
    start.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT_S,
        help="seconds to wait for the broker to answer (default %(default).0f)",
    )
    start.set_defaults(handler=_broker_start)
    stop = actions.add_parser("stop", help="stop the broker (idempotent)")
    stop.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT_S,
        help="seconds to wait after SIGTERM before SIGKILL (default %(default).0f)",
    )
    stop.set_defaults(handler=_broker_stop)
    status = actions.add_parser("status", help="show whether it runs; exit 0 if it does, else 1")
    status.set_defaults(handler=_broker_status)


def configure_topics(parser: argparse.ArgumentParser) -> None:
    """`dlrw topics create`."""
    from dlrw.ingest.kafka.topics import DEFAULT_PARTITIONS

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create the missing topics (idempotent)",
        description=f"Create {', '.join(TOPICS.values())}, each prefixed with DLRW_TOPIC_PREFIX.",
    )
    create.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help="partitions of each new topic (default %(default)s)",
    )
    create.add_argument(
        "--replication", type=int, default=1, help="replication factor (default %(default)s)"
    )
    create.set_defaults(handler=_topics_create)


def configure_produce(parser: argparse.ArgumentParser) -> None:
    """`dlrw produce FILE.jsonl`."""
    parser.description = (
        "Publish canonical events, one JSON object a line with a 'type' of send, receipt or "
        "conversion and ISO-8601 timestamps. A send may carry a raw E.164 'destination', which "
        "is hashed (HMAC-SHA256 with DLRW_HASH_KEY) before publishing. Invalid lines are "
        "reported as 'line N: reason' and not published; the exit code is then 1."
    )
    parser.epilog = (
        "Kafka has DLRW_KAFKA_DELIVERY_TIMEOUT seconds to acknowledge each event. If it does "
        "not, or on Ctrl-C, the error names the last line N up to which every event is stored; "
        "rerun with --skip-lines N to publish exactly the rest."
    )
    parser.add_argument("file", metavar="FILE.jsonl", help="the events; '-' reads stdin")
    parser.add_argument(
        "--skip-lines",
        type=int,
        default=0,
        metavar="N",
        help="read past the first N lines without publishing them (default %(default)s)",
    )
    parser.set_defaults(handler=_produce)


def _broker_start(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.broker import start_broker

    result = start_broker(settings, args.timeout, log=_err)
    data = settings.data_dir / "kafka"
    if result.pid is None:
        print(
            f"a Kafka broker not started by dlrw already answers at {settings.kafka_bootstrap}; "
            "using it (`dlrw broker stop` leaves it alone)"
        )
    elif result.already_running:
        print(
            f"broker already running at {settings.kafka_bootstrap} (pid {result.pid}, data {data})"
        )
    else:
        print(
            f"broker ready at {settings.kafka_bootstrap} in {result.seconds:.1f}s "
            f"(pid {result.pid}, data {data})"
        )
    return 0


def _broker_stop(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.broker import stop_broker

    pid = stop_broker(settings, args.timeout)
    if pid is None:
        print(f"broker not running (none started from {settings.data_dir / 'kafka'})")
    else:
        print(f"broker stopped (pid {pid})")
    return 0


def _broker_status(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.broker import broker_status

    status = broker_status(settings)
    if status.pid is not None and status.answering:
        print(
            f"running: pid {status.pid}, bootstrap {status.bootstrap}, "
            f"{status.topics} topics, data {status.data}"
        )
        return 0
    if status.pid is not None:
        print(f"not ready: pid {status.pid} runs but nothing answers at {status.bootstrap}")
        return 1
    if status.answering:
        print(
            f"running: bootstrap {status.bootstrap}, {status.topics} topics "
            f"(not started by dlrw from {status.data})"
        )
        return 0
    print(f"not running: nothing answers at {status.bootstrap}")
    return 1


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.kafka.topics import create_topics

    if args.replication < 1:
        raise ConfigError(f"--replication must be at least 1, got {args.replication}")
    for name, created in create_topics(settings, args.partitions, args.replication).items():
        print(f"{name}: {'created' if created else 'exists'}")
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.kafka.produce import produce_lines
    from dlrw.ingest.kafka.producer import EventPublisher

    if args.skip_lines < 0:
        raise ConfigError(f"--skip-lines must not be negative, got {args.skip_lines}")
    source = "stdin" if args.file == "-" else args.file
    total = None if args.file == "-" else _count_lines(Path(args.file))
    progress = Progress(f"produce {source}", unit="lines", total=total)
    shown = 0

    def report_bad(number: int, reason: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_BAD_LINES_SHOWN:
            print(f"line {number}: {reason}", file=sys.stderr)

    with _open_lines(args.file) as lines, EventPublisher(settings) as publisher:
        report = produce_lines(
            lines, publisher, settings.hash_secret(), report_bad, progress.advance, args.skip_lines
        )
    if progress.elapsed >= progress.every_s:
        progress.close()
    if report.bad_lines > MAX_BAD_LINES_SHOWN:
        print(f"... and {report.bad_lines - MAX_BAD_LINES_SHOWN} more bad lines", file=sys.stderr)
    by_type = ", ".join(f"{report.published[t]} {t}" for t in ("send", "receipt", "conversion"))
    print(
        f"published {sum(report.published.values())} events ({by_type}) to "
        f"{settings.kafka_bootstrap}; {report.bad_lines} bad lines"
    )
    return 1 if report.bad_lines else 0


def _count_lines(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None  # _open_lines reports it


@contextlib.contextmanager
def _open_lines(name: str) -> Iterator[BinaryIO]:
    """The raw lines of a file, or of stdin for '-'; decoding is per line, so one bad byte
    spoils one line, not the run."""
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(name, "rb")  # noqa: SIM115 - closed below; the error must be one line
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror}") from exc
    with handle:
        yield handle


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
