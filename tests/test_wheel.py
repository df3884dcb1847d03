"""The built wheel is the whole product: installed into a fresh virtualenv outside the checkout,
it runs the pipeline from an empty directory, with only ``dlrw`` on its import path."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what a checkout holds beside its files, at its top: build output, environment, data, caches
UNPACKED = {"build", ".venv", "data", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

pytestmark = pytest.mark.broker


def _unpacked(folder: str, names: list[str]) -> set[str]:
    """The names copytree leaves out of ``folder``: UNPACKED, at the checkout's top only."""
    return UNPACKED & set(names) if folder == str(ROOT) else set()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel built from this checkout and the pinned dependencies."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLRW_", "VIRTUAL_ENV"))}
    # setuptools builds in the tree's build/, where files deleted or moved since an earlier
    # build linger and would be packed too: build from a copy without it
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_unpacked)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base), str(source)],
        base,
        env,
    )
    (wheel,) = base.glob("dlrw-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], base, env)
    _run(
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            str(wheel),
        ],
        base,
        env,
    )
    return venv


def test_the_installed_wheel_has_one_import_package(installed: Path) -> None:
    probe = (
        "import importlib.util as u, dlrw.ingest.cli, dlrw.models.wire; "
        "print(u.find_spec('ingest'), u.find_spec('models'), dlrw.ingest.cli.__file__)"
    )
    out = _run([str(installed / "bin/python"), "-c", probe], installed.parent, {"PATH": "/usr/bin"})
    no_ingest, no_models, cli_file = out.split()
    assert (no_ingest, no_models) == ("None", "None")
    assert cli_file.startswith(str(installed)), cli_file


def test_the_installed_wheel_runs_the_pipeline_from_an_empty_directory(
    installed: Path, tmp_path: Path
) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    env = {
        "PATH": f"{installed / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DLRW_KAFKA_BOOTSTRAP": f"localhost:{_free_port()}",
        "DLRW_HASH_KEY": "wheel-test-key",
    }
    start = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    try:
        _run(["dlrw", "broker", "start"], work, env)
        _run(["dlrw", "topics", "create"], work, env)
        _run(["dlrw", "simulate", "--messages", "3000", "--days", "2", "--start", start], work, env)
        _run(["dlrw", "ingest", "--once"], work, env)
        assert "tests:" in _run(["dlrw", "build"], work, env)
        _run(["dlrw", "check"], work, env)
        _run(["dlrw", "report"], work, env)
    finally:
        subprocess.run(["dlrw", "broker", "stop"], cwd=work, env=env, capture_output=True)
    assert next((work / "data").rglob("report.html")).stat().st_size > 0
    assert not (work / "dbt_project").exists()
