"""The traffic generator: messages over a simulated timeline, what the network did with each, the
receipts providers report (and lose, repeat, delay and reorder), and the conversions.

Everything is drawn from one ``random.Random(seed)`` in a fixed order and every time is derived
from the simulated timeline (integer epoch milliseconds), so the same configuration gives the
same events byte for byte. Messages are generated in submission order; their receipts and
conversions wait in a heap until the timeline reaches their arrival time, so the stream comes
out sorted by arrival with bounded memory.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from dlrw.ingest.adapters.vonage import CURRENCY as VONAGE_CURRENCY
from dlrw.ingest.kafka.pii import hash_destination
from dlrw.ingest.simulate.failures import FailureCodes, load_failure_codes
from dlrw.ingest.simulate.incidents import Incident
from dlrw.ingest.simulate.receipts import ReceiptFactory
from dlrw.ingest.simulate.truth import TruthRow, fold_receipts
from dlrw.ingest.simulate.world import PROVIDERS, Campaign, Country, Route, World, load_world
from dlrw.models.events import ConversionEvent, DeliveryReceipt, Event, SendEvent
from dlrw.models.status import INTERMEDIATE_STATUSES, Status

__all__ = ["CURRENCY", "FAILURE_CAUSES", "PRICE_CURRENCY", "SimulationConfig", "Simulator"]

CURRENCY = "EUR"  # of conversion values
# Each provider bills in its own currency (the world's route prices are in it): Twilio in US
# dollars, Vonage only in euros.
PRICE_CURRENCY = {"smpp": "EUR", "twilio": "USD", "infobip": "EUR", "vonage": VONAGE_CURRENCY}
_SECOND = 1000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
# How long the network keeps trying a phone that is off, by campaign kind (OTPs go stale).
_VALIDITY_MS = {"transactional": 4 * _HOUR, "promotional": 48 * _HOUR}
_PHONE_BACK_MEAN_MS = 3 * _HOUR
# Receipt realities (per receipt unless noted).
_INTERMEDIATE = {"smpp": 0.35, "twilio": 0.7, "infobip": 0.15, "vonage": 0.3}
_OUT_OF_ORDER = 0.1  # P(an intermediate arrives after the final one)
_DUPLICATE = 0.015
_LATE_MIN_MS, _LATE_MAX_MS = 1 * _HOUR, 12 * _HOUR
_FIRST_ATTEMPT_FINAL = 0.15  # P(SMSC reports a final UNDELIV before a retry delivers)
_ORPHAN = 0.002  # orphan receipts per message
_SILENT_DROP = 0.2  # share of route drops that never get a final receipt
_EXPIRED_DROP = 0.3  # share of route drops that end EXPIRED (the rest UNDELIVERABLE)
# Conversions: device factors on the click rate, route tier factors (grey routes rewrite the
# sender id and arrive late, so fewer people act), click -> purchase delay.
_OS_SHARE_OTHER = 0.03
_OS_CLICK = {"ios": 1.3, "android": 1.0, "other": 0.5}
_TIER_CLICK = (1.0, 0.95, 0.8, 0.6)
_SEGMENTS = {"GSM7": (0.82, 0.97, 1.0), "UCS2": (0.5, 0.85, 1.0)}

# What the network did -> the failure cause (seed failure_codes) its report carries; the
# provider's code for it comes from the seed. Any EXPIRED report carries "expired".
FAILURE_CAUSES = {
    "dnd": "dnd_or_opt_out",
    "abandoned": "unknown_subscriber",
    "phone_off": "absent_subscriber",
    "network": "network_or_route",
    "route_drop": "network_or_route",
    "incident": "network_or_route",
    "expired": "expired",
}
# Statuses a provider cannot express are reported as the nearest one it can.
_EXPRESSIBLE: dict[str, dict[Status, Status]] = {
    "smpp": {},
    "twilio": {Status.EXPIRED: Status.UNDELIVERABLE},
    "infobip": {Status.ACCEPTED: Status.ENROUTE},
    "vonage": {},
}


# SendEvent's fields in order: sends are built by position (keywords cost a tenth of a send),
# so the order is checked once here.
_SEND_FIELDS = (
    "event_id",
    "message_id",
    "provider",
    "destination_hash",
    "country",
    "route_id",
    "route_tier",
    "segments",
    "submitted_at",
    "provider_message_id",
    "campaign_id",
    "sender_id",
    "mcc_mnc",
    "encoding",
    "price",
    "currency",
    "template_id",
)
if tuple(f.name for f in fields(SendEvent)) != _SEND_FIELDS:
    raise ImportError("SendEvent's fields changed: update ingest.simulate.engine")

# A provider's report: status, when it happened (epoch ms), failure cause (None: no error).
_Report = tuple[Status, int, str | None]


def _expovariate(random: Callable[[], float], lambd: float) -> float:
    # random.Random.expovariate's formula and draw, without its method call.
    return -math.log(1.0 - random()) / lambd


def _ms_to_datetime(ms: int) -> datetime:
    # Exact: a float's error at today's epoch seconds is far below the microsecond it rounds to.
    return datetime.fromtimestamp(ms / 1000, UTC)


def default_start(days: int, today: datetime | None = None) -> datetime:
    """UTC midnight ``days`` days before today's: the last ``days`` full days. Not
    deterministic across dates; pass ``--start`` for reproducible output."""
    now = today or datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate: ``messages`` sends over ``days`` days from ``start`` (UTC)."""

    messages: int
    days: int
    seed: int
    start: datetime
    incidents: tuple[Incident, ...] = ()


@dataclass(slots=True)
class _Subscriber:
    destination_hash: str
    mcc_mnc: str
    network: str  # where the number lives now (ported numbers differ from mcc_mnc)
    a2p_retry: bool
    dnd: bool
    abandoned: bool
    device_os: str


class _CountryTable:
    """Per-country lookups precomputed once: cumulative weights for every draw."""

    def __init__(self, country: Country, world: World, pool: int) -> None:
        self.country = country
        self.profile = country.profile
        self.operators = country.operators
        self.operator_cum = list(accumulate(op.weight for op in country.operators))
        self.routes = country.routes
        self.route_cum: dict[str, list[float]] = {}
        for kind in ("transactional", "promotional"):
            mix = world.tier_mix(country, kind)
            self.route_cum[kind] = list(
                accumulate(
                    mix[route.tier - 1] / sum(r.tier == route.tier for r in country.routes)
                    for route in country.routes
                )
            )
        self.pool = pool
        self.subscribers: dict[int, _Subscriber] = {}


class Simulator:
    """Generates the event stream of one configuration; ``events()`` may be iterated once."""

    def __init__(
        self,
        config: SimulationConfig,
        hash_key: bytes,
        world: World | None = None,
        verify_receipts: int = 200,
        failure_codes: FailureCodes | None = None,
    ) -> None:
        """``verify_receipts``: check the first receipt of each provider, status and error
        code and every n-th one against the adapters' rendering and parsing, and fail on any
        difference (1: all of them; 0: none; see ``ingest.simulate.receipts``)."""
        self.config = config
        self.receipts = ReceiptFactory(verify_receipts)
        self.world = world or load_world()
        self.failure_codes = failure_codes or load_failure_codes()
        self.hash_key = hash_key
        self.rng = random.Random(config.seed)
        self.counts: Counter[str] = Counter()
        self.start_ms = int(config.start.timestamp() * 1000)
        total_share = sum(c.share for c in self.world.countries)
        self.tables = [
            _CountryTable(
                c,
                self.world,
                # About three messages per subscriber, within bounds that keep memory flat.
                pool=max(50, min(20_000, int(config.messages * c.share / total_share / 3))),
            )
            for c in self.world.countries
        ]
        # Per kind: the campaigns and their cumulative weights.
        self._campaigns: dict[str, tuple[list[Campaign], list[float]]] = {}
        for kind in ("transactional", "promotional"):
            campaigns = [c for c in self.world.campaigns if c.kind == kind]
            self._campaigns[kind] = (campaigns, list(accumulate(c.weight for c in campaigns)))
        self._heap: list[tuple[int, int, Event]] = []
        self._seq = 0

    # -- timeline -------------------------------------------------------------------------------

    def _hourly_counts(
        self,
    ) -> tuple[list[int], list[tuple[_CountryTable, str]], list[list[float]]]:
        """Messages per UTC hour (largest remainder, so they sum to ``messages``), the
        (country, kind) cells and each hour's cumulative weights over them."""
        cells = [(t, kind) for t in self.tables for kind in ("transactional", "promotional")]
        weights, cums = [], []
        for hour in range(self.config.days * 24):
            at = self.config.start + timedelta(hours=hour)
            ws = [
                self.world.traffic_weight(t.country, kind, at.hour, at.weekday())
                for t, kind in cells
            ]
            weights.append(sum(ws))
            cums.append(list(accumulate(ws)))
        total = sum(weights)
        exact = [self.config.messages * w / total for w in weights]
        counts = [int(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
        for i in by_remainder[: self.config.messages - sum(counts)]:
            counts[i] += 1
        return counts, cells, cums

    # -- the stream -----------------------------------------------------------------------------

    def events(self, on_truth: Callable[[TruthRow], None] | None = None) -> Iterator[Event]:
        """Every event in arrival order; ``on_truth`` gets each message's truth row."""
        # The queued events hold no reference cycles, but their number makes the cyclic
        # collector rescan them over and over (a third of the run time); it is off meanwhile.
        collecting = gc.isenabled()
        gc.disable()
        try:
            yield from self._events(on_truth)
        finally:
            if collecting:
                gc.enable()

    def _events(self, on_truth: Callable[[TruthRow], None] | None) -> Iterator[Event]:
        rng = self.rng
        heap = self._heap
        counts, cells, cums = self._hourly_counts()
        for hour, n in enumerate(counts):
            if not n:
                continue
            hour_ms = self.start_ms + hour * _HOUR
            cum = cums[hour]
            top = cum[-1]
            times = sorted(hour_ms + int(rng.random() * _HOUR) for _ in range(n))
            for submitted_ms in times:
                while heap and heap[0][0] <= submitted_ms:
                    yield heapq.heappop(heap)[2]
                table, kind = cells[bisect(cum, rng.random() * top)]
                self.counts["send"] += 1
                yield self._message(table, kind, submitted_ms, on_truth)
                if rng.random() < _ORPHAN:
                    self._orphan(submitted_ms)
        while heap:
            yield heapq.heappop(heap)[2]

    def _push(self, arrival_ms: int, event: Event) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (arrival_ms, self._seq, event))
        self.counts[event.event_type] += 1

    # -- one message ----------------------------------------------------------------------------

    def _subscriber(self, table: _CountryTable) -> _Subscriber:
        rng = self.rng
        index = int(rng.random() * table.pool)
        sub = table.subscribers.get(index)
        if sub is None:
            p = table.profile
            op = table.operators[bisect(table.operator_cum, rng.random() * table.operator_cum[-1])]
            network = op.mcc_mnc
            if rng.random() < p.ported and len(table.operators) > 1:
                others = [o for o in table.operators if o is not op]
                network = others[int(rng.random() * len(others))].mcc_mnc
            first = 2 if p.dial_code == "1" else 1  # NANP numbers never start with 0 or 1
            national = rng.randrange(first * 10 ** (p.national_digits - 1), 10**p.national_digits)
            u = rng.random()
            device_os = "ios" if u < p.ios else "other" if u > 1 - _OS_SHARE_OTHER else "android"
            sub = _Subscriber(
                destination_hash=hash_destination(f"+{p.dial_code}{national}", self.hash_key),
                mcc_mnc=op.mcc_mnc,
                network=network,
                a2p_retry=op.a2p_retry,
                dnd=rng.random() < p.dnd,
                abandoned=rng.random() < p.abandoned,
                device_os=device_os,
            )
            table.subscribers[index] = sub
        return sub

    def _provider_message_id(self, provider: str) -> str:
        bits = self.rng.getrandbits(128)
        if provider == "twilio":
            return f"SM{bits:032x}"
        if provider == "infobip":
            h = f"{bits:032x}"
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return f"{bits >> 64:016X}"  # SMPP SMSCs and Vonage: 16 hex digits

    def _message(
        self,
        table: _CountryTable,
        kind: str,
        submitted_ms: int,
        on_truth: Callable[[TruthRow], None] | None,
    ) -> SendEvent:
        """One message: its send (returned), its receipts and conversions (queued by arrival)
        and, when asked for, its truth row."""
        rng = self.rng
        random = rng.random
        p = table.profile
        campaigns, cum = self._campaigns[kind]
        campaign = campaigns[bisect(cum, random() * cum[-1])]
        rcum = table.route_cum[kind]
        route = table.routes[bisect(rcum, random() * rcum[-1])]
        sub = self._subscriber(table)
        encoding = "UCS2" if random() < p.ucs2 else "GSM7"
        segments = bisect(_SEGMENTS[encoding], random()) + 1
        price = round(route.price * segments, 5)
        getrandbits = rng.getrandbits
        message_id = f"{getrandbits(128):032x}"
        provider = route.provider
        pmid = self._provider_message_id(provider)
        send = SendEvent(  # positional: see _SEND_FIELDS
            f"{getrandbits(128):032x}",  # event_id
            message_id,  # message_id
            provider,  # provider
            sub.destination_hash,  # destination_hash
            table.country.code,  # country
            route.route_id,  # route_id
            route.tier,  # route_tier
            segments,  # segments
            _ms_to_datetime(submitted_ms),  # submitted_at
            pmid,  # provider_message_id
            campaign.campaign_id,  # campaign_id
            campaign.sender_id,  # sender_id
            sub.mcc_mnc,  # mcc_mnc
            encoding,  # encoding
            price,  # price
            PRICE_CURRENCY[provider],  # currency
        )

        delivery, receipt_share, incident_cause = 1.0, 1.0, FAILURE_CAUSES["incident"]
        for incident in self.config.incidents:
            if incident.covers(sub.mcc_mnc, submitted_ms):
                delivery *= incident.delivery
                receipt_share *= incident.receipts
                incident_cause = incident.cause or incident_cause

        # What the network does: (status, cause, done time); plus optional earlier steps.
        latency = int(route.latency_s * _SECOND * math.exp(0.5 * rng.gauss(0.0, 1.0))) + 200
        done_ms = submitted_ms + latency
        buffered = False  # phone off on an operator that retries: a "buffered" receipt first
        first_attempt_ms: int | None = None
        status: Status | None  # None: dropped on the route without any final report
        if kind == "promotional" and sub.dnd:
            status, cause = Status.REJECTED, "dnd"
            done_ms = submitted_ms + 200 + int(random() * 1300)
        elif sub.abandoned:
            status, cause = Status.UNDELIVERABLE, "abandoned"
        elif random() >= route.delivery:
            u = random()
            if u < _SILENT_DROP:
                status, cause = None, "route_drop"
            elif u < _SILENT_DROP + _EXPIRED_DROP:
                status, cause = Status.EXPIRED, "route_drop"
                done_ms = submitted_ms + _VALIDITY_MS[kind]
            else:
                status, cause = Status.UNDELIVERABLE, "route_drop"
                done_ms += latency
        elif random() < p.network_fail:
            status, cause = Status.UNDELIVERABLE, "network"
        elif random() < p.phone_off:
            if sub.a2p_retry:
                buffered = True
                back_ms = int(_expovariate(random, 1.0 / _PHONE_BACK_MEAN_MS))
                if back_ms < _VALIDITY_MS[kind]:
                    status, cause = Status.DELIVERED, "delivered_after_retry"
                    done_ms = submitted_ms + latency + back_ms
                    # Some SMSCs report the failed first attempt as final, then the delivery;
                    # minutes apart, so the two never tie on a minute-precision done_at.
                    if (
                        provider in ("smpp", "vonage")
                        and back_ms >= 2 * _MINUTE
                        and random() < _FIRST_ATTEMPT_FINAL
                    ):
                        first_attempt_ms = submitted_ms + latency
                else:
                    status, cause = Status.EXPIRED, "expired"
                    done_ms = submitted_ms + _VALIDITY_MS[kind]
            else:
                status, cause = Status.UNDELIVERABLE, "phone_off"
        else:
            status, cause = Status.DELIVERED, "delivered"
        if status is Status.DELIVERED and delivery < 1.0 and random() >= delivery:
            status, cause = Status.UNDELIVERABLE, "incident"

        # The reports the provider makes, in the order they happen: (status, done, failure cause).
        reports: list[_Report] = []
        if status is not Status.REJECTED and (buffered or random() < _INTERMEDIATE[provider]):
            inter = Status.ENROUTE if buffered or random() < 0.5 else Status.ACCEPTED
            reports.append((inter, submitted_ms + 50 + int(random() * latency * 0.5), None))
        if first_attempt_ms is not None:
            reports.append((Status.UNDELIVERABLE, first_attempt_ms, FAILURE_CAUSES["phone_off"]))
        if status is Status.EXPIRED:
            reports.append((status, done_ms, FAILURE_CAUSES["expired"]))
        elif status is not None:
            failure = None if status is Status.DELIVERED else FAILURE_CAUSES[cause]
            if cause == "incident":
                failure = incident_cause
            reports.append((status, done_ms, failure))

        receipts = []
        failure_causes: dict[str, str] = {}  # event id -> the failure cause it carries
        for (st, done, failure), received_ms in self._receive(reports, route, receipt_share):
            receipt = self._receipt(
                provider, route.route_id, pmid, message_id, send, submitted_ms, sub.network, st,
                done, failure, received_ms,
            )  # fmt: skip
            self._push(received_ms, receipt)
            receipts.append(receipt)
            if failure is not None:
                failure_causes[receipt.event_id] = failure

        delivered_ms = done_ms if status is Status.DELIVERED else None
        converted = 0
        if delivered_ms is not None and campaign.click_rate > 0:
            converted = self._conversions(
                message_id, delivered_ms, sub.device_os, route.tier, p.conversion, campaign
            )
        if on_truth is None:
            return send
        on_truth(
            fold_receipts(
                receipts,
                failure_causes,
                message_id=message_id,
                provider=provider,
                provider_message_id=pmid,
                destination_hash=sub.destination_hash,
                country=table.country.code,
                mcc_mnc=sub.mcc_mnc,
                route_id=route.route_id,
                route_tier=route.tier,
                campaign_id=campaign.campaign_id,
                campaign_kind=kind,
                submitted_at=send.submitted_at,
                segments=segments,
                price=price,
                currency=send.currency,
                network_status=status.value if status is not None else None,
                cause=cause,
                a2p_retry=sub.a2p_retry,
                conversions=converted,
            )
        )
        return send

    def _receive(
        self, reports: list[_Report], route: Route, receipt_share: float
    ) -> list[tuple[_Report, int]]:
        """Which reports reach us and when: loss, delay, late holds, reordering, duplicates."""
        rng = self.rng
        random = rng.random
        keep = (1.0 - route.receipt_loss) * receipt_share
        late = route.late
        arrivals: list[tuple[_Report, int]] = []
        final_arrival: int | None = None
        for report in reversed(reports):  # the final first, so intermediates can trail it
            if random() >= keep:
                continue
            arrival = report[1] + 300 + int(_expovariate(random, 1 / 1500))
            if random() < late:
                arrival += rng.randrange(_LATE_MIN_MS, _LATE_MAX_MS)
            if report[0] not in INTERMEDIATE_STATUSES:
                final_arrival = arrival if final_arrival is None else final_arrival
            elif final_arrival is not None and random() < _OUT_OF_ORDER:
                arrival = final_arrival + 500 + int(random() * 10 * _MINUTE)
            arrivals.append((report, arrival))
            if random() < _DUPLICATE:
                arrivals.append((report, arrival + 2 * _SECOND + int(random() * 45 * _MINUTE)))
        return arrivals

    def _receipt(
        self,
        provider: str,
        route_id: str | None,
        pmid: str,
        message_id: str | None,
        send: SendEvent | None,
        submitted_ms: int | None,
        network: str | None,
        status: Status,
        done_ms: int,
        failure: str | None,
        received_ms: int,
    ) -> DeliveryReceipt:
        """One report as the provider sends it, and as the adapters read it; a failure cause
        becomes the provider's code for it on this route (seed failure_codes)."""
        status = _EXPRESSIBLE[provider].get(status, status)
        code = None
        if failure is not None:
            code = self.failure_codes.code_for(provider, route_id, status.value, failure, pmid)
        final = status not in INTERMEDIATE_STATUSES
        segments = send.segments if send is not None else None
        delivered = None  # segments delivered, on final receipts of our own messages
        if segments is not None and final:
            delivered = segments if status is Status.DELIVERED else 0
        return self.receipts.build(
            provider,
            pmid,
            status,
            received_ms,
            message_id,
            code,
            network,
            submitted_ms,
            # Twilio's "sent" / "queued" callbacks carry no done date.
            done_ms if final or provider != "twilio" else None,
            segments,
            delivered,
            send.price if send is not None and final else None,
            send.currency if send is not None and final else None,
        )

    def _conversions(
        self,
        message_id: str,
        delivered_ms: int,
        device_os: str,
        tier: int,
        country_factor: float,
        campaign: Campaign,
    ) -> int:
        """Queue the clicks and purchases one delivered message leads to; returns how many."""
        rng = self.rng
        click = campaign.click_rate * country_factor * _OS_CLICK[device_os] * _TIER_CLICK[tier - 1]
        if rng.random() >= click:
            return 0
        clicked_ms = delivered_ms + int(rng.lognormvariate(math.log(4 * _MINUTE), 1.0))
        self._push(clicked_ms, self._conversion(message_id, "click", clicked_ms, device_os, None))
        if rng.random() >= campaign.purchase_rate:
            return 1
        bought_ms = clicked_ms + int(rng.lognormvariate(math.log(15 * _MINUTE), 0.8))
        value = round(rng.expovariate(1.0 / campaign.order_value) + 1.0, 2)
        self._push(bought_ms, self._conversion(message_id, "purchase", bought_ms, device_os, value))
        return 2

    def _conversion(
        self, message_id: str, kind: str, at_ms: int, device_os: str, value: float | None
    ) -> ConversionEvent:
        return ConversionEvent(
            event_id=f"{self.rng.getrandbits(128):032x}",
            message_id=message_id,
            kind=kind,
            occurred_at=_ms_to_datetime(at_ms),
            value=value,
            currency=CURRENCY if value is not None else None,
            device_os=device_os,
        )

    def _orphan(self, now_ms: int) -> None:
        """A receipt for a provider message id we never sent (another account, a test, a bug)."""
        rng = self.rng
        provider = PROVIDERS[int(rng.random() * len(PROVIDERS))]
        status = Status.DELIVERED if rng.random() < 0.8 else Status.UNDELIVERABLE
        done_ms = now_ms + int(rng.random() * 30 * _SECOND)
        failure = None if status is Status.DELIVERED else FAILURE_CAUSES["network"]
        received_ms = done_ms + 500 + int(rng.random() * 5000)
        pmid = self._provider_message_id(provider)
        receipt = self._receipt(
            provider, None, pmid, None, None, None, None, status, done_ms, failure, received_ms
        )
        self.counts["orphan"] += 1
        self._push(received_ms, receipt)
