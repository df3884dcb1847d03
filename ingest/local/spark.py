"""The local Spark warehouse: a Spark Thrift server in local mode (``local[2]``), run from the
pinned pyspark's own ``spark-submit`` as a background Java process, with spark-avro and Delta
Lake jars fetched once from Maven Central.

dbt (a subprocess of ``dlrw build``) and dlrw itself are separate processes over one Derby
metastore, which admits a single process: a Thrift server they all connect to is the one way to
share it. ``DLRW_WAREHOUSE_URL=spark://HOST:PORT[/DATABASE]`` names the server.

Layout under ``$DLRW_DATA_DIR/spark``: ``metastore_db/`` (Derby: the catalog), ``warehouse/``
(the Delta tables dbt builds), ``logs/console.log`` (JVM stdout/stderr) and ``spark.pid``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
from dlrw.ingest.warehouse.spark import SparkUrl, is_spark_url, parse_spark_url

__all__ = [
    "DEFAULT_START_TIMEOUT_S",
    "DEFAULT_STOP_TIMEOUT_S",
    "SERVER_SETTINGS",
    "SPARK_FILES",
    "SparkPaths",
    "SparkStatus",
    "ensure_jars",
    "jar_dir",
    "local_endpoint",
    "spark_answers",
    "spark_status",
    "start_spark",
    "stop_spark",
]

SPARK_FILES = package_path("dlrw.ingest.local", "spark_files")
DEFAULT_START_TIMEOUT_S = 180.0
DEFAULT_STOP_TIMEOUT_S = 30.0
MIN_JAVA = 17  # Spark 4.0's floor
MAIN_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
DRIVER_MEMORY = "2g"
# Spark settings of the local server; the README gives the same ones for a cluster.
SERVER_SETTINGS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Partitions of an external table over the store are found by listing its folders; a
    # metastore-managed partition list would need MSCK REPAIR for every new date.
    "spark.sql.hive.manageFilesourcePartitions": "false",
    # Raw timestamps are UTC without time zone, as on DuckDB and PostgreSQL.
    "spark.sql.session.timeZone": "UTC",
    # Two cores and small data: the default 200 partitions would be 200 tiny tasks per shuffle.
    "spark.sql.shuffle.partitions": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.ui.enabled": "false",
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"}
_JAR_MARKER = ".dlrw-complete"

Log = Callable[[str], None]


@dataclass(frozen=True)
class SparkPaths:
    """Files of the local Spark server under ``$DLRW_DATA_DIR/spark``."""

    root: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> SparkPaths:
        """The paths for the data dir of ``settings``."""
        return cls(settings.data_dir / "spark")

    @property
    def metastore(self) -> Path:
        return self.root / "metastore_db"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "spark.pid"


@dataclass(frozen=True)
class SparkStatus:
    """The local Spark server as ``dlrw spark status`` reports it."""

    url: str
    data: Path
    pid: int | None
    answering: bool


def local_endpoint(settings: Settings) -> SparkUrl:
    """The Thrift server DLRW_WAREHOUSE_URL names, which must be on this machine."""
    url = settings.warehouse_url
    if not is_spark_url(url):
        raise ConfigError(
            f"DLRW_WAREHOUSE_URL={url!r} is not a spark:// URL; `dlrw spark` runs the server "
            "that spark://127.0.0.1:10000 names"
        )
    endpoint = parse_spark_url(url)
    if endpoint.host not in _LOCAL_HOSTS and endpoint.host != socket.gethostname():
        raise ConfigError(
            f"DLRW_WAREHOUSE_URL={url!r} is not on this machine; `dlrw spark` only runs a local "
            "Spark server"
        )
    return endpoint


def jar_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/dlrw/spark-jars-<spark>-delta-<delta>``."""
    pom = _spark_file("pom.xml").read_text()
    spark, delta = (_pom_property(pom, name) for name in ("spark.version", "delta.version"))
    return _cache_root() / f"spark-jars-{spark}-delta-{delta}"


def ensure_jars(log: Log) -> list[Path]:
    """The spark-avro and Delta jars, fetched with Maven first if missing, partial or from
    another pom."""
    target = jar_dir()
    pom = _spark_file("pom.xml")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = target / _JAR_MARKER
    if read_text(marker) != digest:
        target.parent.mkdir(parents=True, exist_ok=True)
        with locked(target.parent / f".{target.name}.lock"):
            if read_text(marker) != digest:  # else another process fetched them while we waited
                _fetch(pom, target, log)
                marker.write_text(digest)
    return sorted(target.glob("*.jar"))


def start_spark(
    settings: Settings, timeout_s: float = DEFAULT_START_TIMEOUT_S, log: Log = print
) -> StartResult:
    """Start the local Thrift server unless it runs, and return once it answers a query."""
    started = time.monotonic()
    endpoint = local_endpoint(settings)
    paths = SparkPaths.for_settings(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    with locked(paths.root / ".lock"):
        pid = _managed_pid(paths)
        if pid is not None:
            # Ours, maybe still starting (a concurrent `start`): wait for it like for a new one.
            wait_until_ready(_startup(endpoint, paths), pid, None, started + timeout_s)
            return StartResult(pid, time.monotonic() - started, already_running=True)
        paths.pid_file.unlink(missing_ok=True)
        if port_open(endpoint.host, endpoint.port):
            if spark_answers(endpoint):
                return StartResult(None, time.monotonic() - started, already_running=True)
            raise ServiceUnavailable(
                f"port {endpoint.port} is in use by something that is not a Spark Thrift server; "
                "stop it or set DLRW_WAREHOUSE_URL to a free port"
            )
        submit = _spark_submit()
        java = find_java(MIN_JAVA, "Spark 4.0")
        jars = ensure_jars(log)
        launch_started = time.monotonic()
        process = _launch(submit, java, jars, endpoint, paths)
        wait_until_ready(
            _startup(endpoint, paths), process.pid, process, launch_started + timeout_s
        )
        return StartResult(process.pid, time.monotonic() - started, already_running=False)


def stop_spark(settings: Settings, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
    """Stop the local server (SIGTERM, then SIGKILL after ``timeout_s``); returns the pid it
    stopped, or None if none was running."""
    local_endpoint(settings)
    paths = SparkPaths.for_settings(settings)
    pid = _managed_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return None
    terminate(pid, timeout_s)
    paths.pid_file.unlink(missing_ok=True)
    return pid


def spark_status(settings: Settings) -> SparkStatus:
    """Whether our server runs (pid) and whether a Thrift server answers at the URL."""
    endpoint = local_endpoint(settings)
    paths = SparkPaths.for_settings(settings)
    answering = port_open(endpoint.host, endpoint.port) and spark_answers(endpoint)
    return SparkStatus(settings.warehouse_url, paths.root, _managed_pid(paths), answering)


def spark_answers(endpoint: SparkUrl) -> bool:
    """Whether a Thrift server at the endpoint runs a query."""
    from pyhive import hive
    from thrift.Thrift import TException

    try:
        with contextlib.closing(hive.connect(endpoint.host, port=endpoint.port)) as connection:
            cursor = connection.cursor()
            cursor.execute("select 1")
            return bool(cursor.fetchall())
    except (OSError, TException, hive.Error):
        return False


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlrw"


def _pom_property(pom: str, name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom)
    if not match:
        raise DlrwError(f"no <{name}> in {SPARK_FILES / 'pom.xml'}")
    return match.group(1).strip()


def _spark_file(name: str) -> Path:
    path = SPARK_FILES / name
    if not path.is_file():
        raise DlrwError(f"{path} is missing: reinstall dlrw")
    return path


def _spark_submit() -> Path:
    """pyspark's ``bin/spark-submit``: the pinned pyspark wheel is the Spark distribution."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ServiceUnavailable(
            "pyspark is not installed; install dlrw's pinned dependencies "
            "(pip install -c constraints.txt -e .)"
        )
    return Path(spec.origin).parent / "bin" / "spark-submit"


def _fetch(pom: Path, target: Path, log: Log) -> None:
    what = "the spark-avro and Delta Lake jars"
    log(f"fetching {what} (about 7 MB) from Maven Central into {target} (once)")
    started = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    arguments = [
        "dependency:copy-dependencies",
        "-f",
        str(pom),
        f"-DoutputDirectory={target}",
        "-DexcludeTransitive=true",
    ]
    run_maven(arguments, target / "mvn.log", what, log)
    log(f"fetched {what} in {time.monotonic() - started:.1f}s")


def _launch(
    submit: Path, java: Path, jars: list[Path], endpoint: SparkUrl, paths: SparkPaths
) -> subprocess.Popen[bytes]:
    settings = {
        **SERVER_SETTINGS,
        "spark.sql.warehouse.dir": str(paths.warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={paths.metastore};create=true"
        ),
    }
    command = [
        str(submit),
        "--class",
        MAIN_CLASS,
        "--name",
        "dlrw-spark",
        "--master",
        "local[2]",
        "--driver-memory",
        DRIVER_MEMORY,
        # The driver's own classpath: with --jars, Delta's catalog is not found at startup.
        "--driver-class-path",
        ":".join(str(jar) for jar in jars),
        "--driver-java-options",
        f"-Dderby.system.home={paths.root}",
    ]
    for name, value in settings.items():
        command += ["--conf", f"{name}={value}"]
    command += [
        "--hiveconf",
        f"hive.server2.thrift.port={endpoint.port}",
        "--hiveconf",
        f"hive.server2.thrift.bind.host={endpoint.host}",
        "spark-internal",
    ]
    paths.logs.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "JAVA_HOME": str(java.resolve().parent.parent)}
    return launch_detached(command, paths.console_log, paths.pid_file, paths.root, environment)


def _managed_pid(paths: SparkPaths) -> int | None:
    return managed_pid(paths.pid_file, MAIN_CLASS, str(paths.warehouse))


def _startup(endpoint: SparkUrl, paths: SparkPaths) -> Startup:
    return Startup(
        name="the Spark server",
        where=f"{endpoint.host}:{endpoint.port}",
        answers=lambda: port_open(endpoint.host, endpoint.port) and spark_answers(endpoint),
        last_problem=lambda: _last_problem(paths),
        log=paths.console_log,
        pid_file=paths.pid_file,
        stop_timeout_s=DEFAULT_STOP_TIMEOUT_S,
        poll_s=0.5,
    )


def _last_problem(paths: SparkPaths) -> str:
    """The last ERROR/exception line of the console log, else its last line."""
    text = read_text(paths.console_log) or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    problems = [
        line
        for line in lines
        if re.search(r"\b(ERROR|FATAL)\b|Exception|^Error:", line) and not line.startswith("at ")
    ]
    return (problems or lines or ["(no log output)"])[-1][:400]
