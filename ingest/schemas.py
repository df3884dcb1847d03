"""``dlrw schemas check``: every event schema version must read what its predecessor wrote.
``dlrw schemas register``: every version, oldest first, into the schema registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, DlrwError
from dlrw.ingest.kafka.registry_client import COMPATIBILITY, register_all
from dlrw.models.compat import check_directory
from dlrw.models.wire import SCHEMA_DIR

__all__ = ["configure", "run_check", "run_register"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dlrw schemas``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="check that each schema version is backward compatible with the one before",
        description=(
            "For every event schema, check each version against its predecessor: the newer "
            "reader must read data the older writer wrote (added fields need defaults, a removed "
            "field must have had one, only the Avro specification's type promotions), verified "
            "by resolving a sample record with fastavro. One line per pair; exit 1 if any pair "
            "is incompatible."
        ),
    )
    check.add_argument(
        "--dir",
        type=Path,
        default=SCHEMA_DIR,
        metavar="DIR",
        help="folder of *.avsc files (default: the shipped models/schemas)",
    )
    check.set_defaults(handler=run_check)
    register = actions.add_parser(
        "register",
        help="register every schema version in the schema registry",
        description=(
            "Register every version of every event schema (models/schemas), oldest first, under "
            "its topic's subject <topic>-value in the registry DLRW_SCHEMA_REGISTRY_URL names, "
            f"after setting the subject's compatibility to {COMPATIBILITY}. A version already "
            "there keeps its id. One line per version: subject, version, schema id. Producers "
            "with DLRW_WIRE_FORMAT=registry register the version they write on their own; this "
            "registers the older ones too, in order."
        ),
    )
    register.set_defaults(handler=run_register)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """Print one line per version pair; raise when a pair is incompatible."""
    directory: Path = args.dir
    if not directory.is_dir():
        raise ConfigError(f"schema folder {directory} does not exist")
    results = check_directory(directory)
    for result in results:
        print(result.line(), flush=True)
    bad = [r for r in results if not r.compatible]
    if bad:
        raise DlrwError(
            f"{len(bad)} of {len(results)} schema pair(s) incompatible; first: {bad[0].line()}"
        )
    if not results:
        print(f"no schema has more than one version in {directory}", flush=True)
    return 0


def run_register(args: argparse.Namespace, settings: Settings) -> int:
    """Register every version; print one line per version as it is registered."""
    for subject, version, schema_id in register_all(settings):
        print(f"{subject} v{version.version} ({version.name}): id {schema_id}", flush=True)
    return 0
