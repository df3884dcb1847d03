"""`dlrw registry` and `dlrw spark`."""

from __future__ import annotations

import argparse
import sys

from dlrw.ingest.cli import Handler
from dlrw.ingest.config import Settings

__all__ = ["configure_registry", "configure_spark"]


def configure_registry(parser: argparse.ArgumentParser) -> None:
    """`dlrw registry start|stop|status`."""
    from dlrw.ingest.local.registry import (
        CCOMPAT_PATH,
        DEFAULT_START_TIMEOUT_S,
        DEFAULT_STOP_TIMEOUT_S,
    )

    parser.epilog = (
        f"The registry (Apicurio Registry) serves the Confluent-compatible API at "
        f"DLRW_SCHEMA_REGISTRY_URL (http://host:port{CCOMPAT_PATH}) and keeps its schemas under "
        "$DLRW_DATA_DIR/registry. Needs Java 21+; the registry is fetched once with Maven into "
        "${XDG_CACHE_HOME:-~/.cache}/dlrw."
    )
    _actions(
        parser,
        "the registry",
        (DEFAULT_START_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S),
        (_start, _stop, _status),
    )


def _start(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.registry import RegistryPaths, start_registry

    result = start_registry(settings, args.timeout, log=_err)
    url = settings.schema_registry_url
    data = RegistryPaths.for_settings(settings).root
    if result.pid is None:
        print(
            f"a schema registry not started by dlrw already answers at {url}; "
            "using it (`dlrw registry stop` leaves it alone)"
        )
    elif result.already_running:
        print(f"registry already running at {url} (pid {result.pid}, data {data})")
    else:
        print(f"registry ready at {url} in {result.seconds:.1f}s (pid {result.pid}, data {data})")
    return 0


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.registry import RegistryPaths, stop_registry

    pid = stop_registry(settings, args.timeout)
    if pid is None:
        data = RegistryPaths.for_settings(settings).root
        print(f"registry not running (none started from {data})")
    else:
        print(f"registry stopped (pid {pid})")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.registry import registry_status

    status = registry_status(settings)
    if status.pid is not None and status.answering:
        print(
            f"running: pid {status.pid}, {status.url}, {status.subjects} subjects, "
            f"data {status.data}"
        )
        return 0
    if status.pid is not None:
        print(f"not ready: pid {status.pid} runs but no registry answers at {status.url}")
        return 1
    if status.answering:
        print(
            f"running: {status.url}, {status.subjects} subjects "
            f"(not started by dlrw from {status.data})"
        )
        return 0
    print(f"not running: no registry answers at {status.url}")
    return 1


def _actions(
    parser: argparse.ArgumentParser,
    what: str,
    timeouts: tuple[float, float],
    handlers: tuple[Handler, Handler, Handler],
) -> None:
    """The start, stop and status actions of a local service, with their timeouts."""
    start_timeout, stop_timeout = timeouts
    on_start, on_stop, on_status = handlers
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help=f"start {what} and wait until it answers (idempotent)")
    start.add_argument(
        "--timeout",
        type=float,
        default=start_timeout,
        help=f"seconds to wait for {what} to answer, after any fetch (default %(default).0f)",
    )
    start.set_defaults(handler=on_start)
    stop = actions.add_parser("stop", help=f"stop {what} (idempotent)")
    stop.add_argument(
        "--timeout",
        type=float,
        default=stop_timeout,
        help="seconds to wait after SIGTERM before SIGKILL (default %(default).0f)",
    )
    stop.set_defaults(handler=on_stop)
    status = actions.add_parser("status", help="show whether it runs; exit 0 if it does, else 1")
    status.set_defaults(handler=on_status)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def configure_spark(parser: argparse.ArgumentParser) -> None:
    """`dlrw spark start|stop|status`."""
    from dlrw.ingest.local.spark import DEFAULT_START_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S

    parser.epilog = (
        "The server is a Spark Thrift server in local mode at DLRW_WAREHOUSE_URL "
        "(spark://host:port[/database]); its catalog and tables are under $DLRW_DATA_DIR/spark. "
        "Needs Java 17+; the spark-avro and Delta Lake jars are fetched once with Maven into "
        "${XDG_CACHE_HOME:-~/.cache}/dlrw."
    )
    _actions(
        parser,
        "the Spark server",
        (DEFAULT_START_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S),
        (_spark_start, _spark_stop, _spark_status),
    )


def _spark_start(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.spark import SparkPaths, start_spark

    result = start_spark(settings, args.timeout, log=_err)
    url = settings.warehouse_url
    data = SparkPaths.for_settings(settings).root
    if result.pid is None:
        print(
            f"a Spark Thrift server not started by dlrw already answers at {url}; "
            "using it (`dlrw spark stop` leaves it alone)"
        )
    elif result.already_running:
        print(f"Spark already running at {url} (pid {result.pid}, data {data})")
    else:
        print(f"Spark ready at {url} in {result.seconds:.1f}s (pid {result.pid}, data {data})")
    return 0


def _spark_stop(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.spark import SparkPaths, stop_spark

    pid = stop_spark(settings, args.timeout)
    if pid is None:
        print(f"Spark not running (none started from {SparkPaths.for_settings(settings).root})")
    else:
        print(f"Spark stopped (pid {pid})")
    return 0


def _spark_status(args: argparse.Namespace, settings: Settings) -> int:
    from dlrw.ingest.local.spark import spark_status

    status = spark_status(settings)
    if status.pid is not None and status.answering:
        print(f"running: pid {status.pid}, {status.url}, data {status.data}")
        return 0
    if status.pid is not None:
        print(f"not ready: pid {status.pid} runs but no Spark server answers at {status.url}")
        return 1
    if status.answering:
        print(f"running: {status.url} (not started by dlrw from {status.data})")
        return 0
    print(f"not running: no Spark server answers at {status.url}")
    return 1
