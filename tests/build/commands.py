"""Run `dlrw` commands as users do, for the build tests that take simulated traffic the real way
(simulate or produce to the dev broker, ingest, build)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dlrw.ingest.config import Settings

__all__ = ["run_dlrw"]


def run_dlrw(settings: Settings, cwd: Path, *args: str) -> str:
    """Run one `dlrw` command as users do; fail the test with its one-line error otherwise."""
    env = {
        **os.environ,
        "DLRW_DATA_DIR": str(settings.data_dir),
        "DLRW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DLRW_TOPIC_PREFIX": settings.topic_prefix,
        "DLRW_WAREHOUSE_URL": settings.warehouse_url,
        "DLRW_STORE_DIR": str(settings.store_dir),
        "DLRW_HASH_KEY": "test-hash-key",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dlrw.ingest.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"dlrw {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout
