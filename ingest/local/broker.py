"""The local Kafka cluster: one Apache Kafka 4.x node, or several, in KRaft mode, each node a
broker and a controller in one background Java process; the jars are fetched once from Maven
Central.

Ports, from the port P of DLRW_KAFKA_BOOTSTRAP's first entry: with N nodes, node i (1..N)
listens for clients at P+i-1 and for the other controllers at P+N+i-1 (one node: P and P+1).
Every node is a voter of the controller quorum, so a cluster of three keeps working while any
one of its nodes is down.

Layout under ``$DLRW_DATA_DIR/kafka``: for one node, ``server.properties`` (generated from the
template in ``ingest/local/broker_files`` on every start), ``data/`` (log dirs, KRaft metadata),
``logs/server.log`` (log4j), ``logs/console.log`` (JVM stdout/stderr) and ``broker.pid``; for
several, the same in ``node-1/``, ``node-2/``, ... The data dir keeps the size it was first
started with.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, DlrwError, ServiceUnavailable
from dlrw.ingest.local.processes import (
    alive,
    launch_detached,
    locked,
    managed_pid,
    port_open,
    read_text,
    run_maven,
    terminate,
)
from dlrw.ingest.resources import package_path

__all__ = [
    "BROKER_FILES",
    "DEFAULT_START_TIMEOUT_S",
    "DEFAULT_STOP_TIMEOUT_S",
    "MAX_BROKERS",
    "BrokerNode",
    "BrokerPaths",
    "BrokerStart",
    "BrokerStatus",
    "Endpoint",
    "LocalCluster",
    "broker_status",
    "ensure_jars",
    "find_java",
    "jar_cache_dir",
    "kafka_version",
    "local_cluster",
    "parse_bootstrap",
    "start_broker",
    "stop_broker",
]

BROKER_FILES = package_path("dlrw.ingest.local", "broker_files")
DEFAULT_START_TIMEOUT_S = 90.0
DEFAULT_STOP_TIMEOUT_S = 30.0
# A local cluster is for trying replication and failures, not for capacity.
MAX_BROKERS = 9
MIN_JAVA = 17
MAIN_CLASS = "kafka.Kafka"
JVM_OPTIONS = ["-Xmx512m", "-Xms128m", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"}
_JAR_MARKER = ".dlrw-complete"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Endpoint:
    """The host and port DLRW_KAFKA_BOOTSTRAP names first."""

    host: str
    port: int


@dataclass(frozen=True)
class BrokerPaths:
    """Files of one node under ``$DLRW_DATA_DIR/kafka`` (or its ``node-<id>`` folder)."""

    root: Path

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.root / "data"

    @property
    def meta(self) -> Path:
        """Written by the storage format: the cluster id and this node's id."""
        return self.log_dirs / "meta.properties"

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
class BrokerNode:
    """One node of the local cluster: a broker and a KRaft controller in one process."""

    node_id: int
    host: str
    port: int
    controller_port: int
    paths: BrokerPaths

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LocalCluster:
    """The nodes ``dlrw broker`` runs for a data dir and a bootstrap address."""

    root: Path
    nodes: tuple[BrokerNode, ...]

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def bootstrap(self) -> str:
        """Every node's client address: what clients should be given, so that they reach the
        cluster while any one node is down."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def replication(self) -> int:
        """The replication factor of the broker's own topics (consumer offsets, transactions)."""
        return min(self.size, 3)

    def node(self, node_id: int) -> BrokerNode:
        """The node with this id; ``ConfigError`` if the cluster has none."""
        if not 1 <= node_id <= self.size:
            raise ConfigError(
                f"--node {node_id}: the cluster in {self.root} has nodes 1-{self.size}"
                if self.size > 1
                else f"--node {node_id}: the broker in {self.root} is a single node (1)"
            )
        return self.nodes[node_id - 1]


@dataclass(frozen=True)
class BrokerStart:
    """What ``start_broker`` did: the pid of every node (none when a broker dlrw did not start
    answered at the bootstrap address) and the ids of the nodes it launched."""

    cluster: LocalCluster
    pids: Mapping[int, int]
    launched: tuple[int, ...]
    seconds: float


@dataclass(frozen=True)
class BrokerStatus:
    """The local cluster as ``dlrw broker status`` reports it: our process of each node (None
    where it does not run) and how many topics the cluster lists (None if nothing answers)."""

    cluster: LocalCluster
    pids: Mapping[int, int | None]
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


def local_cluster(settings: Settings, brokers: int | None = None) -> LocalCluster:
    """The local cluster of ``brokers`` nodes; None means the size the data dir was started
    with, else one. ``ConfigError`` if the data dir holds a cluster of another size."""
    root = settings.data_dir / "kafka"
    recorded = _recorded_size(root)
    if brokers is None:
        brokers = recorded or 1
    if not 1 <= brokers <= MAX_BROKERS:
        raise ConfigError(f"--brokers must be between 1 and {MAX_BROKERS}, got {brokers}")
    if recorded is not None and recorded != brokers:
        raise ConfigError(
            f"{root} holds the data of {_brokers(recorded)}, not {brokers}; start it with "
            f"--brokers {recorded}, or remove {root} (its topics go with it) or set "
            "DLRW_DATA_DIR to start another"
        )
    endpoint = parse_bootstrap(settings.kafka_bootstrap)
    if endpoint.port + 2 * brokers - 1 > 65535:
        raise ConfigError(
            f"DLRW_KAFKA_BOOTSTRAP port {endpoint.port} leaves no room for the {2 * brokers} "
            "ports the cluster takes from it"
        )
    nodes = tuple(
        BrokerNode(
            node_id=i,
            host=endpoint.host,
            port=endpoint.port + i - 1,
            controller_port=endpoint.port + brokers + i - 1,
            paths=BrokerPaths(root if brokers == 1 else root / f"node-{i}"),
        )
        for i in range(1, brokers + 1)
    )
    return LocalCluster(root, nodes)


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
    if read_text(marker) == digest:
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with locked(cache.parent / f".{cache.name}.lock"):
        if read_text(marker) == digest:
            return cache  # another process fetched them while we waited
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        _fetch_jars(pom, cache, log)
        if not any(cache.glob(f"kafka_*-{kafka_version()}.jar")):
            raise DlrwError(f"Maven finished but no Kafka broker jar is in {cache}")
        marker.write_text(digest)
    return cache


def start_broker(
    settings: Settings,
    brokers: int | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    log: Log = print,
) -> BrokerStart:
    """Start the nodes of the local cluster that do not run (all of them at first), and return
    once every node answers and, with several, every partition has all its replicas in sync:
    from then on any one node may be stopped. ``brokers`` as for ``local_cluster``."""
    started = time.monotonic()
    cluster = local_cluster(settings, brokers)
    cluster.root.mkdir(parents=True, exist_ok=True)
    with locked(cluster.root / ".lock"):
        running = _running(cluster)
        missing = [node for node in cluster.nodes if node.node_id not in running]
        if not missing:
            # Ours, maybe still starting (a concurrent `start`): wait for it like for a new one.
            _wait_ready(cluster, running, {}, started + timeout_s)
            return BrokerStart(cluster, running, (), time.monotonic() - started)
        if cluster.size == 1 and _foreign_broker(missing[0]):
            return BrokerStart(cluster, {}, (), time.monotonic() - started)
        for node in missing:
            _check_ports_free(node, cluster)
        java = find_java()
        jars = ensure_jars(log)
        launch_started = time.monotonic()
        cluster_id = _cluster_id(cluster)
        for node in cluster.nodes:
            node.paths.root.mkdir(parents=True, exist_ok=True)  # the data dir's size, first
        for node in missing:
            _write_properties(node, cluster)
        _format_storage(java, jars, missing, cluster_id)
        launched: dict[int, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for node in missing:
                log_offset = _size(node.paths)
                launched[node.node_id] = (_launch(java, jars, node.paths), log_offset)
        except BaseException:
            _stop_launched(cluster, launched)
            raise
        _wait_ready(cluster, running, launched, launch_started + timeout_s)
        pids = running | {node_id: process.pid for node_id, (process, _) in launched.items()}
        return BrokerStart(
            cluster, dict(sorted(pids.items())), tuple(launched), time.monotonic() - started
        )


def stop_broker(
    settings: Settings, timeout_s: float = DEFAULT_STOP_TIMEOUT_S, node: int | None = None
) -> dict[int, int]:
    """Stop the local cluster's nodes, or only node ``node`` (SIGTERM, then SIGKILL after
    ``timeout_s``); returns the pid of each node it stopped, by node id."""
    cluster = local_cluster(settings)
    nodes = cluster.nodes if node is None else (cluster.node(node),)
    pids = {n.node_id: pid for n in nodes if (pid := _managed_pid(n.paths)) is not None}
    # All at once: a node stopped alone waits for a controller quorum the others make.
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in pids.values():
        terminate(pid, timeout_s)
    for n in nodes:
        n.paths.pid_file.unlink(missing_ok=True)
    return pids


def broker_status(settings: Settings) -> BrokerStatus:
    """Which nodes of the local cluster run (pids) and whether anything answers at their
    addresses (topics)."""
    cluster = local_cluster(settings)
    pids = {node.node_id: _managed_pid(node.paths) for node in cluster.nodes}
    topics = None
    if any(port_open(node.host, node.port) for node in cluster.nodes):
        topics = _topic_count(cluster.bootstrap, 5.0)
    return BrokerStatus(cluster, pids, topics)


def _brokers(count: int) -> str:
    return "one broker" if count == 1 else f"a cluster of {count} brokers"


def _recorded_size(root: Path) -> int | None:
    """The number of nodes the data dir was made for: its ``node-<id>`` folders, or one node
    formatted at its top; None for a new data dir."""
    folders = [path for path in root.glob("node-*") if path.is_dir()]
    if folders:
        return len(folders)
    return 1 if BrokerPaths(root).meta.exists() else None


def _broker_file(name: str) -> Path:
    path = BROKER_FILES / name
    if not path.is_file():
        raise DlrwError(f"{path} is missing: run dlrw from a checkout of the project")
    return path


def _fetch_jars(pom: Path, cache: Path, log: Log) -> None:
    what = f"Apache Kafka {kafka_version()} jars"
    log(f"fetching {what} from Maven Central into {cache} (once)")
    started = time.monotonic()
    arguments = [
        "dependency:copy-dependencies",
        "-f",
        str(pom),
        f"-DoutputDirectory={cache}",
        "-DincludeScope=runtime",
    ]
    run_maven(arguments, cache / "mvn.log", what, log)
    jars = len(list(cache.glob("*.jar")))
    log(f"fetched {jars} jars in {time.monotonic() - started:.1f}s")


def _running(cluster: LocalCluster) -> dict[int, int]:
    """The pid of each node that runs, by node id."""
    pids = {node.node_id: _managed_pid(node.paths) for node in cluster.nodes}
    return {node_id: pid for node_id, pid in pids.items() if pid is not None}


def _foreign_broker(node: BrokerNode) -> bool:
    """Whether a Kafka broker dlrw did not start answers at the node's address."""
    node.paths.pid_file.unlink(missing_ok=True)
    return port_open(node.host, node.port) and _topic_count(node.bootstrap, 5.0) is not None


def _check_ports_free(node: BrokerNode, cluster: LocalCluster) -> None:
    if port_open(node.host, node.port):
        what = "something that is not a Kafka broker" if cluster.size == 1 else "another process"
        raise ServiceUnavailable(
            f"port {node.port}{_whose(node, cluster)} is in use by {what}; stop it or set "
            "DLRW_KAFKA_BOOTSTRAP to a free port"
        )
    if port_open(node.host, node.controller_port):
        where = (
            "the controller port, bootstrap port + 1"
            if cluster.size == 1
            else f"node {node.node_id}'s controller port"
        )
        raise ServiceUnavailable(
            f"port {node.controller_port} ({where}) is in use; stop what holds it or set "
            "DLRW_KAFKA_BOOTSTRAP to another port"
        )


def _whose(node: BrokerNode, cluster: LocalCluster) -> str:
    return "" if cluster.size == 1 else f" (node {node.node_id})"


def _write_properties(node: BrokerNode, cluster: LocalCluster) -> None:
    template = string.Template(_broker_file("server.properties.template").read_text())
    voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in cluster.nodes)
    text = template.substitute(
        node_id=node.node_id,
        voters=voters,
        host=node.host,
        port=node.port,
        controller_port=node.controller_port,
        log_dirs=node.paths.log_dirs,
        replication=cluster.replication,
        min_insync=_min_insync(cluster.replication),
    )
    node.paths.log_dirs.mkdir(parents=True, exist_ok=True)
    node.paths.logs.mkdir(parents=True, exist_ok=True)
    node.paths.properties.write_text(text)


def _min_insync(replication: int) -> int:
    """Two in-sync replicas from three on: a write survives the loss of any one node."""
    return 2 if replication >= 3 else 1


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


def _cluster_id(cluster: LocalCluster) -> str:
    """The id the cluster's formatted nodes carry, else a new random one: a UUID in unpadded
    URL-safe base64, as `kafka-storage random-uuid` prints it (never starting with '-', which a
    CLI would take for an option)."""
    for node in cluster.nodes:
        match = re.search(r"^cluster\.id=(\S+)$", read_text(node.paths.meta) or "", re.MULTILINE)
        if match:
            return match.group(1)
    while True:
        text = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_storage(java: Path, jars: Path, nodes: list[BrokerNode], cluster_id: str) -> None:
    """Format the storage of the nodes that have none, all at once (a JVM each)."""
    formats = {
        node: subprocess.Popen(
            [
                *_java_command(java, jars, node.paths, "kafka.tools.StorageTool"),
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.paths.properties),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in nodes
        if not node.paths.meta.exists()
    }
    failed = []
    for node, process in formats.items():
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            lines = output.strip().splitlines() or ["no output"]
            failed.append(f"{node.paths.log_dirs}: {lines[-1].strip()[:300]}")
    if failed:
        raise ServiceUnavailable(f"formatting the broker storage failed in {'; '.join(failed)}")


def _launch(java: Path, jars: Path, paths: BrokerPaths) -> subprocess.Popen[bytes]:
    command = [*_java_command(java, jars, paths, MAIN_CLASS), str(paths.properties)]
    return launch_detached(command, paths.console_log, paths.pid_file, paths.root)


def _size(paths: BrokerPaths) -> int:
    try:
        return paths.server_log.stat().st_size
    except OSError:
        return 0


def _wait_ready(
    cluster: LocalCluster,
    running: Mapping[int, int],
    launched: Mapping[int, tuple[subprocess.Popen[bytes], int]],
    deadline: float,
) -> None:
    """Wait until every node is a live broker of the cluster and no partition lacks an in-sync
    replica; the nodes ``launched`` here are stopped if one of them exits or time runs out."""
    expected = {node.node_id for node in cluster.nodes}
    while True:
        for node in cluster.nodes:
            if node.node_id in launched:
                process, log_offset = launched[node.node_id]
                exited = process.poll() is not None
                code = f" (exit {process.returncode})" if exited else ""
            else:
                exited = node.node_id in running and not alive(running[node.node_id])
                code, log_offset = "", 0
            if exited:
                node.paths.pid_file.unlink(missing_ok=True)
                _stop_launched(cluster, launched)
                raise ServiceUnavailable(
                    f"the broker{_whose(node, cluster)} exited during startup{code}: "
                    f"{_last_problem(node.paths, log_offset)} (log: {node.paths.server_log})"
                )
        # A node killed a moment ago may still be listed: the new process must answer itself.
        answering = all(
            port_open(node.host, node.port) and _topic_count(node.bootstrap, 2.0) is not None
            for node in cluster.nodes
            if node.node_id in launched
        )
        health = _health(cluster.bootstrap, 2.0) if answering else None
        if health is not None and health[0] >= expected and health[1] == 0:
            return
        if time.monotonic() >= deadline:
            _stop_launched(cluster, launched)
            raise ServiceUnavailable(_not_ready(cluster, launched, health))
        time.sleep(0.5)


def _not_ready(
    cluster: LocalCluster,
    launched: Mapping[int, tuple[subprocess.Popen[bytes], int]],
    health: tuple[frozenset[int], int] | None,
) -> str:
    stopped = " and was stopped" if cluster.size == 1 else "; the nodes started were stopped"
    if health is None or cluster.size == 1:
        node = cluster.nodes[min(launched, default=1) - 1]
        offset = launched[node.node_id][1] if node.node_id in launched else 0
        return (
            f"the broker did not answer at {cluster.bootstrap} in time{stopped}; last log line: "
            f"{_last_problem(node.paths, offset)} (log: {node.paths.server_log}); a slow machine "
            "may need a larger --timeout"
        )
    absent = sorted({node.node_id for node in cluster.nodes} - health[0])
    problem = (
        f"node(s) {', '.join(map(str, absent))} did not join"
        if absent
        else f"{health[1]} partition(s) still lack an in-sync replica"
    )
    return (
        f"the cluster at {cluster.bootstrap} was not ready in time ({problem}){stopped}; "
        f"see the nodes' logs/server.log under {cluster.root}; a slow machine may need a "
        "larger --timeout"
    )


def _stop_launched(
    cluster: LocalCluster, launched: Mapping[int, tuple[subprocess.Popen[bytes], int]]
) -> None:
    for node_id, (process, _) in launched.items():
        terminate(process.pid, DEFAULT_STOP_TIMEOUT_S)
        cluster.nodes[node_id - 1].paths.pid_file.unlink(missing_ok=True)


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
    """The pid in the node's pid file if that process is alive and is its broker."""
    return managed_pid(paths.pid_file, MAIN_CLASS, str(paths.properties))


def _admin(bootstrap: str, timeout_s: float) -> KafkaAdminClient | None:
    timeout_ms = int(timeout_s * 1000)
    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="dlrw-broker-check",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError:
        return None


def _topic_count(bootstrap: str, timeout_s: float) -> int | None:
    """How many topics the broker at ``bootstrap`` lists, or None if no Kafka answers there."""
    admin = _admin(bootstrap, timeout_s)
    if admin is None:
        return None
    try:
        return len(admin.list_topics())
    except KafkaError:
        return None
    finally:
        admin.close()


def _health(bootstrap: str, timeout_s: float) -> tuple[frozenset[int], int] | None:
    """The ids of the cluster's live brokers and how many partitions have fewer in-sync replicas
    than replicas; None if no Kafka answers at ``bootstrap``."""
    admin = _admin(bootstrap, timeout_s)
    if admin is None:
        return None
    try:
        brokers = frozenset(
            b["broker_id"] for b in admin.describe_cluster()["brokers"] if not b.get("is_fenced")
        )
        lagging = sum(
            len(p["isr_nodes"]) < len(p["replica_nodes"])
            for topic in admin.describe_topics()
            for p in topic["partitions"]
        )
        return brokers, lagging
    except KafkaError:
        return None
    finally:
        admin.close()
