"""Run `dlrw` as a user does: a subprocess with the settings in its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dlrw.ingest.config import Settings

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def dlrw(settings: Settings, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ingest.cli ARGV`` with ``settings`` in the environment."""
    env = {
        **os.environ,
        "DLRW_DATA_DIR": str(settings.data_dir),
        "DLRW_WAREHOUSE_URL": settings.warehouse_url,
        "DLRW_STORE_DIR": str(settings.store_dir),
        "DLRW_TOPIC_PREFIX": settings.topic_prefix,
        "DLRW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DLRW_HASH_KEY": settings.hash_key.get_secret_value() if settings.hash_key else "",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    result = subprocess.run(
        [PYTHON, "-m", "dlrw.ingest.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"dlrw {' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result
