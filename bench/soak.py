"""Soak: ``dlrw ingest`` under steady load at 80% of its measured maximum, with its memory
sampled, on the local broker and a fresh DuckDB warehouse.

1. Probe: publish ``--probe-events`` events and time ``dlrw ingest --once`` on them: the maximum
   rate (the summary line's records/s, from the first records read to the last commit).
2. Soak: start ``dlrw ingest`` (continuous), publish at ``--load`` x that rate for ``--minutes``
   with a paced producer, read the resident memory of the ingest process and its worker from
   /proc every ``--sample-s`` seconds and the group's committed offsets (what ingest has
   durably written); then wait for it to catch up, stop it with SIGTERM and print the figures.
   The one Python producer publishes about 30k events/s on 2 cores; below the target, the
   figures say that the load was the producer's, not 80% of ingest's maximum.

    .venv/bin/python -m bench.soak [--minutes 10] [--load 0.8]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.proc import tree_rss_kib  # noqa: E402
from dlrw.ingest.config import Settings  # noqa: E402
from dlrw.ingest.kafka.client import committed_total  # noqa: E402
from dlrw.ingest.kafka.producer import EventPublisher  # noqa: E402
from dlrw.ingest.kafka.topics import create_topics, delete_topics  # noqa: E402
from dlrw.ingest.simulate import SimulationConfig, Simulator  # noqa: E402
from dlrw.models.wire import encode_event  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _pool(settings: Settings, size: int) -> list[tuple[str, bytes, bytes]]:
    simulator = Simulator(
        SimulationConfig(
            messages=max(1, size * 10 // 23),
            days=2,
            seed=11,
            start=datetime(2026, 11, 20, tzinfo=UTC),
        ),
        settings.hash_secret(),
        verify_receipts=1000,
    )
    return [(e.event_type, e.key(), encode_event(e)) for e in simulator.events()]


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLRW_")}
    env.update(
        DLRW_DATA_DIR=str(settings.data_dir),
        DLRW_TOPIC_PREFIX=settings.topic_prefix,
        DLRW_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        DLRW_HASH_KEY="soak-hash-key",
    )
    return env


def _rss_mib(pid: int) -> float:
    """Resident memory of ingest with its worker process."""
    return tree_rss_kib(pid) / 1024


def probe(
    settings: Settings, pool: list[tuple[str, bytes, bytes]], events: int, group: str
) -> float:
    """The records/s of ``ingest --once`` on ``events`` pre-published events."""
    with EventPublisher(settings) as publisher:
        for i in range(events):
            kind, key, value = pool[i % len(pool)]
            publisher.publish_bytes(kind, key, value)
    done = subprocess.run(
        [sys.executable, "-m", "dlrw.ingest.cli", "ingest", "--once", "--group", group],
        env=_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.startswith("ingested"):
        raise SystemExit(f"probe ingest failed:\n{done.stderr}")
    return float(done.stdout.rsplit("(", 1)[1].split()[0].replace(",", ""))


# Events published between checks of the clock.
_SLICE = 2_000


def soak(
    settings: Settings,
    pool: list[tuple[str, bytes, bytes]],
    rate: float,
    minutes: float,
    sample_s: float,
    group: str,
) -> None:
    """Ingest continues the probe's group, so it reads only what is produced here."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dlrw.ingest.cli", "ingest", "--group", group],
        env=_env(settings),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples: list[tuple[float, float, int]] = []  # (seconds, RSS MiB, committed)
    base = committed_total(settings, group)
    started = time.monotonic()
    end = started + minutes * 60
    next_sample = started
    sent = 0
    print(f"soak: {rate:,.0f} events/s for {minutes:g} min; ingest pid {process.pid}", flush=True)
    try:
        with EventPublisher(settings) as publisher:
            while (now := time.monotonic()) < end:
                if process.poll() is not None:
                    raise SystemExit(f"ingest died:\n{process.communicate()[1]}")
                # Publish what is due, in slices, so a producer behind schedule still samples on
                # time (and the soak still ends on time).
                due = min(int((now - started) * rate), sent + _SLICE)
                while sent < due:
                    kind, key, value = pool[sent % len(pool)]
                    publisher.publish_bytes(kind, key, value)
                    sent += 1
                if (now := time.monotonic()) >= next_sample:
                    done = committed_total(settings, group) - base
                    samples.append((now - started, _rss_mib(process.pid), done))
                    t, rss, n = samples[-1]
                    print(
                        f"  {t:6.0f}s  RSS {rss:6.1f} MiB  produced {sent:>10,}  ingested {n:>10,}"
                    )
                    next_sample += sample_s
                time.sleep(0.01)
        produced_s = time.monotonic() - started
        # Let ingest catch up with what was produced, then stop it cleanly.
        deadline = time.monotonic() + 300
        while committed_total(settings, group) - base < sent and time.monotonic() < deadline:
            time.sleep(1)
        caught_up_s = time.monotonic() - started
        final_rss = _rss_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        out, _err = process.communicate(timeout=120)
    ingested = committed_total(settings, group) - base
    window = max(1, len(samples) // 5)
    first = [s[1] for s in samples[:window]]
    last = [s[1] for s in samples[-window:]]
    steady = [s for s in samples if s[0] >= 30] or samples
    ingest_rate = (steady[-1][2] - steady[0][2]) / max(1e-9, steady[-1][0] - steady[0][0])
    print()
    print(f"target rate        {rate:>12,.0f} events/s")
    print(
        f"produced           {sent:>12,} events in {produced_s:.0f}s ({sent / produced_s:,.0f}/s)"
        + ("" if sent >= 0.95 * rate * produced_s else ": the producer fell behind the target")
    )
    print(f"ingest rate        {ingest_rate:>12,.0f} events/s (committed, after the first 30s)")
    print(f"ingested           {ingested:>12,} events (caught up {caught_up_s:.0f}s after start)")
    print(f"peak RSS at start  {max(first):>12.1f} MiB (first {window} samples)")
    print(
        f"peak RSS at end    {max(last):>12.1f} MiB (last {window} samples; {final_rss:.1f} final)"
    )
    print(f"ingest exit        {process.returncode}: {out.strip()}")
    if ingested != sent:
        raise SystemExit(f"ingested {ingested:,} of {sent:,} produced events")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    parser.add_argument("--load", type=float, default=0.8, help="fraction of the max rate")
    parser.add_argument("--probe-events", type=int, default=200_000, help="events to probe with")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dlrw-soak-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            topic_prefix=f"soak-{uuid.uuid4().hex[:8]}.",
            hash_key="soak-hash-key",
        )
        create_topics(settings, partitions=6)
        try:
            pool = _pool(settings, 200_000)
            group = f"soak-{uuid.uuid4().hex[:8]}"
            max_rate = probe(settings, pool, args.probe_events, group)
            print(f"max ingest rate    {max_rate:>12,.0f} events/s ({args.probe_events:,} events)")
            soak(settings, pool, max_rate * args.load, args.minutes, args.sample_s, group)
        finally:
            delete_topics(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
