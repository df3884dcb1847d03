"""Load test of `dlrw collect` from a second process on loopback: N callbacks (a round-robin of
Twilio, SMPP, Vonage and Infobip receipts, each with its own message id) over C keep-alive
connections; prints requests/s and p50/p90/p99 latency, and checks that every 200 is on the
receipts topic.

    .venv/bin/python bench/collect.py -n 20000 -c 64            # starts its own service
    .venv/bin/python bench/collect.py --url http://127.0.0.1:8088 -n 5000 -c 32

A request's latency includes Kafka's acknowledgement (acks=all) of its receipts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlrw.ingest.config import Settings  # noqa: E402
from dlrw.ingest.kafka.client import consumer  # noqa: E402
from dlrw.ingest.kafka.topics import create_topics, delete_topics  # noqa: E402

INFOBIP = {
    "results": [
        {
            "bulkId": "BULK-ID-123-xyz",
            "messageId": "",
            "to": "41793026727",
            "sentAt": "2019-11-09T16:00:00.000+0000",
            "doneAt": "2019-11-09T16:00:00.000+0000",
            "smsCount": 1,
            "mccMnc": "22801",
            "price": {"pricePerMessage": 0.01, "currency": "EUR"},
            "status": {
                "groupId": 3,
                "groupName": "DELIVERED",
                "id": 5,
                "name": "DELIVERED_TO_HANDSET",
            },
            "error": {"groupId": 0, "groupName": "Ok", "id": 0, "name": "NO_ERROR"},
        }
    ]
}


def _request(n: int, host: str) -> bytes:
    """The n-th callback as raw HTTP/1.1 bytes."""
    kind = n % 4
    if kind == 0:
        sid = f"SM{n:032x}"
        path, ctype = "/receipts/twilio", "application/x-www-form-urlencoded"
        body = (
            f"AccountSid=ACxxx&From=%2B15017250604&To=%2B447700900123&MessageSid={sid}"
            f"&MessageStatus=delivered&SmsSid={sid}&SmsStatus=delivered"
            "&RawDlrDoneDate=2403121016&ApiVersion=2010-04-01"
        )
    elif kind == 1:
        path, ctype = "/receipts/smpp", "text/plain"
        body = (
            f"id:{7_000_000_000 + n} sub:001 dlvrd:001 submit date:2403121015 "
            "done date:2403121016 stat:DELIVRD err:000 text:Your code is 4411"
        )
    elif kind == 2:
        path, ctype = "/receipts/vonage", "application/json"
        body = json.dumps(
            {
                "err-code": "0",
                "message-timestamp": "2024-03-12 10:16:29",
                "messageId": f"0B{n:014X}",
                "msisdn": "447547232824",
                "network-code": "23410",
                "price": "0.03330000",
                "scts": "2403121016",
                "status": "delivered",
                "to": "ACME",
            }
        )
    else:
        path, ctype = "/receipts/infobip", "application/json"
        document = json.loads(json.dumps(INFOBIP))
        document["results"][0]["messageId"] = f"MSG-{n}"
        body = json.dumps(document)
    data = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _load(url: str, requests: int, concurrency: int, offset: int) -> tuple[list, Counter]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(offset, offset + requests))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for n in counter:
                payload = _request(n, f"{host}:{port}")
                started = time.perf_counter()
                writer.write(payload)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_service(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRW_")}
    env.update(
        DLRW_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        DLRW_TOPIC_PREFIX=settings.topic_prefix,
        DLRW_DATA_DIR=str(settings.data_dir),
        PYTHONPATH=str(ROOT),
    )
    log = open(settings.data_dir / "collect.log", "w")  # noqa: SIM115 - lives as long as the service
    process = subprocess.Popen(
        [sys.executable, "-m", "dlrw.ingest.cli", "collect", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as resp:
                if resp.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the service did not become ready; see {log.name}")


def _records_on_topic(settings: Settings) -> int:
    reader = consumer(settings, [], None)
    try:
        topic = settings.topic("receipt")
        partitions = reader.partitions_for_topic(topic) or set()
        from kafka import TopicPartition

        ends = reader.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        reader.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=20_000)
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--url", help="an already running service (default: start one)")
    parser.add_argument("--warmup", type=int, default=500, help="requests not measured")
    args = parser.parse_args()

    settings: Settings | None = None
    process = None
    url = args.url
    if url is None:
        data_dir = ROOT / "data" / "bench-collect"
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=data_dir, topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.")
        create_topics(settings)
        process, url = _start_service(settings)
    try:
        if args.warmup:
            asyncio.run(_load(url, args.warmup, args.concurrency, 10_000_000))
        started = time.perf_counter()
        latencies, statuses = asyncio.run(_load(url, args.requests, args.concurrency, 0))
        elapsed = time.perf_counter() - started
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    ordered = sorted(latencies)
    ms = {q: _percentile(ordered, q) * 1000 for q in (0.5, 0.9, 0.99)}
    print(
        f"collect: {len(latencies):,} requests, concurrency {args.concurrency}, "
        f"{elapsed:.2f}s -> {len(latencies) / elapsed:,.0f} requests/s; "
        f"latency p50 {ms[0.5]:.1f} ms, p90 {ms[0.9]:.1f} ms, p99 {ms[0.99]:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms; statuses {dict(statuses)}"
    )
    if settings is not None:
        on_topic = _records_on_topic(settings)
        delete_topics(settings)
        expected = statuses[200] + args.warmup
        print(
            f"receipts on {settings.topic('receipt')}: {on_topic:,} "
            f"(200s incl. warm-up: {expected:,})"
        )
        if on_topic != expected:
            return 1
    return 0 if set(statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
