"""``dlrw ingest`` and ``dlrw rebuild``."""

from __future__ import annotations

import argparse
import contextlib
import sys

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.metrics import IngestMetrics, add_metrics_arguments, serve_metrics
from dlrw.ingest.pipeline.ingest import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_GROUP,
    EVENT_KINDS,
    Ingestor,
    install_stop_signals,
)
from dlrw.ingest.pipeline.rebuild import rebuild
from dlrw.ingest.progress import Progress
from dlrw.ingest.warehouse.connection import open_warehouse

__all__ = ["configure_ingest", "configure_rebuild", "run_ingest", "run_rebuild"]

# A restarted ingest may briefly overlap the old process's hold on the DuckDB file.
_LOCK_WAIT_S = 10.0


def configure_ingest(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dlrw ingest``."""
    parser.description = (
        "Consume the sends, receipts and conversions topics into the Avro store and the "
        "warehouse raw tables; undecodable or impossible records go to the dead-letter topic "
        "and raw_quarantine. Offsets are committed only after every write is durable. "
        "SIGTERM/SIGINT finish the current batch and exit 0."
    )
    parser.add_argument(
        "--once", action="store_true", help="stop when caught up with the end of every partition"
    )
    parser.add_argument(
        "--group", default=DEFAULT_GROUP, help=f"consumer group id (default {DEFAULT_GROUP})"
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="read through kafka-python's public API and decode record by record (slow; "
        "for checking the fast path)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"records per batch, i.e. per store write, load and commit "
        f"(default {DEFAULT_BATCH_SIZE})",
    )
    add_metrics_arguments(parser, "/metrics, /healthz and /readyz")
    parser.set_defaults(handler=run_ingest)


def configure_rebuild(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dlrw rebuild``."""
    parser.description = (
        "Drop the raw tables (raw_sends, raw_receipts, raw_conversions, raw_quarantine) and "
        "reload them from the Avro store alone. Stop `dlrw ingest` first."
    )
    parser.set_defaults(handler=run_rebuild)


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ingest loop; prints a summary line on stdout when it ends."""
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    progress = Progress("ingest", unit="records")
    metrics = None if args.metrics_port is None else IngestMetrics(EVENT_KINDS)
    ingestor = Ingestor(
        settings,
        group=args.group,
        batch_size=args.batch_size,
        progress=progress,
        lock_wait_s=_LOCK_WAIT_S,
        metrics=metrics,
        exact=args.exact,
    )
    with contextlib.ExitStack() as serving:
        if metrics is not None:
            serving.enter_context(
                serve_metrics(
                    metrics.registry, args.metrics_host, args.metrics_port, ingestor.readiness
                )
            )
        restore = install_stop_signals(ingestor)
        try:
            summary = ingestor.run(once=args.once)
        finally:
            restore()
    print(summary.line(), file=sys.stdout, flush=True)
    return 0


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the raw tables from the store; prints rows per table."""
    progress = Progress("rebuild", unit="rows")
    with open_warehouse(settings.warehouse_url) as warehouse:
        loaded = rebuild(settings.store_dir, warehouse, progress)
    progress.close()
    tables = ", ".join(f"{name}: {count:,}" for name, count in sorted(loaded.items()))
    print(f"rebuilt from {settings.store_dir}: {tables or 'the store is empty'}", flush=True)
    return 0
