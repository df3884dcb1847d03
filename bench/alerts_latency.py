"""Alert latency: seconds from an incident's first events being produced to Kafka until
`dlrw alerts --watch` prints the alert, with `dlrw ingest` running beside it.

Setup: three simulated days (``--messages``) with Airtel India (40410) delivering at 0.4x on
day 3, 04:00-10:00 UTC, written to a file and split where the incident starts. The days before
it are produced, ingested and built first (the history every real deployment has). Then
`dlrw ingest` and `dlrw alerts --watch` start as subprocesses on a PostgreSQL warehouse (DuckDB
allows one writing process per file, so a live ingest and a live alert job need PostgreSQL), and
once the watch has made a quiet evaluation, the incident's events are produced. The clock
starts when the first of them is handed to Kafka and stops when the alert line appears.

Evaluations run with ``--now`` fixed at the incident window's end (+ settle): simulated time is
not wall time, so the figure is the pipeline's own latency -- Kafka -> ingest -> incremental dbt
-> evaluation -> sink. In production the alert additionally waits ``--settle`` (10 min) of real
time, by design (see ingest/alerts/rules.py).

Usage: .venv/bin/python bench/alerts_latency.py [--messages 60000] [--watch 5]
Needs the dev broker (localhost:9092) and PostgreSQL (localhost:5432, postgres/postgres).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
# This folder holds bench/ingest.py, which would shadow the `ingest` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
ADMIN_URL = os.environ.get(
    "DLRW_TEST_POSTGRES_URL", "postgresql://postgres:postgres@localhost:5432/postgres"
)
INCIDENT = (datetime(2026, 1, 3, 4), datetime(2026, 1, 3, 10))
SETTLE = timedelta(minutes=10)
RULE_ARGS = ["--window", "6h", "--baseline", "2d", "--min-window", "50", "--min-baseline", "200"]


def _env(data_dir: Path, prefix: str, warehouse_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRW_")}
    env.update(
        DLRW_DATA_DIR=str(data_dir),
        DLRW_TOPIC_PREFIX=prefix,
        DLRW_WAREHOUSE_URL=warehouse_url,
        DLRW_HASH_KEY="bench-hash-key",
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        PYTHONUNBUFFERED="1",
    )
    return env


def _dlrw(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "dlrw.ingest.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"dlrw {' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")
    return time.monotonic() - started


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dlrw.ingest.cli", *args],
        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _pump(stream: IO[str], name: str, out: queue.Queue[tuple[float, str, str]]) -> None:
    for line in stream:
        out.put((time.monotonic(), name, line.rstrip("\n")))


@contextmanager
def _database() -> Iterator[str]:
    admin_url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg2")
    name = f"dlrw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _event_time(line: str) -> str:
    record = json.loads(line)
    kind = record["type"]
    field = {"send": "submitted_at", "receipt": "received_at", "conversion": "occurred_at"}[kind]
    return str(record[field])


def _split(events: Path, pre: Path, incident: Path, until: datetime) -> tuple[int, int]:
    """Events before the incident starts, and from then until ``until`` (arrival order)."""
    start = INCIDENT[0].isoformat()
    stop = until.isoformat()
    counts = [0, 0]
    with events.open() as src, pre.open("w") as a, incident.open("w") as b:
        for line in src:
            ts = _event_time(line)
            if ts < start:
                a.write(line)
                counts[0] += 1
            elif ts < stop:
                b.write(line)
                counts[1] += 1
    return counts[0], counts[1]


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--watch", type=float, default=5.0, help="seconds between evaluations")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    args = parser.parse_args()

    from dlrw.ingest.config import Settings
    from dlrw.ingest.kafka.topics import create_topics, delete_topics

    with tempfile.TemporaryDirectory(prefix="dlrw-bench-") as tmp, _database() as url:
        data_dir = Path(tmp) / "data"
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        env = _env(data_dir, prefix, url)
        topics = Settings(data_dir=data_dir, topic_prefix=prefix)
        create_topics(topics, partitions=3)
        events, pre, incident = (Path(tmp) / n for n in ("all.jsonl", "pre.jsonl", "inc.jsonl"))
        spec = (
            f"operator=40410,start={INCIDENT[0].isoformat()},"
            f"end={INCIDENT[1].isoformat()},delivery=0.4"
        )
        now = INCIDENT[1] + SETTLE
        took = _dlrw(
            ["simulate", "--messages", str(args.messages), "--days", "3", "--seed", "11",
             "--start", "2026-01-01", "--incident", spec, "--out", str(events)],
            env,
        )  # fmt: skip
        n_pre, n_inc = _split(events, pre, incident, now + timedelta(minutes=5))
        print(f"simulated in {took:.0f}s: {n_pre:,} events before the incident, {n_inc:,} from it")
        print(f"history: produce {_dlrw(['produce', str(pre)], env):.0f}s, ", end="", flush=True)
        print(f"ingest {_dlrw(['ingest', '--once'], env):.0f}s, ", end="", flush=True)
        print(f"build {_dlrw(['build', '-q', '--select', '+fct_messages'], env):.0f}s", flush=True)

        lines: queue.Queue[tuple[float, str, str]] = queue.Queue()
        ingest = _spawn(["ingest"], env)
        alerts = _spawn(
            ["alerts", *RULE_ARGS, "--now", now.isoformat(), "--watch", str(args.watch)], env
        )
        for name, process in (("ingest", ingest), ("alerts", alerts)):
            for stream_name, stream in (("out", process.stdout), ("err", process.stderr)):
                assert stream is not None
                threading.Thread(
                    target=_pump, args=(stream, f"{name}.{stream_name}", lines), daemon=True
                ).start()
        try:
            # Wait for one quiet evaluation: the watch is up and the history raises nothing.
            deadline = time.monotonic() + args.timeout
            while True:
                at, name, line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
                if name == "alerts.out":
                    raise SystemExit(f"alert before the incident was produced: {line}")
                if name == "alerts.err" and "evaluated" in line:
                    print(f"watch ready: {line}")
                    break
            started = time.monotonic()
            producer = _spawn(["produce", str(incident)], env)
            fired_at = None
            evaluations: list[str] = []
            fired: list[dict[str, str]] = []
            while True:
                at, name, line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
                if name == "alerts.err" and "evaluated" in line:
                    evaluations.append(f"  +{at - started:5.1f}s {line}")
                    if fired_at is not None:
                        break  # the summary of the evaluation that fired
                if name == "alerts.out" and json.loads(line)["status"] == "firing":
                    fired_at = fired_at or at
                    fired.append(json.loads(line))
            producer.wait(timeout=120)
            assert fired_at is not None
            latency = fired_at - started
            print("evaluations after the incident's events started (time since):")
            print(*evaluations, sep="\n")
            print(f"alerts fired ({len(fired)}), all on 40410: "
                  f"{all(a['mcc_mnc'] == '40410' for a in fired)}")  # fmt: skip
            for alert in fired:
                print(f"  {alert['cell_id']} {alert['kind']} {alert['severity']}: {alert['text']}")
            print(f"ALERT LATENCY: {latency:.1f}s from the incident's first events being produced")
            return 0 if latency < 60 else 1
        finally:
            _stop(alerts)
            _stop(ingest)
            delete_topics(topics)


if __name__ == "__main__":
    sys.exit(main())
