"""What the local services have in common: a Java found on this machine, artifacts fetched once
with Maven, a background process tracked by a pid file, a port that answers or not."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dlrw.ingest.errors import ServiceUnavailable

__all__ = [
    "StartResult",
    "Startup",
    "alive",
    "find_java",
    "launch_detached",
    "locked",
    "managed_pid",
    "port_open",
    "read_text",
    "run_maven",
    "terminate",
    "wait_until_ready",
]

# Where Debian and Ubuntu install JDKs side by side, next to the one `java` on PATH points at.
_JVM_DIR = Path("/usr/lib/jvm")

Log = Callable[[str], None]


@dataclass(frozen=True)
class StartResult:
    """What a start did; ``pid`` is None when a service dlrw did not start answered."""

    pid: int | None
    seconds: float
    already_running: bool


def find_java(minimum: int, needed_by: str) -> Path:
    """A ``java`` of at least version ``minimum``: JAVA_HOME's, else the one on PATH, else the
    newest under /usr/lib/jvm."""
    java_home = os.environ.get("JAVA_HOME")
    on_path = shutil.which("java")
    preferred = [Path(java_home) / "bin" / "java"] if java_home else []
    preferred += [Path(on_path)] if on_path else []
    found: dict[Path, int | None] = {}
    for java in preferred:
        found[java] = _java_version(java)
        if (found[java] or 0) >= minimum:
            return java
    for java in {java.resolve() for java in _JVM_DIR.glob("*/bin/java")}:
        found[java] = _java_version(java)
    newest = max(found, key=lambda java: found[java] or 0, default=None)
    if newest is not None and (found[newest] or 0) >= minimum:
        return newest
    seen = ", ".join(f"Java {v} ({java})" for java, v in found.items() if v) or "no Java"
    raise ServiceUnavailable(
        f"{needed_by} needs Java {minimum}+, found {seen}; install Java {minimum} or newer "
        "and set JAVA_HOME to it"
    )


def _java_version(java: Path) -> int | None:
    try:
        banner = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    # 'version "25.0.3"' or, before Java 9, 'version "1.8.0_402"'.
    match = re.search(r'version "(?:1\.)?(\d+)', banner)
    return int(match.group(1)) if match else None


def run_maven(arguments: list[str], output: Path, what: str, log: Log) -> None:
    """``mvn -q -B ARGUMENTS``, its output in ``output``, a progress line every 10 s."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable(
            f"{what} is not cached and Maven (mvn) is not installed to fetch it; install it "
            "(e.g. apt-get install -y maven)"
        )
    started = last_note = time.monotonic()
    with output.open("w") as handle:
        process = subprocess.Popen(
            [mvn, "-q", "-B", *arguments], stdout=handle, stderr=subprocess.STDOUT
        )
        while process.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - last_note >= 10:
                last_note = time.monotonic()
                log(f"fetching {what}: {time.monotonic() - started:.0f}s ...")
    if process.returncode != 0:
        lines = output.read_text(errors="replace").splitlines()
        errors = [line for line in lines if "[ERROR]" in line] or lines or ["no output"]
        raise ServiceUnavailable(
            f"fetching {what} failed (mvn exit {process.returncode}): "
            f"{errors[0].strip()[:300]}; full output in {output}"
        )


def read_text(path: Path) -> str | None:
    """The stripped text of ``path``, or None if it cannot be read."""
    try:
        return path.read_text().strip()
    except OSError:
        return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def managed_pid(pid_file: Path, *markers: str) -> int | None:
    """The pid in ``pid_file`` if that process is alive and its command line holds every
    marker (pids get reused)."""
    text = read_text(pid_file)
    if not text or not text.isdigit():
        return None
    pid = int(text)
    if not alive(pid):
        return None
    command = _command_line(pid)
    if command is None or not all(marker in command for marker in markers):
        return None
    return pid


def _command_line(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        pass
    except OSError:
        return None
    # No /proc (macOS): ask ps.
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; reaps it first if it is our exited child."""
    # A zombie child must not count as running.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if ``pid`` still runs after ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            return
        time.sleep(0.1)


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def launch_detached(
    command: list[str],
    console_log: Path,
    pid_file: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server whose output goes to ``console_log`` and record its pid in ``pid_file``."""
    with console_log.open("wb") as console:
        # A session of its own: the server outlives this command and ignores its Ctrl-C.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    return process


@dataclass(frozen=True)
class Startup:
    """A server being started: what to call it, how to tell it answers and where it logs."""

    name: str
    where: str
    answers: Callable[[], bool]
    last_problem: Callable[[], str]
    log: Path
    pid_file: Path
    stop_timeout_s: float
    poll_s: float


def wait_until_ready(
    startup: Startup, pid: int, process: subprocess.Popen[bytes] | None, deadline: float
) -> None:
    """Return once the server answers; stop it and raise ``ServiceUnavailable`` naming its last
    log problem when it exits first or the deadline passes."""
    while True:
        exited = process.poll() is not None if process else not alive(pid)
        if exited:
            startup.pid_file.unlink(missing_ok=True)
            code = f" (exit {process.returncode})" if process else ""
            raise ServiceUnavailable(
                f"{startup.name} exited during startup{code}: {startup.last_problem()} "
                f"(log: {startup.log})"
            )
        if startup.answers():
            return
        if time.monotonic() >= deadline:
            terminate(pid, startup.stop_timeout_s)
            startup.pid_file.unlink(missing_ok=True)
            raise ServiceUnavailable(
                f"{startup.name} did not answer at {startup.where} in time and was stopped; "
                f"last log line: {startup.last_problem()} (log: {startup.log}); "
                "a slow machine may need a larger --timeout"
            )
        time.sleep(startup.poll_s)
