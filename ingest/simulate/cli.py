"""`dlrw simulate`: generate realistic SMS traffic to Kafka (default) or to a JSONL file."""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from pathlib import Path

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import ConfigError, ServiceUnavailable
from dlrw.ingest.progress import Progress
from dlrw.ingest.simulate.engine import SimulationConfig, Simulator, default_start
from dlrw.ingest.simulate.incidents import parse_incident
from dlrw.ingest.simulate.truth import TruthWriter
from dlrw.ingest.simulate.world import load_world
from dlrw.models.events import DeliveryReceipt, Event, SendEvent

__all__ = ["configure", "event_line", "publish_events", "run", "write_events"]


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


# JSON pieces, written as ``json.JSONEncoder(separators=(",", ":")).encode`` would write them:
# strings through its C escaper (ASCII-only output), numbers by their repr, None as null.
_quote = encode_basestring_ascii
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _number(value: float) -> str:
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return _encode(value)  # bool, NaN, infinities: as the encoder spells them


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def _minute_text(minute: int) -> str:
    """``YYYY-MM-DDThh:mm:`` of a minute since the epoch (UTC)."""
    return (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")


def _time(value: datetime | None) -> str:
    """JSON text of a timestamp as Event.to_json_dict writes it (``isoformat``, ``Z`` for
    UTC). UTC times are spelled out from a per-minute prefix: ``isoformat`` of an aware
    datetime costs twice as much, and every event carries one to three timestamps."""
    if value is None:
        return "null"
    if value.tzinfo is not UTC:
        return f'"{value.isoformat().replace("+00:00", "Z")}"'
    delta = value - _EPOCH
    seconds, micros = delta.seconds, delta.microseconds
    prefix = _minute_text(delta.days * 1440 + seconds // 60)
    if micros:  # isoformat leaves out a zero fraction
        return f'"{prefix}{seconds % 60:02d}.{micros:06d}Z"'
    return f'"{prefix}{seconds % 60:02d}Z"'


def event_line(event: Event) -> str:
    """One event in the `dlrw produce` format: compact JSON with its ``type`` first, the fields
    and timestamps as ``Event.to_json_dict`` writes them, byte for byte what
    ``json.JSONEncoder(separators=(",", ":"))`` makes of that record (spelled out per type:
    encoding a dict per event was a third of the simulator's run time)."""
    if isinstance(event, DeliveryReceipt):
        r = event
        return (
            f'{{"type":"receipt","event_id":{_quote(r.event_id)}'
            f',"provider":{_quote(r.provider)}'
            f',"provider_message_id":{_quote(r.provider_message_id)}'
            f',"status":{_quote(r.status)}'
            f',"is_final":{"true" if r.is_final else "false"}'
            f',"received_at":{_time(r.received_at)}'
            f',"raw":{_quote(r.raw)}'
            f',"message_id":{"null" if r.message_id is None else _quote(r.message_id)}'
            f',"error_code":{"null" if r.error_code is None else _quote(r.error_code)}'
            f',"mcc_mnc":{"null" if r.mcc_mnc is None else _quote(r.mcc_mnc)}'
            f',"submitted_at":{_time(r.submitted_at)}'
            f',"done_at":{_time(r.done_at)}'
            f',"segments_submitted":'
            f"{'null' if r.segments_submitted is None else _number(r.segments_submitted)}"
            f',"segments_delivered":'
            f"{'null' if r.segments_delivered is None else _number(r.segments_delivered)}"
            f',"price":{"null" if r.price is None else _number(r.price)}'
            f',"currency":{"null" if r.currency is None else _quote(r.currency)}'
            f',"network_error_code":'
            f"{'null' if r.network_error_code is None else _quote(r.network_error_code)}}}"
        )
    if isinstance(event, SendEvent):
        s = event
        return (
            f'{{"type":"send","event_id":{_quote(s.event_id)}'
            f',"message_id":{_quote(s.message_id)}'
            f',"provider":{_quote(s.provider)}'
            f',"destination_hash":{_quote(s.destination_hash)}'
            f',"country":{_quote(s.country)}'
            f',"route_id":{_quote(s.route_id)}'
            f',"route_tier":{_number(s.route_tier)}'
            f',"segments":{_number(s.segments)}'
            f',"submitted_at":{_time(s.submitted_at)}'
            f',"provider_message_id":'
            f"{'null' if s.provider_message_id is None else _quote(s.provider_message_id)}"
            f',"campaign_id":{"null" if s.campaign_id is None else _quote(s.campaign_id)}'
            f',"sender_id":{"null" if s.sender_id is None else _quote(s.sender_id)}'
            f',"mcc_mnc":{"null" if s.mcc_mnc is None else _quote(s.mcc_mnc)}'
            f',"encoding":{"null" if s.encoding is None else _quote(s.encoding)}'
            f',"price":{"null" if s.price is None else _number(s.price)}'
            f',"currency":{"null" if s.currency is None else _quote(s.currency)}'
            f',"template_id":{"null" if s.template_id is None else _quote(s.template_id)}}}'
        )
    return _encode({"type": event.event_type, **event.to_json_dict()})


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
            destination = f"Kafka at {settings.kafka_bootstrap}"
            publish_events(settings, _tracked(events, progress), config)
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


def publish_events(settings: Settings, events: Iterable[Event], config: SimulationConfig) -> None:
    """Publish the events in order and wait for Kafka's acknowledgements. If Kafka does not
    acknowledge one (``ServiceUnavailable``) or Ctrl-C stops it (``KeyboardInterrupt``), the
    error says how many events are stored and how to rerun."""
    # Imported here: the Kafka client is only needed (and only slow to import) here.
    from dlrw.ingest.kafka.producer import EventPublisher, PublishFailed

    with EventPublisher(settings) as publisher:
        try:
            for event in events:
                publisher.publish(event)
            publisher.flush()
        except PublishFailed as exc:
            raise ServiceUnavailable(
                f"Kafka did not acknowledge event {exc.tag} ({exc.reason}): "
                f"{_stored(exc.tag - 1, config)}"
            ) from exc
        except KeyboardInterrupt:
            first = publisher.first_unacknowledged()
            stored = sum(publisher.published.values()) if first is None else first - 1
            raise KeyboardInterrupt(_stored(stored, config)) from None


def _stored(events: int, config: SimulationConfig) -> str:
    """How many events are stored, and the rerun that completes them."""
    return (
        f"the first {events:,} events are stored; the same command with --start "
        f"{config.start.isoformat()} publishes the same events again (same event ids, which "
        "the warehouse counts once)"
    )


def _tracked(events: Iterator[Event], progress: Progress) -> Iterator[Event]:
    """The events, advancing ``progress`` once per send (its unit is messages)."""
    for event in events:
        if event.event_type == "send":
            progress.advance()
        yield event


def write_events(path: Path, events: Iterable[Event]) -> None:
    """Write events to ``path`` in the `dlrw produce` format, one a line.

    Lines are written in chunks by a second thread (the write system call runs without the
    GIL, so it overlaps with generating the next chunk); one chunk in flight at a time."""
    try:
        handle = path.open("wb")
    except OSError as exc:
        raise ConfigError(f"--out {path}: {exc.strerror}") from exc
    with handle, ThreadPoolExecutor(1, thread_name_prefix="dlrw-simulate-write") as writer:
        pending: Future[int] | None = None
        lines: list[str] = []
        for event in events:
            lines.append(event_line(event))
            if len(lines) >= 10_000:
                lines.append("")
                chunk = "\n".join(lines).encode()
                lines = []
                if pending is not None:
                    pending.result()
                pending = writer.submit(handle.write, chunk)
        if pending is not None:
            pending.result()
        if lines:
            lines.append("")
            handle.write("\n".join(lines).encode())
