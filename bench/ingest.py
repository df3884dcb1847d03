"""Ingest throughput and memory against a bare Kafka consumer, on the local broker.

Produces realistic events (the simulator's) to a fresh topic prefix — not timed — then measures,
each as a subprocess so its peak RSS can be read: (a) a bare kafka-python consumer with the same
client options as ingest, reading every topic to the end without decoding; (b) ``dlrw ingest
--once`` end to end into a fresh DuckDB warehouse and store. Two sizes show whether memory
grows with the number of events. The two take turns, three runs each by default; the table
shows median rates (a two-second run on a shared machine varies by a fifth from run to run),
their spread, and the highest peak RSS.

Both rates start once the group is joined: the bare one runs from its first poll's return to
its last, over the records read after that first poll (which already returns up to a batch of
them, read and decoded); ingest's (its summary line's) from its first records read to the
commit of its last batch, when everything read is decoded, checked, stored, loaded and
committed. "wall/s" is ingest from process start to exit: interpreter start-up, imports, the
worker's start, the group join and closing down (the warehouse's last checkpoint) included.
Peak RSS is of the whole process tree (ingest runs a worker).

    .venv/bin/python bench/ingest.py [--events N] [--small N] [--repeat N] [--wire-format F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``ingest`` package; look in the project root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.figures import spread  # noqa: E402
from bench.proc import tree_rss_kib  # noqa: E402
from dlrw.ingest.config import Settings  # noqa: E402
from dlrw.ingest.kafka.producer import EventPublisher  # noqa: E402
from dlrw.ingest.kafka.topics import create_topics, delete_topics  # noqa: E402
from dlrw.ingest.pipeline.ingest import DEFAULT_BATCH_SIZE, FETCH_LIMITS  # noqa: E402
from dlrw.ingest.progress import Progress  # noqa: E402
from dlrw.ingest.simulate import SimulationConfig, Simulator  # noqa: E402
from dlrw.models.wire import encode_event  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Simulating is slower than publishing; beyond this many distinct events the pool is cycled.
_POOL = 250_000

# The bare consumer gets ingest's fetch options and batch size (argv[1], JSON) without importing
# the pipeline.
_BARE_CONSUMER = """
import json, sys, time
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import consumer
settings = Settings()
topics = [settings.topic(k) for k in ("send", "receipt", "conversion")]
reader = consumer(settings, topics, None, **json.loads(sys.argv[1]))
for t in topics:
    reader.partitions_for_topic(t)
reader.poll(timeout_ms=0)
ends = None
count, started, untimed = 0, None, 0
while True:
    batch = reader.poll(timeout_ms=1000)
    count += sum(len(records) for records in batch.values())
    if started is None:
        # The clock starts as the first records arrive; those were read (and decoded) before.
        started, untimed = time.monotonic(), count
    assignment = reader.assignment()
    if ends is None and assignment:
        ends = reader.end_offsets(list(assignment))
    if ends and all(reader.position(tp) >= ends[tp] for tp in assignment):
        break
print(count, untimed, time.monotonic() - started)
"""


def _produce(settings: Settings, events: int) -> None:
    simulator = Simulator(
        SimulationConfig(
            messages=max(1, min(events, _POOL) * 10 // 23),
            days=2,
            seed=7,
            start=datetime(2026, 11, 20, tzinfo=UTC),
        ),
        settings.hash_secret(),
        verify_receipts=1000,
    )
    progress = Progress("produce", total=events)
    with EventPublisher(settings) as publisher:
        # Framed as DLRW_WIRE_FORMAT says: registry ids are registered here, before any timing.
        pool = [
            (e.event_type, e.key(), encode_event(e, publisher.framing)) for e in simulator.events()
        ]
        for i in range(events):
            kind, key, value = pool[i % len(pool)]
            publisher.publish_bytes(kind, key, value)
            if i % 10_000 == 9_999:
                progress.advance(10_000)
    progress.close()


def _child(args: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """Run a child; (stdout, wall seconds, peak RSS in MiB of it and its descendants together,
    sampled every 20 ms: ingest runs a worker process beside the consumer's)."""
    # Files, not pipes: a child blocked on a full pipe nobody reads would never end.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=err, text=True)
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.02)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{args[:4]} failed:\n{err.read()}")
        return out.read(), seconds, peak // 1024


def measure(events: int, repeat: int, wire_format: str) -> dict[str, Any]:
    """Produce ``events`` to fresh topics; measure both consumers ``repeat`` times, taking
    turns; return the figures. The topics and the data dir are deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="dlrw-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.",
            hash_key="bench-hash-key",
            wire_format=wire_format,
        )
        try:
            create_topics(settings, partitions=6)
            _produce(settings, events)
            runs = [_measure_once(settings, events, run) for run in range(repeat)]
        finally:
            delete_topics(settings)
    return {"events": events, **{key: [run[key] for run in runs] for key in runs[0]}}


def _measure_once(settings: Settings, events: int, run: int) -> dict[str, float]:
    # Each ingest run starts from an empty warehouse and store, in a group of its own (groups
    # are broker-wide and another ingest may be running).
    data_dir = settings.data_dir / f"run-{run}"
    env = dict(
        os.environ,
        DLRW_DATA_DIR=str(data_dir),
        DLRW_TOPIC_PREFIX=settings.topic_prefix,
        DLRW_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        DLRW_HASH_KEY="bench-hash-key",
    )
    env.pop("DLRW_WAREHOUSE_URL", None)
    env.pop("DLRW_STORE_DIR", None)

    # Write what waits for the disk (the broker's log, the last run's files) now: otherwise the
    # kernel's write-back of it runs during a measurement and slows whichever fsyncs (ingest).
    os.sync()
    options = json.dumps({**FETCH_LIMITS, "max_poll_records": DEFAULT_BATCH_SIZE})
    out, _, bare_rss = _child([sys.executable, "-c", _BARE_CONSUMER, options], env)
    count, untimed, seconds = out.split()
    assert int(count) == events, f"bare consumer read {count} of {events}"
    bare_rate = (events - int(untimed)) / float(seconds)

    os.sync()
    group = f"bench-{uuid.uuid4()}"
    ingest = [sys.executable, "-m", "dlrw.ingest.cli", "ingest", "--once", "--group", group]
    out, ingest_wall, ingest_rss = _child(ingest, env)
    assert out.startswith("ingested"), out
    # The summary's own rate starts at the first records read, as the bare figure does.
    ingest_rate = float(out.rsplit("(", 1)[1].split()[0].replace(",", ""))
    store_mb = sum(p.stat().st_size for p in (data_dir / "store").rglob("*.avro")) / 2**20
    return {
        "bare_rate": bare_rate,
        "bare_rss": bare_rss,
        "ingest_rate": ingest_rate,
        "ingest_wall": events / ingest_wall,
        "ingest_rss": ingest_rss,
        "store_mb": store_mb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="the large size")
    parser.add_argument("--small", type=int, default=None, help="the small size (default 1/5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each consumer per size")
    parser.add_argument(
        "--wire-format",
        choices=["single-object", "registry"],
        default="single-object",
        help="how the events are framed on the topics (registry: needs `dlrw registry start`)",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    sizes = [args.small or max(1, args.events // 5), args.events]
    rows = [measure(n, args.repeat, args.wire_format) for n in sizes]
    print(f"\n{args.wire_format} framing; medians of {args.repeat} runs each (spread below)")
    print(
        f"{'events':>10} {'bare/s':>10} {'ingest/s':>10} {'ratio':>6} {'wall/s':>8} "
        f"{'bare RSS':>9} {'ingest RSS':>11} {'store':>8}"
    )
    for r in rows:
        bare, ingest = median(r["bare_rate"]), median(r["ingest_rate"])
        print(
            f"{r['events']:>10,.0f} {bare:>10,.0f} {ingest:>10,.0f} {ingest / bare:>6.2f} "
            f"{median(r['ingest_wall']):>8,.0f} {max(r['bare_rss']):>7.0f}MB "
            f"{max(r['ingest_rss']):>9.0f}MB {median(r['store_mb']):>6.0f}MB"
        )
        print(
            f"{'':>10} {spread(r['bare_rate']):>10} {spread(r['ingest_rate']):>10} "
            f"{spread([i / b for i, b in zip(r['ingest_rate'], r['bare_rate'], strict=True)])}"
        )
    growth = max(rows[-1]["ingest_rss"]) / max(rows[0]["ingest_rss"])
    print(f"ingest peak RSS x{growth:.2f} for x{sizes[-1] / sizes[0]:.0f} events (goal: flat)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
