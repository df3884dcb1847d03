"""Generation rate of `dlrw simulate` to a file: events/s (wall clock) and CPU seconds.

    .venv/bin/python -m bench.simulate [--messages 200000] [--days 7]

(As a module, from the project root: run as a script, bench/ingest.py would shadow the
``ingest`` package.)

Runs the same code path as ``dlrw simulate --out FILE.jsonl`` (no truth file) and prints one
line of measured figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from dlrw.ingest.simulate.cli import write_events
from dlrw.ingest.simulate.engine import SimulationConfig, Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    config = SimulationConfig(
        messages=args.messages, days=args.days, seed=1, start=datetime(2026, 1, 5, tzinfo=UTC)
    )
    simulator = Simulator(config, b"bench-hash-key")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.jsonl"
        wall, cpu = time.perf_counter(), time.process_time()
        write_events(out, simulator.events())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = out.stat().st_size
    events = sum(simulator.counts[t] for t in ("send", "receipt", "conversion"))
    print(
        f"simulate --messages {args.messages} --days {args.days} --out FILE.jsonl: "
        f"{events:,} events in {wall:.2f}s wall / {cpu:.2f}s CPU = {events / wall:,.0f} events/s "
        f"({events / cpu:,.0f} per CPU second), {size / events:.0f} bytes/event"
    )


if __name__ == "__main__":
    main()
