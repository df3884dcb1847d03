"""`dlrw docs`: generate the dbt docs for the warehouse and serve them on localhost.

The profile comes from `dlrw build`'s own generator (``ingest.build.profiles``), so docs and
marts always describe the same warehouse. The site is generated with ``--static``: one
``static_index.html`` that also opens straight from disk.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dlrw.ingest.build.profiles import dbt_target, write_profiles
from dlrw.ingest.build.runner import DBT_PROJECT_DIR, dbt_dirs
from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError, ServiceUnavailable

__all__ = ["docs_dir", "generate_docs", "serve_docs"]


def docs_dir(settings: Settings) -> Path:
    """Where the docs site is generated (apart from the build's target, which it would clobber)."""
    return settings.data_dir / "dbt" / "docs"


def generate_docs(settings: Settings) -> Path:
    """Run ``dbt docs generate --static``; return the directory holding ``index.html``."""
    target = dbt_target(settings)
    dirs = dbt_dirs(settings)
    write_profiles(target, dirs["profiles"])
    out = docs_dir(settings)
    command = [
        sys.executable, "-m", "dbt.cli.main",
        "--no-send-anonymous-usage-stats", "--no-version-check", "--no-use-colors", "--quiet",
        "docs", "generate", "--static",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(dirs["profiles"]),
        "--target-path", str(out),
        "--log-path", str(dirs["logs"]),
    ]  # fmt: skip
    env = {
        **os.environ,
        **target.env,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }
    try:
        done = subprocess.run(
            command, cwd=DBT_PROJECT_DIR, env=env, text=True, capture_output=True, check=False
        )
    except OSError as exc:
        raise ServiceUnavailable(f"cannot start dbt: {exc}") from exc
    if done.returncode != 0 or not (out / "index.html").exists():
        raise DlrwError(
            f"dbt docs generate failed: {_reason(done.stdout + done.stderr)} "
            f"(log: {dirs['logs'] / 'dbt.log'})"
        )
    return out


def _reason(output: str) -> str:
    """dbt's error in one line: the lines after "Encountered an error", timestamps dropped."""
    lines = [re.sub(r"^\d\d:\d\d:\d\d\s+", "", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines):
        if line.startswith("Encountered an error"):
            return " / ".join(lines[i + 1 : i + 4]) or line
    return next((line for line in lines if "error" in line.lower()), "no output")


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves the docs directory without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve_docs(directory: Path, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server over ``directory`` (not started: call ``serve_forever``)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ServiceUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
