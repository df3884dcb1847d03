"""The local schema registry: Apicurio Registry 3 (a Quarkus application) run as a background Java
process, its distribution fetched once from Maven Central. It serves the Confluent-compatible API
at ``/apis/ccompat/v7`` that Kafka clients, Connect and stream processors use.

Layout under ``$DLRW_DATA_DIR/registry``: ``registry.properties`` (generated from the template in
``ingest/local/registry_files`` on every start), ``db/`` (the H2 database: schemas outlive a
restart, as the broker's records do), ``logs/registry.log`` (Quarkus rotates it on each start),
``logs/console.log`` (JVM stdout/stderr), ``registry.pid``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import string
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, DlrwError, ServiceUnavailable
from dlrw.ingest.local.processes import (
    StartResult,
    Startup,
    find_java,
    launch_detached,
    locked,
    managed_pid,
    port_open,
    read_text,
    run_maven,
    terminate,
    wait_until_ready,
)
from dlrw.ingest.resources import package_path

__all__ = [
    "CCOMPAT_PATH",
    "DEFAULT_START_TIMEOUT_S",
    "DEFAULT_STOP_TIMEOUT_S",
    "REGISTRY_FILES",
    "RegistryEndpoint",
    "RegistryPaths",
    "RegistryStatus",
    "apicurio_version",
    "distribution_dir",
    "ensure_distribution",
    "parse_registry_url",
    "registry_status",
    "start_registry",
    "stop_registry",
]

REGISTRY_FILES = package_path("dlrw.ingest.local", "registry_files")
# Where Apicurio serves the Confluent Schema Registry API (v7); DLRW_SCHEMA_REGISTRY_URL names it.
CCOMPAT_PATH = "/apis/ccompat/v7"
DEFAULT_START_TIMEOUT_S = 120.0
DEFAULT_STOP_TIMEOUT_S = 30.0
# Apicurio Registry 3.3 is compiled for Java 21.
MIN_JAVA = 21
RUN_JAR = "quarkus-run.jar"
# C1 alone: a local registry answers few requests, and without C2 compiling in the background it
# starts faster on a machine with few cores.
JVM_OPTIONS = [
    "-Xmx512m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"}
_DIST_MARKER = ".dlrw-complete"

Log = Callable[[str], None]


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where the local registry listens, and the URL of its Confluent-compatible API."""

    host: str
    port: int
    url: str


@dataclass(frozen=True)
class RegistryPaths:
    """Files of the local registry under ``$DLRW_DATA_DIR/registry``."""

    root: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> RegistryPaths:
        """The paths for the data dir of ``settings``."""
        return cls(settings.data_dir / "registry")

    @property
    def properties(self) -> Path:
        return self.root / "registry.properties"

    @property
    def database(self) -> Path:
        return self.root / "db" / "registry"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def registry_log(self) -> Path:
        return self.logs / "registry.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "registry.pid"


@dataclass(frozen=True)
class RegistryStatus:
    """The local registry as ``dlrw registry status`` reports it."""

    url: str
    data: Path
    pid: int | None
    subjects: int | None

    @property
    def answering(self) -> bool:
        return self.subjects is not None


def parse_registry_url(url: str) -> RegistryEndpoint:
    """The local endpoint named by DLRW_SCHEMA_REGISTRY_URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise ConfigError(f"DLRW_SCHEMA_REGISTRY_URL={url!r} is not http://host:port{CCOMPAT_PATH}")
    if parts.hostname not in _LOCAL_HOSTS and parts.hostname != socket.gethostname():
        raise ConfigError(
            f"DLRW_SCHEMA_REGISTRY_URL={url!r} is not on this machine; "
            "`dlrw registry` only runs a local registry"
        )
    if parts.path.rstrip("/") != CCOMPAT_PATH:
        raise ConfigError(
            f"DLRW_SCHEMA_REGISTRY_URL={url!r} must end in {CCOMPAT_PATH}, where the local "
            "registry serves the Confluent-compatible API"
        )
    return RegistryEndpoint(parts.hostname, port, url.rstrip("/"))


def apicurio_version() -> str:
    """The Apicurio Registry version that ingest/local/registry_files/pom.xml fetches."""
    match = re.search(
        r"<apicurio\.version>([^<]+)</apicurio\.version>", _registry_file("pom.xml").read_text()
    )
    if not match:
        raise DlrwError(f"no <apicurio.version> in {REGISTRY_FILES / 'pom.xml'}")
    return match.group(1).strip()


def distribution_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/dlrw/apicurio-registry-<version>``: the unpacked app."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dlrw" / f"apicurio-registry-{apicurio_version()}"


def ensure_distribution(log: Log) -> Path:
    """The unpacked distribution, fetched with Maven first if it is missing, partial or from
    another pom."""
    target = distribution_dir()
    pom = _registry_file("pom.xml")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = target / _DIST_MARKER
    if read_text(marker) == digest:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent / f".{target.name}.lock"):
        if read_text(marker) == digest:
            return target  # another process fetched it while we waited
        shutil.rmtree(target, ignore_errors=True)
        download = target.with_name(f"{target.name}.download")
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir(parents=True)
        _fetch(pom, download, log)
        _unpack(download, target, log)
        shutil.rmtree(download)
        marker.write_text(digest)
    return target


def start_registry(
    settings: Settings, timeout_s: float = DEFAULT_START_TIMEOUT_S, log: Log = print
) -> StartResult:
    """Start the local registry unless it runs, and return once its Confluent API answers."""
    started = time.monotonic()
    endpoint = parse_registry_url(settings.schema_registry_url)
    paths = RegistryPaths.for_settings(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    with locked(paths.root / ".lock"):
        pid = _managed_pid(paths)
        if pid is not None:
            # Ours, maybe still starting (a concurrent `start`): wait for it like for a new one.
            wait_until_ready(_startup(endpoint, paths), pid, None, started + timeout_s)
            return StartResult(pid, time.monotonic() - started, already_running=True)
        paths.pid_file.unlink(missing_ok=True)
        if port_open(endpoint.host, endpoint.port):
            if _subject_count(endpoint.url, 5.0) is not None:
                return StartResult(None, time.monotonic() - started, already_running=True)
            raise ServiceUnavailable(
                f"port {endpoint.port} is in use by something that is not a schema registry; "
                "stop it or set DLRW_SCHEMA_REGISTRY_URL to a free port"
            )
        java = find_java(MIN_JAVA, f"Apicurio Registry {apicurio_version()}")
        distribution = ensure_distribution(log)
        launch_started = time.monotonic()
        _write_properties(endpoint, paths)
        process = _launch(java, distribution, paths)
        wait_until_ready(
            _startup(endpoint, paths), process.pid, process, launch_started + timeout_s
        )
        return StartResult(process.pid, time.monotonic() - started, already_running=False)


def stop_registry(settings: Settings, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
    """Stop the local registry (SIGTERM, then SIGKILL after ``timeout_s``); returns the pid it
    stopped, or None if none was running."""
    paths = RegistryPaths.for_settings(settings)
    pid = _managed_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return None
    terminate(pid, timeout_s)
    paths.pid_file.unlink(missing_ok=True)
    return pid


def registry_status(settings: Settings) -> RegistryStatus:
    """Whether our registry runs (pid) and whether a registry answers at the URL (subjects)."""
    endpoint = parse_registry_url(settings.schema_registry_url)
    paths = RegistryPaths.for_settings(settings)
    subjects = None
    if port_open(endpoint.host, endpoint.port):
        subjects = _subject_count(endpoint.url, 5.0)
    return RegistryStatus(endpoint.url, paths.root, _managed_pid(paths), subjects)


def _registry_file(name: str) -> Path:
    path = REGISTRY_FILES / name
    if not path.is_file():
        raise DlrwError(f"{path} is missing: reinstall dlrw")
    return path


def _fetch(pom: Path, download: Path, log: Log) -> None:
    what = f"Apicurio Registry {apicurio_version()}"
    log(f"fetching {what} (about 160 MB) from Maven Central into {download.parent} (once)")
    started = time.monotonic()
    arguments = [
        "dependency:copy-dependencies",
        "-f",
        str(pom),
        f"-DoutputDirectory={download}",
        "-DincludeScope=runtime",
    ]
    run_maven(arguments, download / "mvn.log", what, log)
    log(f"fetched {what} in {time.monotonic() - started:.1f}s")


def _unpack(download: Path, target: Path, log: Log) -> None:
    archives = list(download.glob("*.tar.gz"))
    if len(archives) != 1:
        raise DlrwError(f"Maven finished but {download} holds {len(archives)} .tar.gz files, not 1")
    log(f"unpacking {archives[0].name}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(target, filter="data")
    if not (target / RUN_JAR).is_file():
        raise DlrwError(f"{archives[0]} has no {RUN_JAR}")


def _write_properties(endpoint: RegistryEndpoint, paths: RegistryPaths) -> None:
    template = string.Template(_registry_file("registry.properties.template").read_text())
    text = template.substitute(
        host=endpoint.host,
        port=endpoint.port,
        database=paths.database,
        registry_log=paths.registry_log,
    )
    paths.database.parent.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.properties.write_text(text)


def _launch(java: Path, distribution: Path, paths: RegistryPaths) -> subprocess.Popen[bytes]:
    command = [
        str(java),
        *JVM_OPTIONS,
        f"-Dquarkus.config.locations={paths.properties}",
        "-jar",
        str(distribution / RUN_JAR),
    ]
    return launch_detached(command, paths.console_log, paths.pid_file, paths.root)


def _managed_pid(paths: RegistryPaths) -> int | None:
    return managed_pid(paths.pid_file, RUN_JAR, str(paths.properties))


def _startup(endpoint: RegistryEndpoint, paths: RegistryPaths) -> Startup:
    return Startup(
        name="the registry",
        where=endpoint.url,
        answers=lambda: (
            port_open(endpoint.host, endpoint.port)
            and _subject_count(endpoint.url, 2.0) is not None
        ),
        last_problem=lambda: _last_problem(paths),
        log=paths.registry_log,
        pid_file=paths.pid_file,
        stop_timeout_s=DEFAULT_STOP_TIMEOUT_S,
        poll_s=0.2,
    )


def _last_problem(paths: RegistryPaths) -> str:
    """The last ERROR/exception line of this start's logs (each start rotates the log), else
    their last line."""
    lines: list[str] = []
    for log in (paths.registry_log, paths.console_log):
        with contextlib.suppress(OSError):
            lines += log.read_text(errors="replace").splitlines()
    lines = [line.strip() for line in lines if line.strip()]
    problems = [
        line
        for line in lines
        if re.search(r"\b(ERROR|FATAL)\b|Exception|^Error:", line) and not line.startswith("at ")
    ]
    return (problems or lines or ["(no log output)"])[-1][:400]


def _subject_count(url: str, timeout_s: float) -> int | None:
    """How many subjects the registry at ``url`` lists, or None if no registry answers there."""
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=timeout_s) as response:
            subjects = json.load(response)
    except (OSError, ValueError):
        return None
    return len(subjects) if isinstance(subjects, list) else None
