"""``dlrw collect [--host H] [--port P]``: serve the provider receipt callbacks over HTTP until
interrupted (Ctrl-C or SIGTERM), then flush what Kafka has not acknowledged yet."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import uvicorn

from dlrw.ingest.collect.app import create_app
from dlrw.ingest.collect.server import server_config
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError
from dlrw.ingest.metrics import CollectMetrics, add_metrics_arguments, serve_metrics

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``collect`` arguments and handler to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8088, help="port to listen on")
    add_metrics_arguments(parser)
    parser.epilog = (
        "Secrets: DLRW_TWILIO_AUTH_TOKEN, DLRW_VONAGE_SIGNATURE_SECRET, "
        "DLRW_COLLECT_SHARED_SECRET (infobip, smpp); DLRW_COLLECT_PUBLIC_URL is the public "
        "base URL Twilio signs when a proxy sits in front."
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted; exit 0 on a clean shutdown."""
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    # kafka-python logs every connection attempt, and each retry while Kafka is down; our own
    # line per request and /readyz say what matters.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    metrics = CollectMetrics()
    server = uvicorn.Server(
        server_config(create_app(settings, metrics=metrics), args.host, args.port)
    )
    with contextlib.ExitStack() as serving:
        if args.metrics_port is not None:
            serving.enter_context(
                serve_metrics(metrics.registry, args.metrics_host, args.metrics_port)
            )
        print(f"dlrw collect: listening on http://{args.host}:{args.port}", file=sys.stderr)
        server.run()
    # uvicorn reports a failed bind or startup by not having started.
    return 0 if server.started else 1
