"""`dlrw collect` under hostile connections: a 100 MB header, slow (slowloris) requests and too
many header fields, against the real service process; its memory, its health answers and the
topics are watched throughout."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dlrw.ingest.collect.server import REQUEST_TIMEOUT_S
from dlrw.ingest.config import Settings

from .conftest import SECRETS, Service, topic_size

pytestmark = pytest.mark.broker

MIB = 1024 * 1024
# The service's resident memory may grow this much over its idle size during the attack.
RSS_GROWTH_BOUND = 20 * MIB
# Each /healthz during the attack is answered within this.
HEALTHZ_BOUND_S = 1.0
# A slow connection is closed within this of REQUEST_TIMEOUT_S after it opened.
CLOSE_SLACK_S = 2.0


def _memory(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of process ``pid``, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _address(service: Service) -> tuple[str, int]:
    parts = urlsplit(service.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _stream_huge_header(address: tuple[str, int], result: dict[str, Any]) -> None:
    """Send a request whose one header is 100 MB long, as fast as the server takes it."""
    chunk = b"a" * MIB
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: collect\r\nX-Huge: ")
        sent = 0
        try:
            while sent < 100 * MIB:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
            result["answer"] = sock.recv(200)
        except OSError:
            pass  # the server closed the connection on us: what a huge header should get
        result["sent"] = sent


class _SlowClient:
    """One slow connection: idle, trickling its headers, or trickling its body, a byte at a
    time; ``closed_after`` is when the server closed it, seconds after it opened."""

    def __init__(self, address: tuple[str, int], kind: str) -> None:
        self.sock = socket.create_connection(address)
        self.opened = time.monotonic()
        self.closed_after: float | None = None
        if kind == "headers":
            self.sock.sendall(b"POST /receipts/vonage HTTP/1.1\r\nHost: collect\r\nX-Slow: ")
        elif kind == "body":
            self.sock.sendall(
                b"POST /receipts/vonage HTTP/1.1\r\nHost: collect\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
        self.trickles = kind != "idle"

    def step(self) -> None:
        """Trickle one byte, and note whether the server has closed the connection."""
        if self.closed_after is not None:
            return
        readable, _, _ = select.select([self.sock], [], [], 0)
        try:
            if readable:
                self.sock.recv(65536)  # EOF (or a last answer before it)
                raise ConnectionResetError
            if self.trickles:
                self.sock.send(b"a")
        except OSError:
            self.closed_after = time.monotonic() - self.opened
            self.sock.close()


def test_huge_headers_and_slow_connections_leave_the_service_healthy_and_small(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    with collect(broker_settings, **SECRETS) as service:
        address = _address(service)
        for _ in range(20):
            assert service.request("/healthz").status == 200
        idle_rss = _memory(service.pid)["VmRSS"]

        huge: dict[str, Any] = {}
        streamer = threading.Thread(target=_stream_huge_header, args=(address, huge))
        streamer.start()
        slow = [_SlowClient(address, kind) for kind in ["idle", "headers", "body"] * 16 + ["body"]]
        slow.append(_SlowClient(address, "headers"))
        health: list[float] = []
        deadline = time.monotonic() + REQUEST_TIMEOUT_S + CLOSE_SLACK_S + 1
        while time.monotonic() < deadline:
            for client in slow:
                client.step()
            started = time.monotonic()
            assert service.request("/healthz").status == 200
            health.append(time.monotonic() - started)
            time.sleep(0.2)
        streamer.join(timeout=30)
        memory = _memory(service.pid)
        ready = service.request("/readyz")
        log = service.log()

    assert len(slow) == 50
    assert not streamer.is_alive()
    assert huge["sent"] < 100 * MIB, huge  # refused long before its end, not read whole
    assert "answer" not in huge
    assert max(health) < HEALTHZ_BOUND_S, sorted(health)[-5:]
    assert len(health) >= 20
    growth = memory["VmHWM"] - idle_rss
    assert growth < RSS_GROWTH_BOUND, (
        f"peak RSS {memory['VmHWM'] / MIB:.0f} MiB, idle {idle_rss / MIB:.0f} MiB"
    )
    closed = [client.closed_after for client in slow]
    assert all(
        t is not None and REQUEST_TIMEOUT_S - 0.5 < t < REQUEST_TIMEOUT_S + CLOSE_SLACK_S
        for t in closed
    ), closed
    assert log.count(f"no whole request within {REQUEST_TIMEOUT_S:g}s") == 50
    assert log.count("POST /receipts/vonage 408") == 17  # the slow bodies
    assert ready.status == 200
    assert topic_size(broker_settings, "receipt") == 0
    assert topic_size(broker_settings, "deadletter") == 0


def test_more_header_fields_than_the_limit_are_refused(
    broker_settings: Settings, collect: Callable[..., Any]
) -> None:
    with collect(broker_settings, **SECRETS) as service:
        # urllib adds Host, Accept-Encoding, User-Agent and Connection.
        many = {f"X-Field-{n}": "1" for n in range(96)}
        at_limit = service.request("/healthz", headers=many)
        over = service.request("/healthz", headers=many | {"X-One-More": "1"})
    assert at_limit.status == 200
    assert over.status == 431
    assert over.body["error"] == "more than 100 header fields"
