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
    from dlrw.ingest.local.broker import (
        DEFAULT_START_TIMEOUT_S,
        DEFAULT_STOP_TIMEOUT_S,
        MAX_BROKERS,
    )

    parser.epilog = (
        "The broker listens at DLRW_KAFKA_BOOTSTRAP (host:port, controller on port+1) and keeps "
        "its data under $DLRW_DATA_DIR/kafka. With --brokers N, node i listens at port+i-1 and "
        "its controller at port+N+i-1, its data under $DLRW_DATA_DIR/kafka/node-i. Needs Java "
        "17+; the Kafka jars are fetched once with Maven into ${XDG_CACHE_HOME:-~/.cache}/dlrw."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start",
        help="start the brokers that do not run and wait until all answer (idempotent)",
    )
    start.add_argument(
        "--brokers",
        type=int,
        default=None,
        metavar="N",
        help=f"nodes in the cluster, 1-{MAX_BROKERS} (default: as many as the data dir was "
        "started with, else 1)",
    )
    start.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT_S,
        help="seconds to wait for the brokers to answer (default %(default).0f)",
    )
    start.set_defaults(handler=_broker_start)
    stop = actions.add_parser("stop", help="stop the brokers, or one of them (idempotent)")
    stop.add_argument(
        "--node",
        type=int,
        default=None,
        metavar="I",
        help="stop only node I (a rolling restart: stop one, then `start`)",
    )
    stop.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT_S,
        help="seconds to wait after SIGTERM before SIGKILL (default %(default).0f)",
    )
    stop.set_defaults(handler=_broker_stop)
    status = actions.add_parser(
        "status", help="show whether they run; exit 0 if every one does, else 1"
    )
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
        "--replication",
        type=int,
        default=None,
        help="replicas of each new topic (default: one per broker, up to 3; from 3 on, "
        "min.insync.replicas=2)",
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

    result = start_broker(settings, args.brokers, args.timeout, log=_err)
    cluster = result.cluster
    data = cluster.root
    pids = ", ".join(str(pid) for pid in result.pids.values())
    if not result.pids:
        print(
            f"a Kafka broker not started by dlrw already answers at {settings.kafka_bootstrap}; "
            "using it (`dlrw broker stop` leaves it alone)"
        )
    elif cluster.size == 1 and not result.launched:
        print(f"broker already running at {cluster.bootstrap} (pid {pids}, data {data})")
    elif cluster.size == 1:
        print(
            f"broker ready at {cluster.bootstrap} in {result.seconds:.1f}s "
            f"(pid {pids}, data {data})"
        )
    elif not result.launched:
        print(
            f"{cluster.size} brokers already running at {cluster.bootstrap} "
            f"(pids {pids}, data {data})"
        )
    else:
        nodes = "node" if len(result.launched) == 1 else "nodes"
        started = ", ".join(str(node_id) for node_id in result.launched)
        print(
            f"{cluster.size} brokers ready at {cluster.bootstrap} in {result.seconds:.1f}s "
            f"(started {nodes} {started}; pids {pids}; data {data})"
        )
    if (
        result.pids
        and cluster.size > 1
        and _servers(settings.kafka_bootstrap) != _servers(cluster.bootstrap)
    ):
        print(
            f"set DLRW_KAFKA_BOOTSTRAP={cluster.bootstrap} so that clients reach the cluster "
            "while any one broker is down"
        )
    return 0


def _servers(bootstrap: str) -> set[str]:
    return {server.strip() for server in bootstrap.split(",")}


def _broker_stop(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.broker import local_cluster, stop_broker

    cluster = local_cluster(settings)
    stopped = stop_broker(settings, args.timeout, args.node)
    which = "broker" if cluster.size == 1 else f"node {args.node}" if args.node else "brokers"
    if not stopped:
        print(f"{which} not running (none started from {cluster.root})")
    elif cluster.size == 1:
        print(f"broker stopped (pid {stopped[1]})")
    else:
        nodes = ", ".join(f"node {node_id} (pid {pid})" for node_id, pid in stopped.items())
        print(f"stopped {nodes}")
    return 0


def _broker_status(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.broker import broker_status

    status = broker_status(settings)
    cluster = status.cluster
    running = {node_id: pid for node_id, pid in status.pids.items() if pid is not None}
    pids = ", ".join(str(pid) for pid in running.values())
    if running and len(running) == cluster.size:
        if not status.answering:
            runs = f"pid {pids} runs" if cluster.size == 1 else f"pids {pids} run"
            print(f"not ready: {runs} but nothing answers at {cluster.bootstrap}")
            return 1
        which = f"pid {pids}" if cluster.size == 1 else f"{cluster.size} brokers (pids {pids})"
        print(
            f"running: {which}, bootstrap {cluster.bootstrap}, {status.topics} topics, "
            f"data {cluster.root}"
        )
        return 0
    if running:
        down = ", ".join(str(node_id) for node_id, pid in status.pids.items() if pid is None)
        answer = f"{status.topics} topics" if status.answering else "nothing answers"
        print(
            f"degraded: {len(running)} of {cluster.size} brokers run (not node {down}), "
            f"bootstrap {cluster.bootstrap}, {answer}, data {cluster.root}"
        )
        return 1
    if status.answering:
        print(
            f"running: bootstrap {cluster.bootstrap}, {status.topics} topics "
            f"(not started by dlrw from {cluster.root})"
        )
        return 0
    print(f"not running: nothing answers at {cluster.bootstrap}")
    return 1


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.kafka.topics import create_topics

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
