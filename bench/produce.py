"""`dlrw produce` against a bare kafka-python producer, on the local broker.

Writes simulated events (the simulator's; every send carries a raw ``destination`` for produce
to hash) to a JSON-lines file, and the same events encoded as `dlrw produce` encodes them — not
timed. Then measures, each as a subprocess, taking turns: (a) a bare kafka-python producer with
the client options `dlrw produce` uses (``dlrw.ingest.kafka.client.producer``) sending the encoded
records, already in its memory, timed from its first send to the end of its flush; (b)
``dlrw produce FILE`` timed from its start to its exit: interpreter start-up, imports, its worker
processes' start and the last acknowledgement included. Each run publishes to topics of its
own, checked to hold every event and deleted after it. The table shows median rates, their
spread, the ratio (goal: at least 0.5), and the CPU time per event of each process tree; the
load average says how busy the machine was.

    .venv/bin/python -m bench.produce [--events N] [--repeat N]

(As a module, from the project root: run as a script, bench/ingest.py would shadow the
``ingest`` package.)
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from kafka.structs import TopicPartition

from bench.figures import spread
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import consumer
from dlrw.ingest.kafka.produce import encode_lines
from dlrw.ingest.kafka.topics import create_topics, delete_topics
from dlrw.ingest.simulate import SimulationConfig, Simulator
from dlrw.ingest.simulate.cli import event_line
from dlrw.models.events import SendEvent

ROOT = Path(__file__).resolve().parents[1]
# Simulating is slower than publishing; beyond this many distinct events the pool is cycled.
_POOL = 250_000
_KINDS = ("send", "receipt", "conversion")
_HASH_KEY = "bench-hash-key"

# The bare producer: the records (event type, key, value) pickled in argv[1]; prints its seconds.
_BARE_PRODUCER = """
import pickle, sys, time
from bench.figures import spread
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.client import producer
settings = Settings()
with open(sys.argv[1], "rb") as handle:
    records = [(settings.topic(kind), key, value) for kind, key, value in pickle.load(handle)]
client = producer(settings)
for kind in ("send", "receipt", "conversion"):
    client.partitions_for(settings.topic(kind))
started = time.monotonic()
for topic, key, value in records:
    client.send(topic, key=key, value=value)
client.flush()
print(time.monotonic() - started)
client.close()
"""


def _write_inputs(folder: Path, events: int) -> tuple[Path, Path]:
    """``events`` events as `dlrw produce` lines, and as the records it publishes (pickled)."""
    simulator = Simulator(
        SimulationConfig(
            messages=max(1, min(events, _POOL) * 10 // 23),
            days=2,
            seed=7,
            start=datetime(2026, 11, 20, tzinfo=UTC),
        ),
        _HASH_KEY.encode(),
        verify_receipts=1000,
    )
    pool = []
    for index, event in enumerate(simulator.events()):
        line = event_line(event)
        if isinstance(event, SendEvent):
            hashed = f'"destination_hash":"{event.destination_hash}"'
            line = line.replace(hashed, f'"destination":"+1555{index:07d}"')
        pool.append(line.encode() + b"\n")
    lines, records = folder / "events.jsonl", folder / "records.pickle"
    encoded: list[tuple[str, bytes, bytes]] = []
    with lines.open("wb") as handle:
        for start in range(0, events, len(pool)):
            data = b"".join(pool[: events - start])
            handle.write(data)
            chunk = encode_lines(data, start + 1, _HASH_KEY.encode())
            assert not chunk.bad, chunk.bad[:3]
            encoded += [(kind, key, value) for _, kind, key, value in chunk.records]
    with records.open("wb") as handle:
        pickle.dump(encoded, handle)
    return lines, records


def _child(args: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run a child; (stdout, wall seconds, CPU seconds of it and the children it waited for:
    `dlrw produce` runs worker processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Files, not pipes: a child blocked on a full pipe nobody reads would never end.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.run(args, env=env, cwd=ROOT, stdout=out, stderr=err, check=False)
        seconds = time.monotonic() - started
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{args[:4]} failed:\n{err.read()}")
        out.seek(0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return out.read(), seconds, cpu


def _published(settings: Settings) -> int:
    """How many records the event topics hold."""
    reader = consumer(settings, [], None)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in map(settings.topic, _KINDS)
            for partition in reader.partitions_for_topic(topic) or ()
        ]
        return sum(reader.end_offsets(partitions).values())
    finally:
        reader.close()


def _run(command: list[str], events: int, base: Settings) -> tuple[float, float, str]:
    """Run one publisher into topics of its own; (wall seconds, CPU µs per event, stdout)."""
    settings = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    env = dict(
        os.environ,
        DLRW_DATA_DIR=str(settings.data_dir),
        DLRW_TOPIC_PREFIX=settings.topic_prefix,
        DLRW_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        DLRW_HASH_KEY=_HASH_KEY,
    )
    try:
        create_topics(settings, partitions=6)
        # Write what waits for the disk (the last run's log) now, not during this run.
        os.sync()
        out, wall, cpu = _child(command, env)
        published = _published(settings)
    finally:
        delete_topics(settings)
    assert published == events, f"{command[:4]} published {published} of {events} events"
    return wall, cpu * 1e6 / events, out


def measure(events: int, repeat: int) -> dict[str, list[float]]:
    """Both publishers ``repeat`` times each, taking turns: their rates and CPU per event."""
    runs: dict[str, list[float]] = {"bare": [], "produce": [], "bare_cpu": [], "produce_cpu": []}
    with tempfile.TemporaryDirectory(prefix="dlrw-bench-") as tmp:
        base = Settings(data_dir=Path(tmp), hash_key=_HASH_KEY)
        lines, records = _write_inputs(Path(tmp), events)
        bare = [sys.executable, "-c", _BARE_PRODUCER, str(records)]
        produce = [sys.executable, "-m", "dlrw.ingest.cli", "produce", str(lines)]
        for _ in range(repeat):
            _, cpu, out = _run(bare, events, base)
            runs["bare"].append(events / float(out))
            runs["bare_cpu"].append(cpu)
            wall, cpu, out = _run(produce, events, base)
            assert out.startswith(f"published {events} events"), out
            runs["produce"].append(events / wall)
            runs["produce_cpu"].append(cpu)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each publisher")
    args = parser.parse_args()
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    loads = [os.getloadavg()[0]]
    runs = measure(args.events, args.repeat)
    loads.append(os.getloadavg()[0])
    bare, produce = median(runs["bare"]), median(runs["produce"])
    ratios = [p / b for p, b in zip(runs["produce"], runs["bare"], strict=True)]
    print(f"\n{args.events:,} events, medians of {args.repeat} runs each (spread below)")
    print(f"{'':>8} {'events/s':>10} {'CPU µs/event':>13}")
    for name, rate in (("bare", bare), ("produce", produce)):
        print(f"{name:>8} {rate:>10,.0f} {median(runs[f'{name}_cpu']):>13.1f}")
        print(f"{'':>8} {spread(runs[name]):>10} {spread(runs[f'{name}_cpu']):>13}")
    print(f"ratio {produce / bare:.2f} ({spread(ratios)}; goal: at least 0.5)")
    before, after = loads
    print(f"load average (1 min): {before:.1f} before, {after:.1f} after; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
