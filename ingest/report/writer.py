"""Write the report file: read the marts, render, and replace the file atomically."""

from __future__ import annotations

import os
from pathlib import Path

from dlrw.ingest.report.data import load_report_data
from dlrw.ingest.report.render import render_html
from dlrw.ingest.warehouse.marts import open_marts

__all__ = ["REPORT_FILE", "write_report"]

REPORT_FILE = "report.html"


def write_report(warehouse_url: str, out_dir: Path) -> Path:
    """Render the report of the marts at ``warehouse_url`` into ``out_dir``; return its path."""
    # Read-only: the report never writes, and DuckDB then leaves the file to its writer.
    engine = open_marts(warehouse_url, read_only=True)
    try:
        data = load_report_data(engine)
    finally:
        engine.dispose()
    html = render_html(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_FILE
    # Write beside and rename, so a browser never opens a half-written report.
    tmp = path.with_name(f".{REPORT_FILE}.{os.getpid()}")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
