"""`dlrw spark start|status` against the run's shared server: found, not started twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrw.ingest.config import load_settings
from tests.cli import run_dlrw, user_env

pytestmark = pytest.mark.spark


def test_start_and_status_find_the_running_server(spark_server: str) -> None:
    data_dir = load_settings().data_dir
    env = user_env(data_dir, DLRW_WAREHOUSE_URL=spark_server)
    started = run_dlrw(["spark", "start"], env, check=True)
    assert started.stdout.startswith(f"Spark already running at {spark_server} (pid ")
    status = run_dlrw(["spark", "status"], env)
    assert status.returncode == 0
    assert status.stdout.startswith("running: pid ")
    assert f"data {data_dir / 'spark'}" in status.stdout


def test_status_of_a_port_nobody_serves_exits_1(tmp_path: Path) -> None:
    env = user_env(tmp_path, DLRW_WAREHOUSE_URL="spark://127.0.0.1:1")
    status = run_dlrw(["spark", "status"], env)
    assert (status.returncode, status.stdout.strip()) == (
        1,
        "not running: no Spark server answers at spark://127.0.0.1:1",
    )
