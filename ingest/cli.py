"""The ``dlrw`` command. Each sub-command lives in its area's ``cli`` module and is imported only
when it runs, so ``dlrw --help`` and light commands start fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from dlrw.ingest.config import Settings, load_settings
from dlrw.ingest.errors import DlrwError
from dlrw.ingest.logs import configure_logging
from dlrw.models.events import InvalidEvent

__all__ = ["COMMANDS", "main", "run_command"]

# name -> (module under dlrw.ingest:function that configures its parser, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "broker": (
        "kafka.cli:configure_broker",
        "start, stop or check the local Kafka broker",
    ),
    "registry": (
        "local.cli:configure_registry",
        "start, stop or check the local schema registry",
    ),
    "spark": (
        "local.cli:configure_spark",
        "start, stop or check the local Spark warehouse server",
    ),
    "topics": ("kafka.cli:configure_topics", "create the dlrw topics"),
    "simulate": ("simulate.cli:configure", "generate realistic SMS traffic"),
    "produce": ("kafka.cli:configure_produce", "publish canonical events from JSONL"),
    "parse-receipt": (
        "adapters.cli:configure",
        "parse provider receipts to canonical JSON",
    ),
    "collect": (
        "collect.cli:configure",
        "receive provider receipt callbacks over HTTP",
    ),
    "ingest": (
        "pipeline.cli:configure_ingest",
        "consume the topics into store and warehouse",
    ),
    "rebuild": (
        "pipeline.cli:configure_rebuild",
        "reload the raw tables from the store",
    ),
    "build": ("build.cli:configure", "build the marts with dbt"),
    "check": ("quality.cli:configure", "run the data-quality checks"),
    "alerts": ("alerts.cli:configure", "evaluate deliverability-drop alerts"),
    "report": ("report.cli:configure", "write the HTML deliverability report"),
    "docs": ("report.cli:configure_docs", "generate and serve the dbt docs"),
    "suppression-list": (
        "suppression.cli:configure_list",
        "list the numbers that failed permanently, to stop texting them",
    ),
    "hash-numbers": (
        "suppression.cli:configure_hash",
        "hash E.164 numbers under the traffic's key, to match the suppression list",
    ),
    "demo": ("demo:configure", "run the whole pipeline on simulated traffic"),
    "schemas": ("schemas:configure", "check schema compatibility, register the schemas"),
}

Handler = Callable[[argparse.Namespace, Settings], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlrw",
        description="Event-sourced warehouse for SMS delivery reports.",
        epilog="Settings come from DLRW_* environment variables; see docs/design.md.",
    )
    return parser


def _configure(name: str, sub: argparse.ArgumentParser) -> None:
    target, _ = COMMANDS[name]
    module_name, function = target.split(":")
    getattr(importlib.import_module(f"dlrw.ingest.{module_name}"), function)(sub)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser, with only the sub-command named in ``argv`` fully configured."""
    parser = _parser()
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (_, help_text) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            _configure(name, sub)
    return parser


def run_command(argv: Sequence[str], settings: Settings | None = None) -> int:
    """Parse and run one command line; user errors become one line on stderr and an exit code."""
    args_list = list(argv)
    try:
        parser = build_parser(args_list)
        args = parser.parse_args(args_list)
        handler: Handler = args.handler
        settings = settings or load_settings()
        configure_logging(settings.log_format, args.command)
        return handler(args, settings)
    except DlrwError as exc:
        print(f"dlrw {args_list[0] if args_list else ''}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except InvalidEvent as exc:
        print(f"dlrw: invalid event: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        # A command may say what it had done when interrupted (e.g. which lines are stored).
        detail = f": {exc}" if str(exc) else ""
        print(f"dlrw {args_list[0] if args_list else ''}: interrupted{detail}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if os.environ.get("DLRW_DEBUG"):
            raise
        print(
            f"dlrw: internal error: {type(exc).__name__}: {exc} (set DLRW_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 70


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dlrw` script; returns the exit code."""
    return run_command(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
