"""The local Kafka broker: one Apache Kafka 4.x node in KRaft mode (broker and controller in one
process) run as a background Java process, its jars fetched once from Maven Central.

Layout under ``$DLRW_DATA_DIR/kafka``: ``server.properties`` (generated from the template in
``ingest/local/broker_files`` on every start), ``data/`` (log dirs, KRaft metadata), ``logs/server.log``
(log4j), ``logs/console.log`` (JVM stdout/stderr), ``broker.pid``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, DlrwError, ServiceUnavailable
from dlrw.ingest.resources import package_path

__all__ = [
    "BROKER_FILES",
    "DEFAULT_START_TIMEOUT_S",
    "DEFAULT_STOP_TIMEOUT_S",
    "BrokerPaths",
    "BrokerStatus",
    "Endpoint",
    "StartResult",
    "broker_status",
    "ensure_jars",
    "find_java",
    "jar_cache_dir",
    "kafka_version",
    "parse_bootstrap",
    "start_broker",
    "stop_broker",
]

BROKER_FILES = package_path("dlrw.ingest.local", "broker_files")
DEFAULT_START_TIMEOUT_S = 90.0
DEFAULT_STOP_TIMEOUT_S = 30.0
MIN_JAVA = 17
MAIN_CLASS = "kafka.Kafka"
JVM_OPTIONS = ["-Xmx512m", "-Xms128m", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"}
_JAR_MARKER = ".dlrw-complete"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Endpoint:
    """Where the local broker listens; its KRaft controller listens on the next port."""

    host: str
    port: int

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class BrokerPaths:
    """Files of the local broker under ``$DLRW_DATA_DIR/kafka``."""

    root: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> BrokerPaths:
        """The paths for the data dir of ``settings``."""
        return cls(settings.data_dir / "kafka")

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "broker.pid"


@dataclass(frozen=True)
class StartResult:
    """What ``start_broker`` did; ``pid`` is None when a broker dlrw did not start answered."""

    pid: int | None
    seconds: float
    already_running: bool


@dataclass(frozen=True)
class BrokerStatus:
    """The local broker as ``dlrw broker status`` reports it."""

    bootstrap: str
    data: Path
    pid: int | None
    topics: int | None

    @property
    def answering(self) -> bool:
        return self.topics is not None


def parse_bootstrap(bootstrap: str) -> Endpoint:
    """The local endpoint named by the first entry of DLRW_KAFKA_BOOTSTRAP."""
    first = bootstrap.split(",")[0].strip()
    host, sep, port_text = first.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65535:
        raise ConfigError(f"DLRW_KAFKA_BOOTSTRAP={bootstrap!r} is not host:port")
    if host not in _LOCAL_HOSTS and host != socket.gethostname():
        raise ConfigError(
            f"DLRW_KAFKA_BOOTSTRAP={bootstrap!r} is not on this machine; "
            "`dlrw broker` only runs a local broker"
        )
    return Endpoint(host, int(port_text))


def kafka_version() -> str:
    """The Kafka version that ingest/local/broker_files/pom.xml fetches."""
    match = re.search(
        r"<kafka\.version>([^<]+)</kafka\.version>", _broker_file("pom.xml").read_text()
    )
    if not match:
        raise DlrwError(f"no <kafka.version> in {BROKER_FILES / 'pom.xml'}")
    return match.group(1).strip()


def jar_cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/dlrw/kafka-<version>``: the broker's classpath."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dlrw" / f"kafka-{kafka_version()}"


def find_java() -> Path:
    """The ``java`` of JAVA_HOME, else the one on PATH; it must be Java 17 or newer."""
    install_hint = "install one (e.g. apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME"
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if not os.access(java, os.X_OK):
            raise ServiceUnavailable(f"JAVA_HOME={java_home} has no bin/java; {install_hint}")
    else:
        found = shutil.which("java")
        if found is None:
            raise ServiceUnavailable(
                f"Java {MIN_JAVA}+ is needed to run the local Kafka broker, but `java` is not on "
                f"PATH and JAVA_HOME is not set; {install_hint}"
            )
        java = Path(found)
    try:
        banner = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"{java} does not run: {exc}") from exc
    # 'version "17.0.15"' or, before Java 9, 'version "1.8.0_402"'.
    match = re.search(r'version "(?:1\.)?(\d+)', banner)
    if match and int(match.group(1)) < MIN_JAVA:
        raise ServiceUnavailable(
            f"Kafka {kafka_version()} needs Java {MIN_JAVA}+, but {java} is Java "
            f"{match.group(1)}; {install_hint}"
        )
    return java


def ensure_jars(log: Log) -> Path:
    """The jar cache, fetched with Maven first if it is missing, partial or from another pom."""
    cache = jar_cache_dir()
    pom = _broker_file("pom.xml")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = cache / _JAR_MARKER
    if _read(marker) == digest:
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with _locked(cache.parent / f".{cache.name}.lock"):
        if _read(marker) == digest:
            return cache  # another process fetched them while we waited
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceUnavailable(
                f"the Kafka {kafka_version()} jars are not cached in {cache} and Maven (mvn) "
                "is not installed to fetch them; install it (e.g. apt-get install -y maven)"
            )
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        _fetch_jars(mvn, pom, cache, log)
        if not any(cache.glob(f"kafka_*-{kafka_version()}.jar")):
            raise DlrwError(f"Maven finished but no Kafka broker jar is in {cache}")
        marker.write_text(digest)
    return cache


def start_broker(
    settings: Settings, timeout_s: float = DEFAULT_START_TIMEOUT_S, log: Log = print
) -> StartResult:
    """Start the local broker unless it runs, and return once it answers a metadata request."""
    started = time.monotonic()
    endpoint = parse_bootstrap(settings.kafka_bootstrap)
    paths = BrokerPaths.for_settings(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    with _locked(paths.root / ".lock"):
        pid = _managed_pid(paths)
        if pid is not None:
            # Ours, maybe still starting (a concurrent `start`): wait for it like for a new one.
            _wait_ready(endpoint, paths, pid, None, started + timeout_s, 0)
            return StartResult(pid, time.monotonic() - started, already_running=True)
        paths.pid_file.unlink(missing_ok=True)
        if _port_open(endpoint.host, endpoint.port):
            if _topic_count(endpoint.bootstrap, 5.0) is not None:
                return StartResult(None, time.monotonic() - started, already_running=True)
            raise ServiceUnavailable(
                f"port {endpoint.port} is in use by something that is not a Kafka broker; "
                "stop it or set DLRW_KAFKA_BOOTSTRAP to a free port"
            )
        if _port_open(endpoint.host, endpoint.controller_port):
            raise ServiceUnavailable(
                f"port {endpoint.controller_port} (the controller port, bootstrap port + 1) is in "
                "use; stop what holds it or set DLRW_KAFKA_BOOTSTRAP to another port"
            )
        java = find_java()
        jars = ensure_jars(log)
        launch_started = time.monotonic()
        _write_properties(endpoint, paths)
        _format_storage(java, jars, paths)
        process = _launch(java, jars, paths)
        _wait_ready(endpoint, paths, process.pid, process, launch_started + timeout_s, _size(paths))
        return StartResult(process.pid, time.monotonic() - started, already_running=False)


def stop_broker(settings: Settings, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
    """Stop the local broker (SIGTERM, then SIGKILL after ``timeout_s``); returns the pid it
    stopped, or None if none was running."""
    paths = BrokerPaths.for_settings(settings)
    pid = _managed_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return None
    _terminate(pid, timeout_s)
    paths.pid_file.unlink(missing_ok=True)
    return pid


def broker_status(settings: Settings) -> BrokerStatus:
    """Whether our broker runs (pid) and whether anything answers at the bootstrap (topics)."""
    paths = BrokerPaths.for_settings(settings)
    pid = _managed_pid(paths)
    topics = None
    endpoint = parse_bootstrap(settings.kafka_bootstrap)
    if _port_open(endpoint.host, endpoint.port):
        topics = _topic_count(endpoint.bootstrap, 5.0)
    return BrokerStatus(endpoint.bootstrap, paths.root, pid, topics)


def _broker_file(name: str) -> Path:
    path = BROKER_FILES / name
    if not path.is_file():
        raise DlrwError(f"{path} is missing: run dlrw from a checkout of the project")
    return path


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_jars(mvn: str, pom: Path, cache: Path, log: Log) -> None:
    log(f"fetching Apache Kafka {kafka_version()} jars from Maven Central into {cache} (once)")
    command = [
        mvn,
        "-q",
        "-B",
        "dependency:copy-dependencies",
        "-f",
        str(pom),
        f"-DoutputDirectory={cache}",
        "-DincludeScope=runtime",
    ]
    output = cache / "mvn.log"
    started = last_note = time.monotonic()
    with output.open("w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - last_note >= 10:
                last_note = time.monotonic()
                log(f"fetching Kafka jars: {time.monotonic() - started:.0f}s ...")
    if process.returncode != 0:
        lines = output.read_text(errors="replace").splitlines()
        errors = [line for line in lines if "[ERROR]" in line] or lines or ["no output"]
        raise ServiceUnavailable(
            f"fetching the Kafka jars failed (mvn exit {process.returncode}): "
            f"{errors[0].strip()[:300]}; full output in {output}"
        )
    jars = len(list(cache.glob("*.jar")))
    log(f"fetched {jars} jars in {time.monotonic() - started:.1f}s")


def _write_properties(endpoint: Endpoint, paths: BrokerPaths) -> None:
    template = string.Template(_broker_file("server.properties.template").read_text())
    text = template.substitute(
        host=endpoint.host,
        port=endpoint.port,
        controller_port=endpoint.controller_port,
        log_dirs=paths.log_dirs,
    )
    paths.log_dirs.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.properties.write_text(text)


def _java_command(java: Path, jars: Path, paths: BrokerPaths, main: str) -> list[str]:
    return [
        str(java),
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={_broker_file('log4j2.properties')}",
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        str(jars / "*"),
        main,
    ]


def _cluster_id() -> str:
    """A random Kafka cluster id: a UUID in unpadded URL-safe base64, as `kafka-storage
    random-uuid` prints it (never starting with '-', which a CLI would take for an option)."""
    while True:
        text = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_storage(java: Path, jars: Path, paths: BrokerPaths) -> None:
    if (paths.log_dirs / "meta.properties").exists():
        return
    command = [
        *_java_command(java, jars, paths, "kafka.tools.StorageTool"),
        "format",
        "-t",
        _cluster_id(),
        "-c",
        str(paths.properties),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        lines = (result.stderr + result.stdout).strip().splitlines() or ["no output"]
        raise ServiceUnavailable(
            f"formatting the broker storage in {paths.log_dirs} failed: {lines[-1].strip()[:300]}"
        )


def _launch(java: Path, jars: Path, paths: BrokerPaths) -> subprocess.Popen[bytes]:
    command = [*_java_command(java, jars, paths, MAIN_CLASS), str(paths.properties)]
    with paths.console_log.open("wb") as console:
        # A session of its own: the broker outlives this command and ignores its Ctrl-C.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=paths.root,
            start_new_session=True,
        )
    paths.pid_file.write_text(f"{process.pid}\n")
    return process


def _size(paths: BrokerPaths) -> int:
    try:
        return paths.server_log.stat().st_size
    except OSError:
        return 0


def _wait_ready(
    endpoint: Endpoint,
    paths: BrokerPaths,
    pid: int,
    process: subprocess.Popen[bytes] | None,
    deadline: float,
    log_offset: int,
) -> None:
    while True:
        exited = process.poll() is not None if process else not _alive(pid)
        if exited:
            paths.pid_file.unlink(missing_ok=True)
            code = f" (exit {process.returncode})" if process else ""
            raise ServiceUnavailable(
                f"the broker exited during startup{code}: {_last_problem(paths, log_offset)} "
                f"(log: {paths.server_log})"
            )
        if (
            _port_open(endpoint.host, endpoint.port)
            and _topic_count(endpoint.bootstrap, 2.0) is not None
        ):
            return
        if time.monotonic() >= deadline:
            _terminate(pid, DEFAULT_STOP_TIMEOUT_S)
            paths.pid_file.unlink(missing_ok=True)
            raise ServiceUnavailable(
                f"the broker did not answer at {endpoint.bootstrap} in time and was stopped; "
                f"last log line: {_last_problem(paths, log_offset)} (log: {paths.server_log}); "
                "a slow machine may need a larger --timeout"
            )
        time.sleep(0.2)


def _last_problem(paths: BrokerPaths, log_offset: int) -> str:
    """The last ERROR/FATAL/exception line this start wrote, else its last line."""
    lines: list[str] = []
    with contextlib.suppress(OSError), paths.server_log.open("rb") as handle:
        handle.seek(log_offset)
        lines += handle.read().decode(errors="replace").splitlines()
    with contextlib.suppress(OSError):
        lines += paths.console_log.read_text(errors="replace").splitlines()
    lines = [line.strip() for line in lines if line.strip()]
    problems = [
        line
        for line in lines
        if re.search(r"\b(ERROR|FATAL)\b|Exception|^Error:", line) and not line.startswith("at ")
    ]
    chosen = (problems or lines or ["(no log output)"])[-1]
    return chosen[:400]


def _managed_pid(paths: BrokerPaths) -> int | None:
    """The pid in the pid file if that process is alive and is our broker (pids get reused)."""
    text = _read(paths.pid_file)
    if not text or not text.isdigit():
        return None
    pid = int(text)
    if not _alive(pid):
        return None
    command = _command_line(pid)
    if command is None or MAIN_CLASS not in command or str(paths.properties) not in command:
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


def _alive(pid: int) -> bool:
    # Reap it if it is our child, so a zombie does not count as running.
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


def _terminate(pid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            return
        time.sleep(0.1)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _topic_count(bootstrap: str, timeout_s: float) -> int | None:
    """How many topics the broker at ``bootstrap`` lists, or None if no Kafka answers there."""
    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="dlrw-broker-check",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError:
        return None
    try:
        return len(admin.list_topics())
    except KafkaError:
        return None
    finally:
        admin.close()
