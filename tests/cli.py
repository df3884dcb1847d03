"""Run `dlrw` as users do: ``python -m dlrw.ingest.cli`` in a subprocess, with its settings in
its environment and none of the caller's own ``DLRW_*`` variables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from dlrw.ingest.config import Settings

__all__ = ["ROOT", "env_for", "run_dlrw", "start_dlrw", "stop", "user_env"]

ROOT = Path(__file__).resolve().parents[1]
_DLRW = [sys.executable, "-m", "dlrw.ingest.cli"]


def user_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a user who set only DLRW_DATA_DIR and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRW_")}
    env |= {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DLRW_DATA_DIR": str(data_dir)}
    return env | settings


def env_for(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a `dlrw` subprocess that uses ``settings``, then ``overrides``."""
    given = {
        "DLRW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DLRW_TOPIC_PREFIX": settings.topic_prefix,
        "DLRW_WAREHOUSE_URL": settings.warehouse_url,
        "DLRW_STORE_DIR": str(settings.store_dir),
    }
    if settings.hash_key is not None:
        given["DLRW_HASH_KEY"] = settings.hash_key.get_secret_value()
    return user_env(settings.data_dir, **(given | overrides))


def run_dlrw(
    args: Iterable[str],
    env: Mapping[str, str] | None = None,
    *,
    stdin: str = "",
    timeout: float = 600,
    cwd: Path = ROOT,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`dlrw ARGS` run to its end with ``stdin`` as its input (``env`` None: the caller's own);
    with ``check``, a non-zero exit fails the test with what the command wrote."""
    args = list(args)
    done = subprocess.run(
        [*_DLRW, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"dlrw {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def start_dlrw(
    args: Iterable[str],
    env: Mapping[str, str],
    *,
    cwd: Path = ROOT,
    stdout: int | IO[Any] = subprocess.PIPE,
    stderr: int | IO[Any] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """`dlrw ARGS` started in the background, reading nothing on its standard input."""
    return subprocess.Popen(
        [*_DLRW, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def stop(process: subprocess.Popen[Any], timeout: float = 60) -> tuple[Any, Any]:
    """SIGTERM ``process`` if it still runs, then its (stdout, stderr) once it has ended;
    SIGKILL it if it has not within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()
