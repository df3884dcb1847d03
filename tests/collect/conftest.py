"""Fixtures of the collect tests: `dlrw collect` running as a subprocess on a free port, HTTP
requests to it with the standard library, and reading topics back from the real broker."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from dlrw.ingest.collect.signatures import twilio_signature, vonage_signature
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import consumer
from tests.cli import env_for, start_dlrw, stop

SECRETS = {
    "DLRW_TWILIO_AUTH_TOKEN": "twilio-test-token",
    "DLRW_VONAGE_SIGNATURE_SECRET": "vonage-test-secret",
    "DLRW_COLLECT_SHARED_SECRET": "shared-test-secret",
    # Twilio signs the URL it called, which a proxy in front of us rewrites.
    "DLRW_COLLECT_PUBLIC_URL": "https://dlrw.example.com/hooks",
}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def twilio_headers(body: str, url: str | None = None) -> dict[str, str]:
    """Headers of ``body`` as Twilio posts it to the service, signed with the test token."""
    url = url or SECRETS["DLRW_COLLECT_PUBLIC_URL"] + "/receipts/twilio"
    params = parse_qsl(body, keep_blank_values=True)
    signature = twilio_signature(url, params, SECRETS["DLRW_TWILIO_AUTH_TOKEN"])
    return FORM | {"X-Twilio-Signature": signature}


def vonage_signed(params: dict[str, Any], timestamp: float | None = None) -> dict[str, Any]:
    """``params`` with the fields Vonage adds to a signed callback (timestamp default: now)."""
    when = time.time() if timestamp is None else timestamp
    signed = params | {"timestamp": str(int(when)), "nonce": "6d8b5f0c-test"}
    signed["sig"] = vonage_signature(signed, SECRETS["DLRW_VONAGE_SIGNATURE_SECRET"])
    return signed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


@dataclass
class Service:
    """A running `dlrw collect`: its base URL, its stderr (the request log) and its process id."""

    url: str
    log_path: Path
    pid: int

    def request(
        self,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> Reply:
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(
            self.url + path, data=data, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return Reply(resp.status, json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, json.loads(exc.read()))

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def run_collect(
    settings: Settings, tmp_path: Path, *args: str, **env_overrides: str
) -> Iterator[Service]:
    """`dlrw collect ARGS` for ``settings`` in a subprocess, stopped (SIGTERM) afterwards."""
    port = free_port()
    log_path = tmp_path / f"collect-{port}.log"
    with open(log_path, "w") as log:
        process = start_dlrw(
            ["collect", "--port", str(port), *args],
            env_for(settings, **env_overrides),
            cwd=tmp_path,  # no stray .env file
            stdout=log,
            stderr=log,
        )
    service = Service(f"http://127.0.0.1:{port}", log_path, process.pid)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"dlrw collect exited {process.returncode}:\n{service.log()}")
            try:
                if service.request("/healthz").status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"dlrw collect did not start:\n{service.log()}")
                time.sleep(0.1)
        yield service
    finally:
        stop(process, timeout=15)


@pytest.fixture
def collect(
    tmp_path: Path,
) -> Callable[..., Any]:
    """``collect(settings, **env)``: a context manager running the service."""
    return lambda settings, **env: run_collect(settings, tmp_path, **env)


def read_topic(settings: Settings, event_type: str, idle_ms: int = 2_000) -> list[ConsumerRecord]:
    """Every record on the topic of ``event_type``, read until it has been idle ``idle_ms``."""
    reader = consumer(settings, [settings.topic(event_type)], None, consumer_timeout_ms=idle_ms)
    try:
        return list(reader)
    finally:
        reader.close()


def topic_size(settings: Settings, event_type: str) -> int:
    """How many records the topic of ``event_type`` holds (its end offsets): exact, no waiting."""
    reader = consumer(settings, [], None)
    try:
        topic = settings.topic(event_type)
        partitions = reader.partitions_for_topic(topic) or set()
        ends = reader.end_offsets([TopicPartition(topic, p) for p in partitions])
        assert ends, f"no partitions for {topic}"
        return sum(ends.values())
    finally:
        reader.close()
