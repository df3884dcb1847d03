"""The simulated world: countries and operators (from the dbt operators seed), their behaviour,
the routes that reach them, the campaigns that send to them and the daily / weekly traffic
curves. Everything here is static data plus cheap lookups; ``engine`` draws from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlrw.ingest.errors import ConfigError
from dlrw.ingest.resources import SEEDS_DIR, read_seed

__all__ = [
    "CAMPAIGNS",
    "OPERATORS_CSV",
    "PROVIDERS",
    "Campaign",
    "Country",
    "Operator",
    "Route",
    "World",
    "load_world",
]

OPERATORS_CSV = SEEDS_DIR / "operators.csv"
PROVIDERS = ("smpp", "twilio", "infobip", "vonage")


@dataclass(frozen=True, slots=True)
class _Profile:
    """Behaviour of one country's mobile market (hand-set, roughly what senders observe)."""

    dial_code: str
    national_digits: int
    share: float  # relative traffic volume
    utc_offset: int  # hours; "local-time-ish" is enough for the daily curve
    network_fail: float  # P(operator fails a live, reachable phone) on a direct route
    hop_loss: float  # P(one intermediary drops the message), per extra hop
    phone_off: float  # P(handset off or out of coverage at submit time)
    abandoned: float  # share of numbers that are abandoned prepaid SIMs
    dnd: float  # share of numbers in a do-not-disturb registry
    a2p_retry: bool  # operators' default: do they retry phones that are off?
    ios: float  # device OS shares (the rest is android, minus "other")
    ucs2: float  # share of messages in a non-Latin script
    conversion: float  # multiplier on campaign click rates
    price: float  # per segment on a tier-1 route, in the provider's currency (PRICE_CURRENCY)
    ported: float  # share of numbers ported away from the range holder
    good_routes: bool  # mature market: most traffic goes over tier-1/2


# North America and Western Europe: direct routes deliver >= 95%.
# Columns in _Profile order: dial, digits, share, utc, network_fail, hop_loss, phone_off,
# abandoned, dnd, a2p_retry, ios, ucs2, conversion, price, ported, good_routes.
_P = _Profile
# fmt: off
_PROFILES: dict[str, _Profile] = {
    "US": _P("1", 10, 16.0, -5, .005, .02, .015, .004, 0.0, True, .55, .01, 1.2, .0079, .03, True),
    "CA": _P("1", 10, 3.0, -5, .005, .02, .015, .004, 0.0, True, .55, .02, 1.1, .0075, .03, True),
    "GB": _P("44", 10, 6.0, 0, .004, .02, .015, .003, 0.0, True, .50, .01, 1.1, .0350, .03, True),
    "DE": _P("49", 11, 5.0, 1, .004, .02, .012, .003, 0.0, True, .38, .02, 1.0, .0750, .02, True),
    "FR": _P("33", 9, 5.0, 1, .004, .02, .015, .003, .15, True, .35, .02, 1.0, .0700, .03, True),
    "ES": _P("34", 9, 3.0, 1, .005, .02, .015, .004, 0.0, True, .25, .01, 1.0, .0650, .04, True),
    "IT": _P("39", 10, 3.0, 1, .005, .02, .015, .004, 0.0, True, .30, .01, 1.0, .0690, .04, True),
    "NL": _P("31", 9, 2.0, 1, .004, .02, .012, .003, 0.0, True, .45, .01, 1.1, .0820, .03, True),
    "CH": _P("41", 9, 1.0, 1, .004, .02, .012, .003, 0.0, True, .55, .01, 1.2, .0600, .02, True),
    "DK": _P("45", 8, 1.0, 1, .004, .02, .012, .003, 0.0, True, .55, .01, 1.2, .0550, .02, True),
    "IN": _P("91", 10, 12.0, 5, .03, .06, .06, .05, .50, False, .05, .25, 0.8, .0025, .05, False),
    "ID": _P("62", 11, 5.0, 7, .04, .07, .06, .08, 0.0, False, .10, 0.0, 0.8, .0380, .02, False),
    "PH": _P("63", 10, 3.0, 8, .04, .06, .06, .07, 0.0, False, .10, 0.0, 0.9, .0200, .01, False),
    "VN": _P("84", 9, 2.0, 7, .05, .07, .05, .06, 0.0, False, .25, .30, 0.8, .0450, .01, False),
    "PK": _P("92", 10, 2.0, 5, .06, .08, .07, .07, 0.0, False, .04, .30, 0.6, .0600, .02, False),
    "BD": _P("880", 10, 2.0, 6, .06, .08, .07, .07, 0.0, False, .03, .35, 0.6, .0400, .02, False),
    "TR": _P("90", 10, 2.0, 3, .02, .04, .03, .03, 0.0, True, .20, .02, 0.9, .0280, .04, False),
    "SA": _P("966", 9, 2.0, 3, .02, .05, .03, .03, 0.0, True, .40, .60, 1.0, .0450, .02, False),
    "AE": _P("971", 9, 1.5, 4, .015, .04, .02, .03, 0.0, True, .55, .50, 1.1, .0480, .02, False),
    "EG": _P("20", 10, 2.0, 2, .05, .07, .06, .06, 0.0, False, .08, .60, 0.7, .0900, .01, False),
    "NG": _P("234", 10, 3.0, 1, .07, .09, .08, .09, 0.0, False, .08, 0.0, 0.7, .0500, .01, False),
    "ZA": _P("27", 9, 2.0, 2, .03, .05, .05, .05, 0.0, True, .18, 0.0, 0.9, .0200, .03, False),
    "KE": _P("254", 9, 1.5, 3, .04, .06, .06, .06, 0.0, False, .10, 0.0, 0.8, .0250, .01, False),
    "BR": _P("55", 11, 6.0, -3, .03, .05, .04, .05, 0.0, True, .15, 0.0, 1.0, .0200, .05, False),
    "MX": _P("52", 10, 4.0, -6, .03, .05, .04, .05, 0.0, True, .22, 0.0, 0.9, .0250, .04, False),
    "CO": _P("57", 10, 2.0, -5, .04, .06, .05, .05, 0.0, False, .15, 0.0, 0.9, .0120, .03, False),
    "AR": _P("54", 10, 2.0, -3, .04, .06, .05, .05, 0.0, False, .20, 0.0, 0.9, .0450, .03, False),
    "AU": _P("61", 9, 2.0, 10, .006, .02, .015, .004, 0.0, True, .55, .02, 1.2, .0400, .03, True),
}
# fmt: on

# Operators that do not retry a phone that is off (no A2P store-and-forward), against their
# country's default.
_A2P_RETRY_OVERRIDES: dict[str, bool] = {
    "40434": False,  # BSNL
    "62150": False,  # Globacom
    "51011": False,  # XL Axiata
    "47002": False,  # Robi
    "405857": True,  # Reliance Jio retries
    "40410": True,  # Airtel retries
    "63902": True,  # Safaricom retries
}

# Route mix (share of a country's traffic by tier) for mature and other markets; transactional
# traffic (OTPs) is routed more carefully than promotional.
_TIER_MIX = {
    (True, "transactional"): (0.62, 0.25, 0.09, 0.04),
    (True, "promotional"): (0.45, 0.30, 0.15, 0.10),
    (False, "transactional"): (0.35, 0.30, 0.20, 0.15),
    (False, "promotional"): (0.20, 0.30, 0.25, 0.25),
}
# Per tier: price multiplier, added median latency (s), share of late receipts, and the receipt
# loss of an ordinary route of that tier.
_TIER_PRICE = (1.0, 1.12, 1.25, 1.4)
_TIER_LATENCY_S = (2.5, 6.0, 12.0, 25.0)
_TIER_LATE = (0.005, 0.01, 0.02, 0.04)
_TIER_RECEIPT_LOSS = (0.002, 0.005, 0.015, 0.04)
# The "-b" route of tiers 3 and 4 is a grey route that drops receipts it should forward.
_LOSSY_RECEIPT_LOSS = 0.25
# Every tier has two routes, "a" and "b", sharing its traffic evenly.
_ROUTE_SUFFIXES = ("a", "b")

# Daily curves (24 local hours) and weekly (Mon..Sun) weights by campaign kind. Promotional
# traffic respects quiet hours; OTPs follow people's activity.
_DAILY = {
    "transactional": (
        0.15, 0.08, 0.05, 0.04, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0, 1.0, 1.0,
        1.0, 1.0, 0.95, 0.95, 0.95, 1.0, 1.0, 1.0, 0.9, 0.7, 0.45, 0.25,
    ),
    "promotional": (
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.1, 0.4, 0.8, 1.0, 1.0,
        0.9, 0.7, 0.6, 0.6, 0.7, 0.9, 1.0, 0.9, 0.6, 0.3, 0.05, 0.0,
    ),
}  # fmt: skip
_WEEKLY = {
    "transactional": (1.0, 1.0, 1.0, 1.0, 1.05, 0.85, 0.75),
    "promotional": (0.9, 1.0, 1.0, 1.0, 1.1, 0.8, 0.45),
}
_PROMOTIONAL_SHARE = 0.4


@dataclass(frozen=True, slots=True)
class Campaign:
    """A sender's campaign; click / purchase rates are per delivered message, before factors."""

    campaign_id: str
    kind: str  # "promotional" or "transactional"
    sender_id: str
    weight: float
    click_rate: float
    purchase_rate: float  # P(purchase | click)
    order_value: float  # mean purchase value, EUR


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign("c-otp-login", "transactional", "VERIFY", 5.0, 0.0, 0.0, 0.0),
    Campaign("c-otp-payment", "transactional", "SECURE", 2.0, 0.0, 0.0, 0.0),
    Campaign("c-order-updates", "transactional", "SHOPCO", 2.0, 0.04, 0.02, 35.0),
    Campaign("c-parcel-alerts", "transactional", "PARCEL", 1.0, 0.08, 0.0, 0.0),
    Campaign("c-weekly-deals", "promotional", "SHOPCO", 4.0, 0.05, 0.12, 42.0),
    Campaign("c-black-friday", "promotional", "SHOPCO", 2.0, 0.09, 0.18, 80.0),
    Campaign("c-winback", "promotional", "STREAMR", 2.0, 0.03, 0.25, 12.0),
    Campaign("c-app-launch", "promotional", "FITAPP", 1.0, 0.06, 0.08, 20.0),
)


@dataclass(frozen=True, slots=True)
class Operator:
    """A mobile network (MCC-MNC) and whether it retries phones that are off."""

    mcc_mnc: str
    country: str
    name: str
    a2p_retry: bool
    weight: float


@dataclass(frozen=True, slots=True)
class Route:
    """One way to reach a country: ``tier - 1`` intermediaries between us and the operator."""

    route_id: str
    country: str
    tier: int
    provider: str
    price: float  # EUR per segment
    delivery: float  # P(no hop drops the message): (1 - hop_loss) ** (tier - 1)
    latency_s: float  # median submit -> handset
    late: float  # P(a receipt is held back for hours)
    receipt_loss: float  # P(a receipt is never forwarded)


@dataclass(frozen=True, slots=True)
class Country:
    """A destination country with its operators, routes and behaviour."""

    code: str
    name: str
    region: str
    index: int
    profile: _Profile
    operators: tuple[Operator, ...]
    routes: tuple[Route, ...]

    @property
    def share(self) -> float:
        return self.profile.share


@dataclass(frozen=True, slots=True)
class World:
    """All countries (in operators-seed order) and the campaigns."""

    countries: tuple[Country, ...]
    campaigns: tuple[Campaign, ...]

    @staticmethod
    def tier_mix(country: Country, kind: str) -> tuple[float, ...]:
        """Share of the country's ``kind`` traffic by route tier 1-4."""
        return _TIER_MIX[(country.profile.good_routes, kind)]

    @staticmethod
    def traffic_weight(country: Country, kind: str, utc_hour: int, utc_weekday: int) -> float:
        """Relative volume of ``kind`` traffic to ``country`` in one UTC hour."""
        shifted = utc_hour + country.profile.utc_offset
        local_hour = shifted % 24
        local_weekday = (utc_weekday + shifted // 24) % 7
        kind_share = _PROMOTIONAL_SHARE if kind == "promotional" else 1 - _PROMOTIONAL_SHARE
        return country.share * kind_share * _DAILY[kind][local_hour] * _WEEKLY[kind][local_weekday]


def _routes(code: str, index: int, profile: _Profile) -> tuple[Route, ...]:
    routes = []
    for tier in range(1, 5):
        for n, suffix in enumerate(_ROUTE_SUFFIXES):
            # Spread providers so every country is reached through several of them.
            provider = PROVIDERS[(index + tier * 2 + n) % len(PROVIDERS)]
            lossy = tier >= 3 and suffix == "b"
            routes.append(
                Route(
                    route_id=f"r-{code}-t{tier}-{suffix}",
                    country=code,
                    tier=tier,
                    provider=provider,
                    price=round(profile.price * _TIER_PRICE[tier - 1] * (1 + 0.03 * n), 5),
                    delivery=(1 - profile.hop_loss) ** (tier - 1),
                    latency_s=_TIER_LATENCY_S[tier - 1],
                    late=_TIER_LATE[tier - 1],
                    receipt_loss=_LOSSY_RECEIPT_LOSS if lossy else _TIER_RECEIPT_LOSS[tier - 1],
                )
            )
    return tuple(routes)


def load_world(path: Path = OPERATORS_CSV) -> World:
    """Countries and operators from the dbt seed, with this module's behaviour parameters."""
    rows = read_seed(path)
    by_country: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_country.setdefault(row["country"], []).append(row)
    missing = sorted(set(by_country) - set(_PROFILES))
    if missing:
        raise ConfigError(f"no simulation profile for countries in {path.name}: {missing}")
    countries = []
    for index, (code, ops) in enumerate(by_country.items()):
        profile = _PROFILES[code]
        operators = tuple(
            Operator(
                mcc_mnc=row["mcc_mnc"],
                country=code,
                name=row["operator_name"],
                a2p_retry=_A2P_RETRY_OVERRIDES.get(row["mcc_mnc"], profile.a2p_retry),
                # The seed lists incumbents first; they carry more subscribers.
                weight=1.0 / (rank + 1.5),
            )
            for rank, row in enumerate(ops)
        )
        countries.append(
            Country(
                code=code,
                name=ops[0]["country_name"],
                region=ops[0]["region"],
                index=index,
                profile=profile,
                operators=operators,
                routes=_routes(code, index, profile),
            )
        )
    return World(countries=tuple(countries), campaigns=CAMPAIGNS)
