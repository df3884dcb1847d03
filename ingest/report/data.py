"""What the report shows, read from the marts with SQLAlchemy (DuckDB or PostgreSQL).

Each function returns plain Python values (floats, ints, datetimes) so rendering never sees a
``Decimal`` or a driver type. Percentiles are computed by the warehouse with
``percentile_cont(...) within group (order by ...)``, which both warehouses accept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from dlrw.ingest.errors import DlrwError, ServiceUnavailable, error_line
from dlrw.ingest.report.svg import BoxStats
from dlrw.ingest.suppression import MIN_FAILURES
from dlrw.ingest.warehouse.marts import find_tables

__all__ = [
    "MARTS",
    "CampaignFunnel",
    "CauseBreakdown",
    "CellStats",
    "ConversionRow",
    "DeadNumbers",
    "DqResults",
    "ErrorCount",
    "NoRetryOperator",
    "OperatorTier",
    "ReportData",
    "Summary",
    "load_report_data",
]

# The marts the report reads (dbt_project/models/marts); dq_results is optional (`dlrw check`).
MARTS = (
    "fct_messages",
    "agg_deliverability_hourly",
    "agg_deliverability_daily",
    "fct_conversions_by_segment",
    "agg_error_codes_daily",
    "agg_failure_causes_daily",
    "dim_operator_retry",
    "agg_campaign_funnel",
    "dim_destinations",
)
DQ_TABLE = "dq_results"
# dbt puts marts in schema `marts` on PostgreSQL and in the target schema on DuckDB.
# A cell needs this share of all messages (and at least _MIN_CELL) to rank as "worst"; tiny
# cells would otherwise fill the table with 0% rates from a handful of messages.
_MIN_SHARE = 0.001
_MIN_CELL = 50
# Up to this many days the time series is hourly; longer periods are daily.
_HOURLY_MAX_DAYS = 7


@dataclass(frozen=True, slots=True)
class Summary:
    """Headline numbers for the top of the report."""

    first: datetime
    last: datetime
    sent: int
    delivered: int
    failed: int
    pending: int
    no_receipt: int
    cost: float
    currency: str

    @property
    def delivery_rate(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class CellStats:
    """Deliverability totals of one group of cells over the whole period."""

    key: tuple[Any, ...]
    sent: int
    delivered: int
    failed: int
    pending: int
    no_receipt: int
    cost: float

    @property
    def delivery_rate(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0

    @property
    def cost_per_delivered(self) -> float | None:
        return self.cost / self.delivered if self.delivered else None


@dataclass(frozen=True, slots=True)
class OperatorTier:
    """One heatmap cell: an operator reached over one route tier."""

    operator: str
    tier: int
    sent: int
    delivered: int


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """Undelivered messages of one status and error code."""

    status: str
    error_code: str
    messages: int


@dataclass(frozen=True, slots=True)
class ConversionRow:
    """Converted messages of one country and device OS, over the country's delivered messages."""

    country: str
    device_os: str
    converted: int
    delivered: int

    @property
    def rate(self) -> float:
        return self.converted / self.delivered if self.delivered else 0.0


@dataclass(frozen=True, slots=True)
class CauseBreakdown:
    """Failed messages of one country or route tier by failure cause, and all its messages."""

    group: str
    sent: int
    by_cause: dict[str, int]

    @property
    def failed(self) -> int:
        return sum(self.by_cause.values())


@dataclass(frozen=True, slots=True)
class DeadNumbers:
    """Numbers whose run of permanent failures makes them dead (dim_destinations, at least
    ``min_failures`` in a row, as `dlrw suppression-list`), against all numbers texted."""

    min_failures: int
    numbers: int
    failures: int  # the permanent failures of their runs
    cost_since: float  # spent on them since each run's first failure
    all_numbers: int
    # numbers by run length: 1, 2, ... up to the last bucket, which holds that length and longer
    by_run: list[tuple[int, int, float]]  # (run length, numbers, cost since)


@dataclass(frozen=True, slots=True)
class NoRetryOperator:
    """An operator whose network most likely does not retry phones that are off
    (dim_operator_retry's verdict no_retry), with its evidence."""

    country: str
    operator_name: str
    mcc_mnc: str
    sent: int
    delivered_late: int
    absent_subscriber: int

    @property
    def no_retry_share(self) -> float:
        return self.absent_subscriber / (self.absent_subscriber + self.delivered_late)


@dataclass(frozen=True, slots=True)
class CampaignFunnel:
    """One campaign over the whole period (agg_campaign_funnel summed)."""

    campaign_id: str
    sent: int
    delivered: int
    converted: int
    conversion_value: float
    cost: float


@dataclass(frozen=True, slots=True)
class DqResults:
    """The latest data-quality run, as the quality job wrote it (columns as they are)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    run_label: str


@dataclass
class ReportData:
    """Everything the report renders."""

    warehouse: str
    summary: Summary
    granularity: str  # "hour" or "day"
    tier_series: dict[int, list[tuple[datetime, float, int]]]
    tiers: list[CellStats]
    operators: list[CellStats]  # key: (country, operator_name, mcc_mnc)
    operator_tiers: list[OperatorTier]
    latency_by_tier: list[BoxStats]
    latency_by_country: list[BoxStats]
    worst_cells: list[CellStats]  # key: (country, operator_name, mcc_mnc, tier, provider)
    min_cell: int
    errors: list[ErrorCount]
    conversions: list[ConversionRow]
    causes_by_country: list[CauseBreakdown]  # the countries with the most failed messages
    causes_by_tier: list[CauseBreakdown]
    no_retry: list[NoRetryOperator]  # the most absent_subscriber failures first
    operators_judged: int  # operators with enough evidence for a retry verdict
    funnel: list[CampaignFunnel]  # the most messages first
    dead_numbers: DeadNumbers
    dq: DqResults | None = field(default=None)


def _float(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _datetime(value: Any) -> datetime:
    # DuckDB and PostgreSQL may hand back a date for a day period, a datetime for an hour.
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    return datetime.fromisoformat(str(value))


def _summary(conn: Connection, t: dict[str, str]) -> Summary:
    row = conn.execute(
        text(
            "select min(period_hour), max(period_hour), sum(sent), sum(delivered), sum(failed), "
            f"sum(pending), sum(no_receipt), sum(cost) from {t['agg_deliverability_hourly']}"
        )
    ).one()
    if not row[2]:
        raise DlrwError("the marts are empty: ingest some traffic, then run `dlrw build`")
    currencies = [
        r[0]
        for r in conn.execute(
            text(
                f"select distinct cost_currency from {t['fct_messages']} "
                "where cost_currency is not null limit 3"
            )
        )
    ]
    return Summary(
        first=_datetime(row[0]),
        last=_datetime(row[1]),
        sent=_int(row[2]),
        delivered=_int(row[3]),
        failed=_int(row[4]),
        pending=_int(row[5]),
        no_receipt=_int(row[6]),
        cost=_float(row[7]),
        currency=currencies[0] if len(currencies) == 1 else "mixed currencies",
    )


_TOTALS = "sum(sent), sum(delivered), sum(failed), sum(pending), sum(no_receipt), sum(cost)"


def _cells(
    conn: Connection, table: str, keys: str, having: str = "", order: str = ""
) -> list[CellStats]:
    width = len(keys.split(","))
    rows = conn.execute(
        text(f"select {keys}, {_TOTALS} from {table} group by {keys} {having} {order}")
    ).all()
    return [
        CellStats(
            key=tuple(r[:width]),
            sent=_int(r[width]),
            delivered=_int(r[width + 1]),
            failed=_int(r[width + 2]),
            pending=_int(r[width + 3]),
            no_receipt=_int(r[width + 4]),
            cost=_float(r[width + 5]),
        )
        for r in rows
    ]


def _tier_series(
    conn: Connection, t: dict[str, str], granularity: str
) -> dict[int, list[tuple[datetime, float, int]]]:
    table, period = (
        (t["agg_deliverability_hourly"], "period_hour")
        if granularity == "hour"
        else (t["agg_deliverability_daily"], "period_date")
    )
    series: dict[int, list[tuple[datetime, float, int]]] = {}
    rows = conn.execute(
        text(
            f"select {period}, route_tier, sum(sent), sum(delivered) from {table} "
            f"group by {period}, route_tier order by {period}, route_tier"
        )
    )
    for period_value, tier, sent, delivered in rows:
        if sent:
            series.setdefault(_int(tier), []).append(
                (_datetime(period_value), _int(delivered) / _int(sent), _int(sent))
            )
    return series


def _latency(conn: Connection, t: dict[str, str], key: str, keep: Sequence[Any]) -> list[BoxStats]:
    percentiles = ", ".join(
        f"percentile_cont({p}) within group (order by latency_s)"
        for p in (0.05, 0.25, 0.5, 0.75, 0.95)
    )
    rows = conn.execute(
        text(
            f"select {key}, {percentiles}, count(*) from {t['fct_messages']} "
            f"where latency_s is not null group by {key}"
        )
    ).all()
    by_key = {r[0]: r for r in rows}
    boxes = []
    for value in keep:
        if value not in by_key:
            continue
        r = by_key[value]
        label = f"tier {value}" if key == "route_tier" else str(value)
        p05, p25, p50, p75, p95 = (_float(v) for v in r[1:6])
        boxes.append(BoxStats(label, p05, p25, p50, p75, p95, count=_int(r[6])))
    return boxes


def _dq(conn: Connection, table: str) -> DqResults | None:
    """Rows of the newest run in ``dq_results``, whatever columns the quality job chose."""
    columns = list(conn.execute(text(f"select * from {table} where 1 = 0")).keys())
    run_column = next(
        (
            c
            for c in ("run_id", "run_at", "run_started_at", "checked_at", "created_at")
            if c in columns
        ),
        None,
    )
    where, label, params = "", "all rows", {}
    if run_column:
        latest = conn.execute(text(f"select max({run_column}) from {table}")).scalar()
        if latest is None:
            return None
        where, label, params = (
            f"where {run_column} = :latest",
            f"{run_column} {latest}",
            {"latest": latest},
        )
    rows = conn.execute(text(f"select * from {table} {where}"), params).all()
    if not rows:
        return None
    return DqResults(columns, [tuple(r) for r in rows], label)


def load_report_data(
    engine: Engine, *, top_operators: int = 20, top_countries: int = 12
) -> ReportData:
    """Query every section of the report; one readable error if a mart is missing."""
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"cannot reach the warehouse: {error_line(exc)}") from exc
    with conn:
        try:
            return _load(conn, top_operators, top_countries, engine.url)
        except SQLAlchemyError as exc:
            # A mart from another version of the dbt project: say so in a line, not a traceback.
            raise DlrwError(
                f"reading the marts failed ({error_line(exc)}): rebuild them with `dlrw build`"
            ) from exc


def _load(conn: Connection, top_operators: int, top_countries: int, url: Any) -> ReportData:
    t = find_tables(conn, [*MARTS, DQ_TABLE])
    missing = [m for m in MARTS if m not in t]
    if missing:
        raise DlrwError(
            f"mart{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found in the "
            "warehouse: run `dlrw build` first"
        )
    summary = _summary(conn, t)
    days = (summary.last - summary.first).total_seconds() / 86400
    granularity = "hour" if days <= _HOURLY_MAX_DAYS else "day"
    daily = t["agg_deliverability_daily"]
    min_cell = max(_MIN_CELL, math.ceil(summary.sent * _MIN_SHARE))

    tiers = _cells(conn, daily, "route_tier", order="order by route_tier")
    operators = _cells(
        conn,
        daily,
        "country, operator_name, mcc_mnc",
        order="order by sum(sent) desc",
    )
    top = operators[:top_operators]
    rank = {c.key: i for i, c in enumerate(top)}
    operator_tiers = [
        OperatorTier(_operator_label(c.key), int(c.key[3]), c.sent, c.delivered)
        for c in sorted(
            _cells(conn, daily, "country, operator_name, mcc_mnc, route_tier"),
            key=lambda c: (rank.get(c.key[:3], len(rank)), c.key[3]),
        )
        if c.key[:3] in rank
    ]
    worst = _cells(
        conn,
        daily,
        "country, operator_name, mcc_mnc, route_tier, provider",
        having=f"having sum(sent) >= {min_cell}",
        order="order by sum(delivered) * 1.0 / sum(sent), sum(sent) desc limit 12",
    )
    countries = [
        r[0]
        for r in conn.execute(
            text(
                f"select country from {daily} group by country order by sum(sent) desc "
                f"limit {top_countries}"
            )
        )
    ]
    errors = [
        ErrorCount(str(status), "none" if code is None else str(code), _int(n))
        for status, code, n in conn.execute(
            text(
                f"select status, error_code, sum(messages) from {t['agg_error_codes_daily']} "
                "where status <> 'DELIVERED' group by status, error_code "
                "order by sum(messages) desc limit 15"
            )
        )
    ]
    conversions = _conversions(conn, t["fct_conversions_by_segment"], countries)
    causes = t["agg_failure_causes_daily"]
    return ReportData(
        warehouse=url.render_as_string(hide_password=True),
        summary=summary,
        granularity=granularity,
        tier_series=_tier_series(conn, t, granularity),
        tiers=tiers,
        operators=[c for c in operators if c.sent >= min_cell],
        operator_tiers=operator_tiers,
        latency_by_tier=_latency(conn, t, "route_tier", [c.key[0] for c in tiers]),
        latency_by_country=_latency(conn, t, "country", countries),
        worst_cells=worst,
        min_cell=min_cell,
        errors=errors,
        conversions=conversions,
        causes_by_country=_causes(conn, causes, daily, "country")[:top_countries],
        causes_by_tier=sorted(_causes(conn, causes, daily, "route_tier"), key=lambda c: c.group),
        no_retry=_no_retry(conn, t["dim_operator_retry"]),
        operators_judged=_int(
            conn.execute(
                text(
                    f"select count(*) from {t['dim_operator_retry']} "
                    "where retry_verdict <> 'too_little_evidence'"
                )
            ).scalar()
        ),
        funnel=_funnel(conn, t["agg_campaign_funnel"]),
        dead_numbers=_dead_numbers(conn, t["dim_destinations"]),
        dq=_dq(conn, t[DQ_TABLE]) if DQ_TABLE in t else None,
    )


def _operator_label(key: tuple[Any, ...]) -> str:
    country, name, mcc_mnc = key[:3]
    return f"{country} · {name} ({mcc_mnc or 'no MCC-MNC'})"


def _causes(conn: Connection, causes: str, daily: str, key: str) -> list[CauseBreakdown]:
    """Failed messages by ``key`` and failure cause, the groups with the most failures first."""
    by_group: dict[Any, dict[str, int]] = {}
    for group, cause, n in conn.execute(
        text(
            f"select {key}, failure_cause, sum(messages) from {causes} "
            f"group by {key}, failure_cause"
        )
    ):
        by_group.setdefault(group, {})[str(cause)] = _int(n)
    sent: dict[Any, Any] = dict(
        conn.execute(text(f"select {key}, sum(sent) from {daily} group by {key}")).all()
    )
    label = (lambda g: f"tier {g}") if key == "route_tier" else str
    rows = [CauseBreakdown(label(g), _int(sent.get(g)), c) for g, c in by_group.items()]
    return sorted(rows, key=lambda r: (-r.failed, r.group))


# Run lengths shown one by one; longer runs share the last row.
_RUN_BUCKETS = 4


def _dead_numbers(conn: Connection, table: str) -> DeadNumbers:
    run = f"least(consecutive_permanent_failures, {_RUN_BUCKETS})"
    by_run = [
        (_int(length), _int(n), _float(cost))
        for length, n, cost in conn.execute(
            text(
                f"select {run}, count(*), sum(cost_since_first_permanent_failure) from {table} "
                f"where consecutive_permanent_failures > 0 group by {run} order by {run}"
            )
        )
    ]
    row = conn.execute(
        text(
            "select count(*), sum(consecutive_permanent_failures), "
            f"sum(cost_since_first_permanent_failure) from {table} "
            "where consecutive_permanent_failures >= :n"
        ),
        {"n": MIN_FAILURES},
    ).one()
    total = conn.execute(text(f"select count(*) from {table}")).scalar()
    return DeadNumbers(
        MIN_FAILURES, _int(row[0]), _int(row[1]), _float(row[2]), _int(total), by_run
    )


def _no_retry(conn: Connection, table: str) -> list[NoRetryOperator]:
    rows = conn.execute(
        text(
            f"select country, operator_name, mcc_mnc, sent, delivered_late, absent_subscriber "
            f"from {table} where retry_verdict = 'no_retry' "
            "order by absent_subscriber desc, country, mcc_mnc"
        )
    )
    return [
        NoRetryOperator(str(country), str(name), str(mcc_mnc), _int(sent), _int(late), _int(absent))
        for country, name, mcc_mnc, sent, late, absent in rows
    ]


def _funnel(conn: Connection, table: str) -> list[CampaignFunnel]:
    rows = conn.execute(
        text(
            "select campaign_id, sum(sent), sum(delivered), sum(converted), "
            f"sum(conversion_value), sum(cost) from {table} group by campaign_id "
            "order by sum(sent) desc, campaign_id"
        )
    )
    return [
        CampaignFunnel(
            "(none)" if campaign is None else str(campaign),
            _int(sent),
            _int(delivered),
            _int(converted),
            _float(value),
            _float(cost),
        )
        for campaign, sent, delivered, converted, value, cost in rows
    ]


def _conversions(conn: Connection, table: str, countries: Sequence[str]) -> list[ConversionRow]:
    """Per country: delivered messages (device_os 'all' rows) and converted ones per OS."""
    delivered = {
        country: _int(n)
        for country, n in conn.execute(
            text(
                f"select country, sum(delivered_messages) from {table} "
                "where device_os = 'all' group by country"
            )
        )
    }
    rows = []
    for country, device_os, converted in conn.execute(
        text(
            f"select country, device_os, sum(converted_messages) from {table} "
            "group by country, device_os"
        )
    ):
        if country in countries and delivered.get(country):
            rows.append(
                ConversionRow(str(country), str(device_os), _int(converted), delivered[country])
            )
    return rows
