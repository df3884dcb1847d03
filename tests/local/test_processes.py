"""Starting a local server (broker, registry, Spark): a detached process with its pid recorded,
awaited until it answers, stopped and named in one line when it exits or never answers."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from dlrw.ingest.errors import ServiceUnavailable
from dlrw.ingest.local.processes import (
    Startup,
    alive,
    launch_detached,
    terminate,
    wait_until_ready,
)


def _startup(tmp_path: Path, answers: bool) -> Startup:
    return Startup(
        name="the test server",
        where="nowhere:1",
        answers=lambda: answers,
        last_problem=lambda: (tmp_path / "console.log").read_text().strip() or "(no output)",
        log=tmp_path / "console.log",
        pid_file=tmp_path / "server.pid",
        stop_timeout_s=5.0,
        poll_s=0.05,
    )


def _launch(tmp_path: Path, code: str) -> tuple[Startup, int]:
    startup = _startup(tmp_path, answers=False)
    process = launch_detached([sys.executable, "-c", code], startup.log, startup.pid_file, tmp_path)
    assert startup.pid_file.read_text() == f"{process.pid}\n"
    return startup, process.pid


def test_a_server_that_exits_is_named_with_its_exit_code_and_last_line(tmp_path: Path) -> None:
    startup, pid = _launch(tmp_path, "print('ERROR port taken'); raise SystemExit(3)")

    with pytest.raises(ServiceUnavailable) as raised:
        wait_until_ready(startup, pid, None, time.monotonic() + 30)

    assert str(raised.value) == (
        f"the test server exited during startup: ERROR port taken (log: {startup.log})"
    )
    assert not startup.pid_file.exists()


def test_a_server_that_never_answers_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    startup, pid = _launch(tmp_path, "import time; print('starting', flush=True); time.sleep(60)")

    with pytest.raises(ServiceUnavailable, match="did not answer at nowhere:1 in time"):
        wait_until_ready(startup, pid, None, time.monotonic() + 1)

    assert not alive(pid)
    assert not startup.pid_file.exists()


def test_a_server_that_answers_is_left_running(tmp_path: Path) -> None:
    startup, pid = _launch(tmp_path, "import time; time.sleep(60)")
    answering = _startup(tmp_path, answers=True)

    wait_until_ready(answering, pid, None, time.monotonic() + 30)

    assert alive(pid)
    assert startup.pid_file.exists()
    terminate(pid, 5.0)
