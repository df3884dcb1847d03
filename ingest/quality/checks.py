"""The checks of `dlrw check`: for each, the SQL that computes its per-cell figures and the GX
suite (written as code) that asserts on them.

A *figure check* computes one row per cell (provider x operator, provider x operator x hour, ...)
with the figure it judges; its suite holds typed expectations on that figure, so GX decides
which cells fail and lists them by their cell columns. Row rules (status model, rates in [0, 1],
route tiers, sent = delivered + failed + pending, done_at not before submitted_at) are dbt tests
that `dlrw build` runs, not checks here. Every SQL text here runs unchanged on DuckDB and
PostgreSQL; the callers substitute relation names through ``Relations``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from dlrw.ingest.quality.relations import Reference, Relations
from dlrw.ingest.quality.thresholds import Thresholds

__all__ = [
    "FigureCheck",
    "figure_checks",
]


@dataclass
class FigureCheck:
    """One check computed per cell: SQL for the figures, and the suite that judges them."""

    name: str
    query: str
    cell_columns: tuple[str, ...]
    figure: str
    threshold: float
    # ">" when a figure above the threshold fails, "<" when one below it does.
    fails_when: str
    suite: gx.ExpectationSuite
    # Extra columns GX should return for failing cells (used in the failure line).
    detail_columns: tuple[str, ...] = ()
    detail: Callable[[Mapping[str, Any]], str] = field(default=lambda row: "")
    # Why nothing was judged, when the data gives no basis (e.g. no sends at all).
    skipped: str | None = None
    # Cell columns to summarise passing rows by (their worst figure); failing rows stay whole.
    passing_summary: tuple[str, ...] = ()

    @property
    def asset_query(self) -> str:
        """The query as a GX query asset takes it: GX requires a leading SELECT, so CTEs go
        inside a derived table."""
        return f"select * from (\n{self.query.strip()}\n) as figures"


def _ts(value: datetime) -> str:
    """A portable timestamp literal (naive UTC)."""
    return f"cast('{value.strftime('%Y-%m-%d %H:%M:%S')}' as timestamp)"


def _day(value: date) -> str:
    return f"cast('{value.isoformat()}' as date)"


def _floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _share(numerator: str, denominator: str) -> str:
    return f"cast({numerator} as double precision) / nullif({denominator}, 0)"


def _count(value: Any) -> str:
    return f"{int(value or 0):,}"


def _ceiling(name: str, figure: str, threshold: float, description: str) -> gx.ExpectationSuite:
    """The suite of a check that fails the cells whose ``figure`` (never negative) is above
    ``threshold``."""
    suite = gx.ExpectationSuite(name=name)
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column=figure, min_value=0, max_value=threshold, description=description
        )
    )
    return suite


# --- 1. missing receipts ---------------------------------------------------------------------


def _windows(start: datetime, end: datetime, hours: float) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of ``hours`` (the last one may be shorter)."""
    windows = []
    while start < end:
        windows.append((start, min(start + timedelta(hours=hours), end)))
        start += timedelta(hours=hours)
    return windows


def missing_receipts(rel: Relations, ref: Reference, th: Thresholds) -> FigureCheck:
    """Share of messages with no receipt at all, per provider x operator, over the messages
    submitted in the lookback window that ends where the receipt window starts; with a period
    (``--since``), per provider x operator x window of the lookback's length over the period."""
    t = th.missing_receipts
    # A cell whose receipts stop coming shows every message as pending: its rates are wrong.
    suite = _ceiling(
        "missing_receipts",
        "share",
        t.max_share,
        f"share of messages with no receipt at all <= {t.max_share}",
    )
    windows: list[tuple[datetime, datetime]] = []
    skipped: str | None = "no messages sent"
    if ref.newest_send is not None:
        # Whole hours that ended before the receipt window: their receipts should all be in.
        end = _floor_hour(ref.newest_send - timedelta(hours=t.receipt_window_hours))
        if ref.since is None:
            windows = [(end - timedelta(hours=t.lookback_hours), end)]
        else:
            if ref.until is not None:
                end = min(end, ref.until)
            windows = _windows(ref.since, end, t.lookback_hours)
        skipped = None if windows else "no hour of the period has all its receipts in yet"
    listed = ",\n        ".join(f"({_ts(a)}, {_ts(b)})" for a, b in windows) or (
        f"({_ts(datetime(1970, 1, 1))}, {_ts(datetime(1970, 1, 1))})"
    )
    hourly = rel.model("agg_deliverability_hourly")
    query = f"""
with windows as (
    select * from (values
        {listed}
    ) as judged(window_start, window_end)
)
select
    hourly.provider,
    coalesce(hourly.mcc_mnc, 'unknown') as operator,
    windows.window_start,
    max(hourly.operator_name) as operator_name,
    sum(hourly.sent) as messages,
    sum(hourly.no_receipt) as missing,
    {_share("sum(hourly.no_receipt)", "sum(hourly.sent)")} as share
from {hourly} as hourly
inner join windows
    on hourly.period_hour >= windows.window_start and hourly.period_hour < windows.window_end
group by hourly.provider, coalesce(hourly.mcc_mnc, 'unknown'), windows.window_start
having sum(hourly.sent) >= {t.min_messages}
"""
    return FigureCheck(
        name="missing_receipts",
        query=query,
        # Over a period, each window is a cell of its own (named by its first hour).
        cell_columns=("provider", "operator") + (() if ref.since is None else ("window_start",)),
        figure="share",
        threshold=t.max_share,
        fails_when=">",
        suite=suite,
        detail_columns=("missing", "messages"),
        detail=lambda r: f"({_count(r['missing'])} of {_count(r['messages'])} messages)",
        skipped=skipped,
    )


# --- 2. silent hours -------------------------------------------------------------------------


def silent_hours(rel: Relations, ref: Reference, th: Thresholds) -> FigureCheck:
    """Per provider x operator x hour of submission: messages that got any receipt, for hours
    in which the cell normally has traffic (median messages in that UTC hour of the day over
    the baseline days >= min_normal_messages). No sends means no receipts too, so one figure,
    ``with_receipt``, catches both kinds of silence. With a period (``--since``), every settled
    hour of the period is judged, against a baseline that spans it too."""
    t = th.silent_hours
    suite = gx.ExpectationSuite(name="silent_hours")
    # A cell that normally has traffic and goes silent (no sends or no receipts) hides an outage.
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="with_receipt",
            min_value=1,
            description="every hour with normal traffic has messages that got a receipt",
        )
    )
    if ref.newest_send is None or ref.first_hour is None:
        judged_from = judged_to = baseline_from = datetime(1970, 1, 1)
        skipped: str | None = "no messages sent"
    else:
        # The newest hours may still be waiting for receipts; judge complete, settled hours.
        judged_to = _floor_hour(ref.newest_send - timedelta(minutes=t.settle_minutes)) - timedelta(
            hours=1
        )
        if ref.since is None:
            judged_from = judged_to - timedelta(hours=t.lookback_hours - 1)
        else:
            judged_from = _floor_hour(ref.since)
            if ref.until is not None:
                judged_to = min(judged_to, ref.until - timedelta(hours=1))
        # The baseline never reaches before the first data: empty days are not "normal".
        baseline_from = max(
            min(judged_from, judged_to - timedelta(days=t.baseline_days)), ref.first_hour
        )
        skipped = None if judged_to >= baseline_from else "less than an hour of settled traffic"
        if judged_to < judged_from:
            skipped = "no settled hour in the period"
    hourly = rel.model("agg_deliverability_hourly")
    query = f"""
with hours as (
    select generate_series as hour
    from generate_series({_ts(baseline_from)}, {_ts(judged_to)}, interval '1 hour')
),
traffic as (
    select
        provider,
        coalesce(mcc_mnc, 'unknown') as operator,
        period_hour as hour,
        sum(sent) as messages,
        sum(sent) - sum(no_receipt) as with_receipt
    from {hourly}
    where period_hour >= {_ts(baseline_from)} and period_hour <= {_ts(judged_to)}
    group by provider, coalesce(mcc_mnc, 'unknown'), period_hour
),
cells as (
    select distinct provider, operator from traffic
),
grid as (
    select
        cells.provider,
        cells.operator,
        hours.hour,
        coalesce(traffic.messages, 0) as messages,
        coalesce(traffic.with_receipt, 0) as with_receipt
    from cells
    cross join hours
    left join traffic
        on traffic.provider = cells.provider
        and traffic.operator = cells.operator
        and traffic.hour = hours.hour
),
normal as (
    select
        provider,
        operator,
        extract(hour from hour) as hour_of_day,
        percentile_cont(0.5) within group (order by messages) as normal_messages
    from grid
    group by provider, operator, extract(hour from hour)
)
select
    grid.provider,
    grid.operator,
    grid.hour,
    grid.messages,
    grid.with_receipt,
    normal.normal_messages
from grid
inner join normal
    on normal.provider = grid.provider
    and normal.operator = grid.operator
    and normal.hour_of_day = extract(hour from grid.hour)
where grid.hour >= {_ts(judged_from)}
    and normal.normal_messages >= {t.min_normal_messages}
"""

    def detail(row: Mapping[str, Any]) -> str:
        normal = f"normal {float(row['normal_messages']):,.0f} messages/h at this hour"
        if not row["messages"]:
            return f"(no sends; {normal})"
        got = f"{_count(row['with_receipt'])} of {_count(row['messages'])}"
        return f"({got} messages got a receipt; {normal})"

    return FigureCheck(
        name="silent_hours",
        query=query,
        cell_columns=("provider", "operator", "hour"),
        figure="with_receipt",
        threshold=1,
        fails_when="<",
        suite=suite,
        detail_columns=("messages", "normal_messages"),
        detail=detail,
        skipped=skipped,
        # One result row per quiet cell, not per hour: dq_results stays readable.
        passing_summary=("provider", "operator"),
    )


# --- 3. freshness ----------------------------------------------------------------------------


def freshness(rel: Relations, ref: Reference, th: Thresholds) -> FigureCheck:
    """Minutes between the newest received_at and ``now``."""
    t = th.freshness
    suite = gx.ExpectationSuite(name="freshness")
    # An empty receipts table is the stalest of all: nothing has arrived.
    suite.add_expectation(
        gxe.ExpectColumnValuesToNotBeNull(column="age_minutes", description="receipts exist")
    )
    # Stale receipts mean ingest stopped; every recent rate would be computed on partial data.
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="age_minutes",
            max_value=t.max_age_minutes,
            description=f"newest receipt at most {t.max_age_minutes:g} minutes old",
        )
    )
    query = f"""
select
    'raw_receipts' as source,
    max(received_at) as newest_received_at,
    (extract(epoch from {_ts(ref.now)}) - extract(epoch from max(received_at))) / 60.0
        as age_minutes
from {rel.raw("raw_receipts")}
"""
    return FigureCheck(
        name="freshness",
        query=query,
        cell_columns=("source",),
        figure="age_minutes",
        threshold=t.max_age_minutes,
        fails_when=">",
        suite=suite,
        detail_columns=("newest_received_at",),
        detail=lambda r: (
            f"(newest received_at {r['newest_received_at']}, now {ref.now:%Y-%m-%d %H:%M:%S})"
            if r.get("newest_received_at") is not None
            else "(no receipts at all)"
        ),
    )


# --- 4. orphan receipts ----------------------------------------------------------------------


def orphan_receipts(rel: Relations, ref: Reference, th: Thresholds) -> FigureCheck:
    """Per provider, the share of deduplicated receipts that match no sent message, as
    int_receipts_matched matched them (by message_id, or provider + provider_message_id)."""
    t = th.orphan_receipts
    # Receipts that match no message are outcomes counted nowhere: sends lost, or ids mangled.
    suite = _ceiling(
        "orphan_receipts",
        "share",
        t.max_share,
        f"share of receipts matching no message <= {t.max_share}",
    )
    # dbt's matching is the one definition of a receipt's message; it keeps orphans unmatched.
    query = f"""
select
    provider,
    count(*) as receipts,
    sum(case when is_orphan then 1 else 0 end) as orphans,
    {_share("sum(case when is_orphan then 1 else 0 end)", "count(*)")} as share
from {rel.model("int_receipts_matched")}
group by provider
having count(*) >= {t.min_receipts}
"""
    return FigureCheck(
        name="orphan_receipts",
        query=query,
        cell_columns=("provider",),
        figure="share",
        threshold=t.max_share,
        fails_when=">",
        suite=suite,
        detail_columns=("orphans", "receipts"),
        detail=lambda r: f"({_count(r['orphans'])} of {_count(r['receipts'])} receipts)",
    )


# --- 5. reused ids ---------------------------------------------------------------------------

# How many of the most used reused ids a failure line names.
REUSED_ID_EXAMPLES = 3


def _one_line(text: str) -> str:
    """Text with its control characters escaped (ids may hold newlines)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def reused_ids(rel: Relations, th: Thresholds) -> FigureCheck:
    """Ids that more than one send uses: a provider_message_id on several messages of a provider,
    a message_id on several send events. Both are valid data the models resolve by a fixed rule
    (docs/design.md, "Rules and decisions"), which is right for an id reused long after and a
    guess otherwise."""
    t = th.reused_ids
    # A receipt for a reused id may land on the wrong message: a provider reusing ids fast, or a
    # sender reusing message_ids, makes the per-message outcomes doubtful.
    suite = _ceiling(
        "reused_ids", "reused", t.max_reused, f"ids used by more than one send <= {t.max_reused}"
    )
    sends = rel.raw("raw_sends")
    query = f"""
with uses as (
    select
        'provider_message_id' as id_kind,
        provider || ':' || provider_message_id as reused_id,
        count(distinct message_id) as uses
    from {sends}
    where provider_message_id <> ''
    group by provider, provider_message_id
    having count(distinct message_id) > 1
    union all
    select
        'message_id' as id_kind,
        message_id as reused_id,
        count(distinct event_id) as uses
    from {sends}
    group by message_id
    having count(distinct event_id) > 1
),
ranked as (
    select
        id_kind,
        reused_id,
        uses,
        row_number() over (partition by id_kind order by uses desc, reused_id) as example
    from uses
),
kinds as (
    select 'provider_message_id' as id_kind
    union all
    select 'message_id' as id_kind
)
select
    kinds.id_kind as id,
    count(ranked.reused_id) as reused,
    string_agg(
        case
            when ranked.example <= {REUSED_ID_EXAMPLES}
            then ranked.reused_id || ' (' || cast(ranked.uses as varchar) || ' uses)'
        end,
        ', ' order by ranked.example
    ) as examples
from kinds
left join ranked
    on ranked.id_kind = kinds.id_kind
group by kinds.id_kind
"""
    return FigureCheck(
        name="reused_ids",
        query=query,
        cell_columns=("id",),
        figure="reused",
        threshold=t.max_reused,
        fails_when=">",
        suite=suite,
        detail_columns=("examples",),
        detail=lambda r: f"(e.g. {_one_line(str(r['examples']))})" if r.get("examples") else "",
    )


# --- 6. reconciliation -----------------------------------------------------------------------

# Store kind -> (raw table, column that dates its rows); the store uses the same columns.
RECONCILED = {
    "send": ("raw_sends", "submitted_at"),
    "receipt": ("raw_receipts", "received_at"),
    "conversion": ("raw_conversions", "occurred_at"),
    "quarantine": ("raw_quarantine", "_ingested_at"),
}


def reconciliation(
    rel: Relations, th: Thresholds, store_counts: Mapping[tuple[str, date], int]
) -> FigureCheck:
    """Per store kind (event type, or quarantine) and event date: distinct records in the Avro
    store against rows in the matching raw table. The store's counts arrive as literal rows."""
    t = th.reconciliation
    # The store is the log of record: a record it holds and the warehouse lacks was lost on load.
    suite = _ceiling(
        "reconciliation",
        "difference",
        t.max_difference,
        "store and warehouse hold the same events per type and day",
    )
    if store_counts:
        values = ",\n        ".join(
            f"('{kind}', {_day(day)}, {count})"
            for (kind, day), count in sorted(store_counts.items())
        )
        store = (
            f"select * from (values\n        {values}\n    ) as counts(kind, event_date, events)"
        )
    else:
        store = (
            "select cast(null as varchar) as kind, cast(null as date) as event_date, "
            "0 as events where 1 = 0"
        )
    warehouse = "\n    union all\n    ".join(
        f"select '{kind}' as kind, cast({column} as date) as event_date, count(*) as events "
        f"from {rel.raw(table)} group by cast({column} as date)"
        for kind, (table, column) in RECONCILED.items()
    )
    query = f"""
with store as (
    {store}
),
warehouse as (
    {warehouse}
)
select
    coalesce(store.kind, warehouse.kind) as event_type,
    coalesce(store.event_date, warehouse.event_date) as event_date,
    coalesce(store.events, 0) as store_events,
    coalesce(warehouse.events, 0) as warehouse_events,
    abs(coalesce(store.events, 0) - coalesce(warehouse.events, 0)) as difference
from store
full outer join warehouse
    on store.kind = warehouse.kind
    and store.event_date = warehouse.event_date
"""
    return FigureCheck(
        name="reconciliation",
        query=query,
        cell_columns=("event_type", "event_date"),
        figure="difference",
        threshold=t.max_difference,
        fails_when=">",
        suite=suite,
        detail_columns=("store_events", "warehouse_events"),
        detail=lambda r: (
            f"(store {_count(r['store_events'])}, warehouse {_count(r['warehouse_events'])})"
        ),
    )


# --- 7. unmapped failure codes ---------------------------------------------------------------

# How many of a provider's most frequent unmapped codes its failure line names.
TOP_UNMAPPED_CODES = 3


def unmapped_failure_codes(rel: Relations, ref: Reference, th: Thresholds) -> FigureCheck:
    """Per provider, the share of failed messages (submitted in the lookback window before the
    newest send) whose failure cause is unknown, with its most frequent unmapped codes."""
    t = th.unmapped_failure_codes
    # A new code nobody mapped hides why messages fail: it belongs in seed failure_codes.
    suite = _ceiling(
        "unmapped_failure_codes",
        "share",
        t.max_unknown_share,
        f"share of failures with an unknown cause <= {t.max_unknown_share}",
    )
    if ref.newest_send is None:
        start = end = datetime(1970, 1, 1)
        skipped: str | None = "no messages sent"
    else:
        end = ref.newest_send
        start = end - timedelta(hours=t.lookback_hours)
        skipped = None
    query = f"""
with failures as (
    select provider, failure_cause, coalesce(error_code, '(no code)') as error_code
    from {rel.model("fct_messages")}
    where is_failed and submitted_at >= {_ts(start)} and submitted_at <= {_ts(end)}
),
unmapped as (
    select
        provider,
        error_code,
        count(*) as messages,
        row_number() over (partition by provider order by count(*) desc, error_code) as rank
    from failures
    where failure_cause = 'unknown'
    group by provider, error_code
),
top_codes as (
    select
        provider,
        string_agg(error_code || ' x' || cast(messages as varchar), ', ' order by rank) as codes
    from unmapped
    where rank <= {TOP_UNMAPPED_CODES}
    group by provider
),
totals as (
    select
        provider,
        count(*) as failures,
        sum(case when failure_cause = 'unknown' then 1 else 0 end) as unknown
    from failures
    group by provider
    having count(*) >= {t.min_failures}
)
select
    totals.provider,
    totals.failures,
    totals.unknown,
    {_share("totals.unknown", "totals.failures")} as share,
    top_codes.codes
from totals
left join top_codes
    on top_codes.provider = totals.provider
"""
    return FigureCheck(
        name="unmapped_failure_codes",
        query=query,
        cell_columns=("provider",),
        figure="share",
        threshold=t.max_unknown_share,
        fails_when=">",
        suite=suite,
        detail_columns=("unknown", "failures", "codes"),
        detail=lambda r: (
            f"({_count(r['unknown'])} of {_count(r['failures'])} failures; most frequent "
            f"unmapped codes: {r['codes']})"
        ),
        skipped=skipped,
    )


# --- 8. exchange rates ------------------------------------------------------------------------


def exchange_rates(rel: Relations, th: Thresholds) -> FigureCheck:
    """Per currency of the priced messages, those whose price has no exchange rate into the
    reporting currency for its day (seed exchange_rates), so that no cost counts it."""
    t = th.exchange_rates
    # A price without a rate is left out of every cost: the money marts understate the spend.
    suite = _ceiling(
        "exchange_rates",
        "unconverted",
        t.max_unconverted,
        f"prices without an exchange rate <= {t.max_unconverted}",
    )
    query = f"""
select
    coalesce(currency, '(none)') as currency,
    count(*) as priced,
    sum(case when fx_rate is null then 1 else 0 end) as unconverted,
    min(case when fx_rate is null then cast(submitted_at as date) end) as first_day,
    max(case when fx_rate is null then cast(submitted_at as date) end) as last_day
from {rel.model("fct_messages")}
where price is not null
group by coalesce(currency, '(none)')
"""
    return FigureCheck(
        name="exchange_rates",
        query=query,
        cell_columns=("currency",),
        figure="unconverted",
        threshold=t.max_unconverted,
        fails_when=">",
        suite=suite,
        detail_columns=("priced", "first_day", "last_day"),
        detail=lambda r: (
            f"(of {_count(r['priced'])} prices; those submitted {r['first_day']} to "
            f"{r['last_day']} have no exchange rate: add it to seed exchange_rates and rebuild)"
            if r["unconverted"]
            else f"(of {_count(r['priced'])} prices)"
        ),
    )


def figure_checks(
    rel: Relations,
    ref: Reference,
    th: Thresholds,
    store_counts: Mapping[tuple[str, date], int],
) -> list[FigureCheck]:
    """Every figure check, in report order."""
    return [
        missing_receipts(rel, ref, th),
        silent_hours(rel, ref, th),
        freshness(rel, ref, th),
        orphan_receipts(rel, ref, th),
        reused_ids(rel, th),
        reconciliation(rel, th, store_counts),
        unmapped_failure_codes(rel, ref, th),
        exchange_rates(rel, th),
    ]
