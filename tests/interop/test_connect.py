"""Kafka Connect in standalone mode, with Apicurio's registry-aware Avro converter, sinks every
receipt on a topic dlrw wrote in the registry format (schema v1, then v2) into a file."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from dlrw.ingest.config import Settings
from dlrw.ingest.local.processes import find_java, locked, read_text, run_maven
from dlrw.ingest.local.registry import CCOMPAT_PATH
from dlrw.models.events import DeliveryReceipt

from .conftest import V1_RECEIPTS

pytestmark = pytest.mark.broker

POM = Path(__file__).parent / "connect" / "pom.xml"
# Kafka 4.1 runs on Java 17.
MIN_JAVA = 17
# Apicurio's own API, which its converter asks; the ccompat API is beside it.
APICURIO_V2_PATH = "/apis/registry/v2"
_RECORD = re.compile(r"^Struct\{", re.MULTILINE)


@pytest.fixture(scope="module")
def connect_classpath() -> Path:
    """The folder of Kafka Connect's jars (tests/interop/connect/pom.xml), fetched with Maven
    into the user's cache once per version of that pom."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlrw"
    target = cache / f"kafka-connect-{digest[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    with locked(cache / f".{target.name}.lock"):
        if read_text(target / ".complete") != digest:
            target.mkdir(exist_ok=True)
            run_maven(
                [
                    "dependency:copy-dependencies",
                    "-f",
                    str(POM),
                    f"-DoutputDirectory={target}",
                    "-DincludeScope=runtime",
                ],
                target / "mvn.log",
                "Kafka Connect",
                log=lambda line: None,
            )
            (target / ".complete").write_text(digest)
    return target


def _write_config(settings: Settings, work: Path) -> list[Path]:
    """The worker's, the sink connector's and the logging properties, in ``work``."""
    apicurio = settings.schema_registry_url.removesuffix(CCOMPAT_PATH) + APICURIO_V2_PATH
    files = {
        "worker.properties": {
            "bootstrap.servers": settings.kafka_bootstrap,
            "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
            "value.converter": "io.apicurio.registry.utils.converter.AvroConverter",
            "value.converter.apicurio.registry.url": apicurio,
            # Read the 0x00 + 4-byte id framing; dlrw's ids are the registry's content ids.
            "value.converter.apicurio.registry.as-confluent": "true",
            "value.converter.apicurio.registry.use-id": "contentId",
            "offset.storage.file.filename": str(work / "offsets"),
            "offset.flush.interval.ms": "1000",
            "plugin.discovery": "only_scan",
            "listeners": "http://127.0.0.1:0",
        },
        "sink.properties": {
            "name": "receipts-file",
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1",
            "topics": settings.topic("receipt"),
            "file": str(work / "receipts.txt"),
            "consumer.override.auto.offset.reset": "earliest",
        },
        "log4j2.properties": {
            "rootLogger.level": "INFO",
            "rootLogger.appenderRef.file.ref": "file",
            "appender.file.type": "File",
            "appender.file.name": "file",
            "appender.file.fileName": str(work / "connect.log"),
            "appender.file.layout.type": "PatternLayout",
            "appender.file.layout.pattern": "%d %p %c{1} %m%n",
        },
    }
    for name, options in files.items():
        (work / name).write_text("".join(f"{k}={v}\n" for k, v in options.items()))
    return [work / name for name in files]


def _sunk(path: Path) -> list[str]:
    """The records the file sink wrote: each is a Struct's text, which may span lines."""
    content = path.read_text() if path.exists() else ""
    bounds = [*(m.start() for m in _RECORD.finditer(content)), len(content)]
    return [content[a:b] for a, b in itertools.pairwise(bounds)]


def test_file_sink_gets_every_receipt_of_both_schema_versions(
    evolved_receipts: tuple[Settings, list[DeliveryReceipt]],
    connect_classpath: Path,
    tmp_path: Path,
) -> None:
    settings, receipts = evolved_receipts
    worker, sink, logging = _write_config(settings, tmp_path)
    process = subprocess.Popen(
        [
            str(find_java(MIN_JAVA, "Kafka Connect")),
            "-Xmx512m",
            f"-Dlog4j2.configurationFile={logging}",
            "-cp",
            f"{connect_classpath}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(worker),
            str(sink),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while len(_sunk(tmp_path / "receipts.txt")) < len(receipts):
            log = read_text(tmp_path / "connect.log") or ""
            assert "Task threw an uncaught" not in log, log[-3000:]
            assert process.poll() is None and time.monotonic() < deadline, log[-3000:]
            time.sleep(1)
    finally:
        process.terminate()
        process.wait(timeout=60)

    records = _sunk(tmp_path / "receipts.txt")
    by_id = {re.search(r"event_id=([^,}]+)", r).group(1): r for r in records}  # type: ignore[union-attr]
    assert len(records) == len(by_id) == len(receipts)
    for index, receipt in enumerate(receipts):
        record = by_id[receipt.event_id]
        assert f"provider_message_id={receipt.provider_message_id}," in record
        if index >= V1_RECEIPTS:  # a v2 field, null in v1 records, so not printed there
            assert f"network_error_code={receipt.network_error_code}" in record
