"""`dlrw demo`: the whole pipeline on simulated traffic, from a clean slate, then a short summary.

Each step is the same sub-command a user would run, called in-process; the demo keeps its state
under ``$DLRW_DATA_DIR/demo`` and its topics under a ``demo-<run>.`` prefix, both replaced on
every run, so running it twice gives the same result.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError
from dlrw.ingest.kafka.topics import delete_topics
from dlrw.ingest.warehouse.connection import connect_engine

__all__ = ["configure"]

DEMO_TOPIC_PREFIX = "demo-"
# T-Mobile US: busy in the traffic's last hours (US afternoon), so its drop is significant.
DEMO_INCIDENT_OPERATOR = "310260"
DEMO_ALERT_WINDOW = timedelta(hours=6)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of `dlrw demo`."""
    parser.add_argument("--messages", type=int, default=200_000, help="messages to simulate")
    parser.add_argument("--days", type=int, default=3, help="days of traffic")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.set_defaults(handler=run)


def _step(title: str, argv: list[str], env: Settings) -> None:
    from dlrw.ingest.cli import run_command

    print(f"== {title}: dlrw {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = run_command(argv, env)
    if code not in (0, 1) or (code == 1 and argv[0] not in ("check", "alerts")):
        raise DlrwError(f"demo step `dlrw {' '.join(argv)}` failed with exit code {code}")
    print(f"   ({time.monotonic() - started:.1f}s)", flush=True)


def _summary(settings: Settings) -> None:
    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        tiers: list[Any] = list(
            conn.execute(
                text(
                    "select route_tier, sum(sent) as sent, sum(delivered) as delivered "
                    "from agg_deliverability_daily group by route_tier order by route_tier"
                )
            )
        )
        worst: list[Any] = list(
            conn.execute(
                text(
                    "select operator_name, mcc_mnc, country, sum(sent) as sent, "
                    "sum(delivered) * 1.0 / sum(sent) as rate from agg_deliverability_daily "
                    "group by operator_name, mcc_mnc, country having sum(sent) >= 500 "
                    "order by rate limit 5"
                )
            )
        )
    engine.dispose()
    print("\nDelivery rate by route tier")
    print(f"  {'tier':>4}  {'sent':>9}  {'delivered':>9}  {'rate':>6}")
    for tier, sent, delivered in tiers:
        rate = int(delivered) / int(sent)
        print(f"  {tier:>4}  {int(sent):>9,}  {int(delivered):>9,}  {rate:>6.1%}")
    print("\nFive worst operators (at least 500 messages)")
    for operator, mcc_mnc, country, sent, rate in worst:
        print(f"  {float(rate):>6.1%}  {operator} ({mcc_mnc}, {country}), {int(sent):,} messages")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every stage on fresh simulated traffic and print where the results are."""
    started = time.monotonic()
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo = Settings(
        data_dir=demo_dir,
        kafka_bootstrap=settings.kafka_bootstrap,
        topic_prefix=f"{DEMO_TOPIC_PREFIX}{int(time.time())}.",
        hash_key=settings.hash_key,
    )
    delete_topics(settings, DEMO_TOPIC_PREFIX)
    start = datetime.combine(
        (datetime.now(UTC) - timedelta(days=args.days)).date(), datetime.min.time()
    )
    end = start + timedelta(days=args.days)
    # One operator loses most of its deliveries in the traffic's last hours: the alert to see.
    incident = (
        f"operator={DEMO_INCIDENT_OPERATOR},start={end - DEMO_ALERT_WINDOW:%Y-%m-%dT%H:%M},"
        f"end={end:%Y-%m-%dT%H:%M},delivery=0.3"
    )
    _step("create topics", ["topics", "create"], demo)
    _step(
        "simulate traffic",
        [
            "simulate",
            "--messages",
            str(args.messages),
            "--days",
            str(args.days),
            "--seed",
            str(args.seed),
            "--start",
            start.date().isoformat(),
            "--incident",
            incident,
        ],
        demo,
    )
    _step("ingest", ["ingest", "--once"], demo)
    _step("build marts", ["build"], demo)
    _step("data-quality checks", ["check"], demo)
    _step(
        "alerts at the end of the traffic",
        ["alerts", "--window", "6h", "--baseline", "2d", "--now", f"{end:%Y-%m-%dT%H:%M}"],
        demo,
    )
    _step("report", ["report"], demo)
    _summary(demo)
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s. Results:")
    print(f"  warehouse   {demo.warehouse_url}")
    print(f"  Avro store  {demo.store_dir}")
    print(f"  topics      {demo.topic_prefix}sms.*  on {demo.kafka_bootstrap}")
    report = demo_dir / "report"
    if report.exists():
        print(f"  report      {report}")
    sys.stdout.flush()
    return 0
