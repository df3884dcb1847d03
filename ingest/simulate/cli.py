"""`dlrw simulate`: generate realistic SMS traffic to Kafka (default) or to a JSONL file."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from ingest.config import Settings
from ingest.errors import ConfigError
from ingest.progress import Progress
from ingest.simulate.engine import SimulationConfig, Simulator, default_start
from ingest.simulate.incidents import parse_incident
from ingest.simulate.truth import TruthWriter
from ingest.simulate.world import load_world
from models.events import DeliveryReceipt, Event, SendEvent

__all__ = ["configure", "event_line", "run", "write_events"]


def configure(parser: argparse.ArgumentParser) -> None:
    """`dlrw simulate --messages N --days D --seed S ...`."""
    parser.description = (
        "Generate realistic SMS traffic: sends over 28 countries and their operators, routes of "
        "tiers 1-4 through smpp/twilio/infobip/vonage, receipts in each provider's own format "
        "(intermediate, duplicate, late, out-of-order and orphan ones; some lost), and "
        "conversions. Events go to Kafka, sorted by arrival, unless --out is given. The same "
        "arguments, --start and DLRW_HASH_KEY give the same events byte for byte."
    )
    parser.add_argument("--messages", type=int, default=100_000, help="messages (default 100000)")
    parser.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--start",
        metavar="DATE",
        help="first day, ISO date or UTC time (default: today's UTC midnight minus --days; "
        "give it for reproducible output)",
    )
    parser.add_argument(
        "--incident",
        action="append",
        default=[],
        metavar="SPEC",
        help="operator=MCCMNC,start=ISO,end=ISO,delivery=0.4 and/or receipts=0.0: that "
        "operator's messages submitted in [start, end) deliver at 0.4 times the usual rate / "
        "keep that share of their receipts; repeatable",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        metavar="FILE",
        help="write one row per message with its expected warehouse status (.csv or .jsonl; "
        "columns documented in ingest/simulate/truth.py)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.jsonl",
        help="write events to this file (the `dlrw produce` format) instead of Kafka",
    )
    parser.set_defaults(handler=run)


def _start(text: str | None, days: int) -> datetime:
    if text is None:
        return default_start(days)
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--start {text!r} is not an ISO-8601 date or time") from None
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


# One encoder for all lines: json.dumps with separators builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def event_line(event: Event) -> str:
    """One event in the `dlrw produce` format: compact JSON with its ``type`` first, the fields
    and timestamps as ``Event.to_json_dict`` writes them (spelled out per type for speed)."""
    if isinstance(event, DeliveryReceipt):
        record = {
            "type": "receipt",
            "event_id": event.event_id,
            "provider": event.provider,
            "provider_message_id": event.provider_message_id,
            "status": event.status.value,
            "is_final": event.is_final,
            "received_at": _iso(event.received_at),
            "raw": event.raw,
            "message_id": event.message_id,
            "error_code": event.error_code,
            "mcc_mnc": event.mcc_mnc,
            "submitted_at": _iso(event.submitted_at),
            "done_at": _iso(event.done_at),
            "segments_submitted": event.segments_submitted,
            "segments_delivered": event.segments_delivered,
            "price": event.price,
            "currency": event.currency,
            "network_error_code": event.network_error_code,
        }
    elif isinstance(event, SendEvent):
        record = {
            "type": "send",
            "event_id": event.event_id,
            "message_id": event.message_id,
            "provider": event.provider,
            "destination_hash": event.destination_hash,
            "country": event.country,
            "route_id": event.route_id,
            "route_tier": event.route_tier,
            "segments": event.segments,
            "submitted_at": _iso(event.submitted_at),
            "provider_message_id": event.provider_message_id,
            "campaign_id": event.campaign_id,
            "sender_id": event.sender_id,
            "mcc_mnc": event.mcc_mnc,
            "encoding": event.encoding,
            "price": event.price,
            "currency": event.currency,
            "template_id": event.template_id,
        }
    else:
        record = {"type": event.event_type, **event.to_json_dict()}
    return _encode(record)


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """Validated configuration; ``ConfigError`` names the bad argument."""
    if args.messages < 1:
        raise ConfigError(f"--messages must be at least 1, got {args.messages}")
    if args.days < 1:
        raise ConfigError(f"--days must be at least 1, got {args.days}")
    world = load_world()
    known = [op.mcc_mnc for c in world.countries for op in c.operators]
    return SimulationConfig(
        messages=args.messages,
        days=args.days,
        seed=args.seed,
        start=_start(args.start, args.days),
        incidents=tuple(parse_incident(spec, known) for spec in args.incident),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Generate the traffic, write or publish it, print a summary."""
    config = config_from_args(args)
    simulator = Simulator(config, settings.hash_secret())
    progress = Progress("simulate", unit="messages", total=config.messages)
    started = time.monotonic()
    with ExitStack() as stack:
        truth = stack.enter_context(TruthWriter(args.truth)) if args.truth else None
        events = simulator.events(truth.write if truth else None)
        if args.out is not None:
            destination = str(args.out)
            write_events(args.out, _tracked(events, progress))
        else:
            # Imported here: the Kafka client is only needed (and only slow to import) here.
            from ingest.kafka.producer import EventPublisher

            destination = f"Kafka at {settings.kafka_bootstrap}"
            publisher = stack.enter_context(EventPublisher(settings))
            for event in _tracked(events, progress):
                publisher.publish(event)
    elapsed = time.monotonic() - started
    if progress.elapsed >= progress.every_s:
        progress.close()
    counts = simulator.counts
    total = counts["send"] + counts["receipt"] + counts["conversion"]
    print(
        f"simulated {counts['send']:,} messages: {total:,} events ({counts['send']:,} send, "
        f"{counts['receipt']:,} receipt incl. {counts['orphan']:,} orphan, "
        f"{counts['conversion']:,} conversion) to {destination} in {elapsed:.1f}s "
        f"({total / elapsed if elapsed else 0:,.0f} events/s)"
        + (f"; truth: {args.truth}" if args.truth else "")
    )
    return 0


def _tracked(events: Iterator[Event], progress: Progress) -> Iterator[Event]:
    """The events, advancing ``progress`` once per send (its unit is messages)."""
    for event in events:
        if event.event_type == "send":
            progress.advance()
        yield event


def write_events(path: Path, events: Iterable[Event]) -> None:
    """Write events to ``path`` in the `dlrw produce` format, one a line."""
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {path}: {exc.strerror}") from exc
    with handle:
        lines: list[str] = []
        for event in events:
            lines.append(event_line(event))
            if len(lines) >= 10_000:
                lines.append("")
                handle.write("\n".join(lines))
                lines.clear()
        if lines:
            lines.append("")
            handle.write("\n".join(lines))
