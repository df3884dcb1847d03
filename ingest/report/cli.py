"""`dlrw report` (the HTML deliverability report) and `dlrw docs` (dbt docs, served locally)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dlrw.ingest.config import Settings

__all__ = ["configure", "configure_docs", "run", "run_docs"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of `dlrw report`."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory for report.html (default: $DLRW_DATA_DIR/report)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write the report from the marts and print its path."""
    from dlrw.ingest.report.writer import write_report

    out_dir = args.out if args.out is not None else settings.data_dir / "report"
    path = write_report(settings.warehouse_url, out_dir.resolve())
    print(path)
    return 0


def configure_docs(parser: argparse.ArgumentParser) -> None:
    """Arguments of `dlrw docs`."""
    parser.add_argument("--port", type=int, default=8080, help="port to serve on (default 8080)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--no-serve", action="store_true", help="only generate the docs and print where they are"
    )
    parser.set_defaults(handler=run_docs)


def run_docs(args: argparse.Namespace, settings: Settings) -> int:
    """Generate the dbt docs, then serve them until interrupted (Ctrl-C)."""
    from dlrw.ingest.report.docs import generate_docs, serve_docs

    directory = generate_docs(settings)
    print(directory / "static_index.html", flush=True)
    if args.no_serve:
        return 0
    server = serve_docs(directory, args.host, args.port)
    print(
        f"serving dbt docs at http://{args.host}:{server.server_port}/ (Ctrl-C stops)", flush=True
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
