"""The report as one self-contained HTML page: inline CSS and SVG, no script, no external URL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from dlrw.ingest.report.data import CauseBreakdown, CellStats, ReportData
from dlrw.ingest.report.svg import (
    PALETTE,
    bar_chart,
    box_chart,
    grouped_bar_chart,
    heatmap,
    line_chart,
    rate_color,
    stacked_share_chart,
)

__all__ = ["PLOT_IDS", "TABLE_IDS", "render_html"]

# The data-plot id of every chart the report always contains (the browser test checks each).
PLOT_IDS = (
    "tier-delivery-over-time",
    "tier-cost",
    "operator-tier-heatmap",
    "latency-by-tier",
    "latency-by-country",
    "error-codes",
    "failure-causes-by-country",
    "failure-causes-by-tier",
    "campaign-funnel",
    "conversion-by-country-os",
)
TABLE_IDS = ("worst-cells", "dead-numbers", "no-retry-operators", "campaign-funnel")

_DASH = "\u2013"
# One colour per failure cause (docs/design.md, "Why messages fail"), the same in every report;
# a cause missing here (a newer seed) is drawn in the last colour.
CAUSE_COLOURS = {
    "dnd_or_opt_out": "#CC79A7",
    "filtered": "#D55E00",
    "absent_subscriber": "#56B4E9",
    "unknown_subscriber": "#0072B2",
    "network_or_route": "#E69F00",
    "expired": "#009E73",
    "provider_rejected": "#555555",
    "unknown": "#B8B8B8",
}
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: #1d1d1f; background: #f6f7f9; margin: 0; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 0 0 4px; }
.sub { color: #555; margin: 0 0 16px; }
section { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px;
          padding: 16px 18px; margin: 18px 0; overflow-x: auto; }
.how { color: #555; font-size: 13px; margin: 0 0 10px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 10px 14px;
        min-width: 150px; flex: 1; }
.card .k { color: #555; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 22px; font-weight: 650; margin-top: 2px; }
.card .n { color: #555; font-size: 12px; }
ul.findings { margin: 6px 0 0 18px; padding: 0; line-height: 1.55; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { padding: 4px 7px; border-bottom: 1px solid #eceef1; text-align: left; }
th { background: #f2f3f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td { white-space: nowrap; } td.wrap { white-space: normal; }
.pill { border-radius: 4px; padding: 1px 6px; font-weight: 600; }
.ok { background: #dff3e6; color: #1c6b3a; } .bad { background: #fbe0e0; color: #9b1c1c; }
.muted { color: #777; }
footer { color: #777; font-size: 12px; margin-top: 24px; }
"""


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _money(value: float, currency: str) -> str:
    unit = "" if currency == "mixed currencies" else f" {currency}"
    return f"{value:,.2f}{unit}" if value >= 100 else f"{value:,.4f}{unit}"


def _unit(currency: str) -> str:
    """`` (EUR)`` for a money column's heading; nothing when the currencies are mixed."""
    return "" if currency == "mixed currencies" else f" ({currency})"


def _table(name: str, head: Sequence[tuple[str, bool]], rows: str) -> str:
    """The table ``name`` (its ``data-table``): ``head`` as (heading, numeric), then ``rows``."""
    cells = "".join(
        f'<th class="num">{escape(label)}</th>' if numeric else f"<th>{escape(label)}</th>"
        for label, numeric in head
    )
    return f'<table data-table="{name}"><tr>{cells}</tr>{rows}</table>'


def _section(title: str, how: str, body: str, anchor: str) -> str:
    return (
        f'<section id="{anchor}"><h2>{escape(title)}</h2>'
        f'<p class="how">{escape(how)}</p>{body}</section>'
    )


def _card(label: str, value: str, note: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{escape(label)}</div>'
        f'<div class="v">{escape(value)}</div><div class="n">{escape(note)}</div></div>'
    )


def _period(data: ReportData) -> str:
    s = data.summary
    return f"{s.first:%Y-%m-%d %H:%M} \u2013 {s.last:%Y-%m-%d %H:%M} UTC"


def _summary(data: ReportData) -> str:
    s = data.summary
    days = max((s.last - s.first).total_seconds() / 86400, 1 / 24)
    cards = [
        _card("period", f"{days:.1f} days", _period(data)),
        _card("messages", f"{s.sent:,}", f"{s.sent / days:,.0f} a day"),
        _card("delivery rate", _pct(s.delivery_rate), f"{s.delivered:,} delivered"),
        _card("failed", f"{s.failed:,}", _pct(s.failed / s.sent) + " of messages"),
        _card(
            "pending",
            f"{s.pending:,}",
            f"{s.no_receipt:,} without any receipt",
        ),
        _card(
            "cost",
            _money(s.cost, s.currency),
            f"{_money(s.cost / s.delivered, s.currency)} per delivered"
            if s.delivered
            else "nothing delivered",
        ),
    ]
    findings = []
    ranked = sorted((c for c in data.tiers if c.sent), key=lambda c: c.delivery_rate)
    if ranked:
        best, worst = ranked[-1], ranked[0]
        findings.append(
            f"Best route tier: <b>tier {best.key[0]}</b> delivers {_pct(best.delivery_rate)} "
            f"of {best.sent:,} messages; worst: <b>tier {worst.key[0]}</b> with "
            f"{_pct(worst.delivery_rate)} of {worst.sent:,}."
        )
    if data.operators:
        op = min(data.operators, key=lambda c: c.delivery_rate)
        country, name, mcc_mnc = op.key
        findings.append(
            f"Worst operator (at least {data.min_cell:,} messages): <b>{escape(str(name))}</b> "
            f"({escape(str(country))}, MCC-MNC {escape(str(mcc_mnc))}) delivers "
            f"{_pct(op.delivery_rate)} of {op.sent:,} messages."
        )
    if data.worst_cells:
        cell = data.worst_cells[0]
        findings.append(
            f"Worst cell: {escape(_cell_label(cell))} at {_pct(cell.delivery_rate)} "
            f"({cell.sent:,} messages)."
        )
    return (
        f'<div class="cards">{"".join(cards)}</div>'
        f'<section id="summary"><h2>Summary</h2><ul class="findings">'
        + "".join(f"<li>{f}</li>" for f in findings)
        + "</ul></section>"
    )


def _cell_label(cell: CellStats) -> str:
    country, name, mcc_mnc, tier, provider = cell.key
    return f"{name} ({country}, {mcc_mnc}) over tier {tier} via {provider}"


def _tier_trend(data: ReportData) -> str:
    series = {
        f"tier {tier}": [(t, rate) for t, rate, _ in points]
        for tier, points in sorted(data.tier_series.items())
    }
    rates = [r for points in series.values() for _, r in points]
    lo = max(0.0, min(rates, default=0.0) - 0.02)
    unit = "hour" if data.granularity == "hour" else "day"
    chart = line_chart(
        "tier-delivery-over-time",
        f"Delivery rate by route tier, per {unit}",
        series,
        y_label="delivery rate (delivered / sent)",
        y_min=lo,
        y_max=1.0,
        height=300,
    )
    return _section(
        "Delivery rate by route tier over time",
        f"Share of messages sent in each UTC {unit} that were delivered, by route tier "
        "(tier 1 = direct to the operator; each higher tier adds an intermediary). The most "
        "recent periods dip while receipts are still on their way.",
        chart,
        "tiers",
    )


def _tier_cost(data: ReportData) -> str:
    tiers = [c for c in data.tiers if c.delivered]
    unit = _unit(data.summary.currency)
    chart = bar_chart(
        "tier-cost",
        "Cost per delivered message by route tier",
        [(f"tier {c.key[0]}", c.cost_per_delivered or 0.0) for c in tiers],
        x_label=f"cost per delivered message{unit}",
        value_format=lambda v: f"{v:.4f}",
        colours=[PALETTE[i % len(PALETTE)] for i in range(len(tiers))],
        notes=[
            f"{_pct(c.delivery_rate)} delivered, {c.cost / c.sent:.4f} per sent message"
            for c in tiers
        ],
        label_w=120,
    )
    rows = "".join(
        f'<tr><td>tier {c.key[0]}</td><td class="num">{c.sent:,}</td>'
        f'<td class="num">{_pct(c.delivery_rate)}</td>'
        f'<td class="num">{c.cost / c.sent:.4f}</td>'
        f'<td class="num">{(c.cost_per_delivered or 0):.4f}</td></tr>'
        for c in tiers
    )
    head = [
        ("tier", False),
        ("sent", True),
        ("delivery rate", True),
        (f"cost per sent{unit}", True),
        (f"cost per delivered{unit}", True),
    ]
    table = _table("tier-cost", head, rows)
    return _section(
        "Is a tier worth its price?",
        "What one delivered message costs on each tier: total cost of the tier's messages "
        "divided by those delivered. A cheap tier that loses messages can cost more per "
        "delivered message than a direct route.",
        chart + table,
        "tier-cost",
    )


def _heatmap(data: ReportData) -> str:
    # Rows in volume order (as queried), so the operators that matter most come first.
    operators: list[str] = []
    for cell in data.operator_tiers:
        if cell.operator not in operators:
            operators.append(cell.operator)
    tiers = sorted({c.tier for c in data.operator_tiers})
    columns = [f"tier {t}" for t in tiers]
    values: dict[tuple[str, str], float | None] = {}
    notes: dict[tuple[str, str], str] = {}
    for cell in data.operator_tiers:
        key = (cell.operator, f"tier {cell.tier}")
        values[key] = cell.delivered / cell.sent if cell.sent else None
        notes[key] = f"{cell.delivered:,} of {cell.sent:,} delivered"
    rates = [v for v in values.values() if v is not None]
    lo = min(0.9, round(min(rates, default=0.5) - 0.025, 2))
    chart = heatmap(
        "operator-tier-heatmap",
        "Delivery rate by operator and route tier",
        operators,
        columns,
        values,
        notes=notes,
        domain=(max(lo, 0.0), 1.0),
        row_header="operator (MCC-MNC), by volume",
    )
    return _section(
        "Operators \u00d7 route tiers",
        f"Delivery rate of the {len(operators)} busiest operators on each route tier; hover a "
        "cell for its volume. Red cells are where a different route or operator contact pays.",
        chart,
        "operators",
    )


def _latency(data: ReportData) -> str:
    by_tier = box_chart(
        "latency-by-tier",
        "Delivery latency by route tier",
        data.latency_by_tier,
        x_label="seconds from submission to handset delivery (log scale)",
    )
    by_country = box_chart(
        "latency-by-country",
        "Delivery latency by country",
        data.latency_by_country,
        x_label="seconds from submission to handset delivery (log scale)",
    )
    return _section(
        "Delivery latency",
        "Time from submission to the delivery receipt's done time, for delivered messages. "
        "Right of each plot: median / 95th percentile. Countries: the busiest by volume.",
        by_tier + "<h3>By country</h3>" + by_country,
        "latency",
    )


def _worst_cells(data: ReportData) -> str:
    unit = _unit(data.summary.currency)
    rows = []
    for cell in data.worst_cells:
        country, name, mcc_mnc, tier, provider = cell.key
        fill = rate_color(cell.delivery_rate, 0.5, 1.0)
        per_delivered = cell.cost_per_delivered
        rows.append(
            f'<tr><td>{escape(str(country))}</td><td class="wrap">{escape(str(name))}</td>'
            f"<td>{escape(str(mcc_mnc))}</td><td>tier {tier}</td><td>{escape(str(provider))}</td>"
            f'<td class="num">{cell.sent:,}</td><td class="num">{cell.delivered:,}</td>'
            f'<td class="num">{cell.failed:,}</td><td class="num">{cell.pending:,}</td>'
            f'<td class="num">{cell.no_receipt:,}</td>'
            f'<td class="num"><span class="pill" style="background:{fill}">'
            f"{_pct(cell.delivery_rate)}</span></td>"
            f'<td class="num">{cell.cost:,.2f}</td>'
            f'<td class="num">{_DASH if per_delivered is None else f"{per_delivered:.4f}"}</td>'
            "</tr>"
        )
    head = [(label, False) for label in ("country", "operator", "MCC-MNC", "tier", "provider")]
    head += [
        (label, True)
        for label in (
            "sent",
            "delivered",
            "failed",
            "pending",
            "no receipt",
            "delivery rate",
            f"cost{unit}",
            f"cost / delivered{unit}",
        )
    ]
    body = (
        _table("worst-cells", head, "".join(rows))
        if rows
        else '<p class="muted">No cell has enough messages to rank.</p>'
    )
    return _section(
        "Worst cells",
        "Country \u00d7 operator \u00d7 tier \u00d7 provider cells with the lowest delivery "
        f"rate over the period, among cells with at least {data.min_cell:,} messages. "
        "Pending includes messages without any receipt.",
        body,
        "worst",
    )


def _error_label(status: str, code: str) -> str:
    return f"{status} \u00b7 " + ("no error code" if code == "none" else f"error {code}")


def _errors(data: ReportData) -> str:
    statuses = sorted({e.status for e in data.errors})
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(statuses)}
    chart = bar_chart(
        "error-codes",
        "Undelivered messages by status and error code",
        [(_error_label(e.status, e.error_code), float(e.messages)) for e in data.errors],
        x_label="messages",
        colours=[colour[e.status] for e in data.errors],
        value_format=lambda v: f"{v:,.0f}",
        label_w=300,
    )
    legend = " ".join(
        f'<span class="pill" style="background:{c};color:#fff">{escape(s)}</span>'
        for s, c in colour.items()
    )
    return _section(
        "Error codes",
        "Messages whose deciding receipt was not DELIVERED, by status and provider error code "
        "(NO_RECEIPT: no receipt at all). Top 15.",
        f"<p>{legend}</p>" + chart,
        "errors",
    )


def _cause_chart(plot_id: str, title: str, rows: Sequence[CauseBreakdown]) -> str:
    colours = dict(CAUSE_COLOURS)
    for row in rows:
        for cause in row.by_cause:
            colours.setdefault(cause, CAUSE_COLOURS["unknown"])
    return stacked_share_chart(
        plot_id,
        title,
        [(r.group, r.by_cause) for r in rows],
        colours,
        notes=[
            f"{r.failed:,} failed · {r.failed / r.sent:.1%} of sent" if r.sent else f"{r.failed:,}"
            for r in rows
        ],
    )


def _causes(data: ReportData) -> str:
    by_country = _cause_chart(
        "failure-causes-by-country",
        "Failure causes by country",
        data.causes_by_country,
    )
    by_tier = _cause_chart(
        "failure-causes-by-tier", "Failure causes by route tier", data.causes_by_tier
    )
    return _section(
        "Why messages fail",
        "Each failed message has one failure cause, read from its provider's error code "
        "(seed failure_codes). A bar splits a country's or tier's failed messages by cause; "
        "right of it: its failed messages and their share of all it sent. Countries with the "
        f"most failures first (top {len(data.causes_by_country)}).",
        by_country + "<h3>By route tier</h3>" + by_tier,
        "causes",
    )


def _dead_numbers(data: ReportData) -> str:
    d = data.dead_numbers
    currency = data.summary.currency
    cards = [
        _card(
            "dead numbers",
            f"{d.numbers:,}",
            f"of {d.all_numbers:,} numbers texted",
        ),
        _card("permanent failures", f"{d.failures:,}", "in their current runs"),
        _card("spent on them", _money(d.cost_since, currency), "since each run's first failure"),
    ]
    last = d.by_run[-1][0] if d.by_run else 0
    rows = "".join(
        f"<tr><td>{run}{'+' if run == last and run > 1 else ''}</td>"
        f'<td class="num">{n:,}</td><td class="num">{_money(cost, currency)}</td>'
        f"<td>{'yes' if run >= d.min_failures else 'not yet'}</td></tr>"
        for run, n, cost in d.by_run
    )
    head = [
        ("permanent failures in a row", False),
        ("numbers", True),
        ("spent since the first", True),
        ("on the suppression list", False),
    ]
    table = _table("dead-numbers", head, rows)
    return _section(
        "Dead numbers",
        "Numbers whose latest messages failed permanently (unknown subscriber, DND or opt-out) "
        f"at least {d.min_failures} times in a row with no delivery since: texting them again "
        "only costs. `dlrw suppression-list` writes their hashes. Cost counts every message "
        "sent to a number from the first failure of its run on.",
        f'<div class="cards">{"".join(cards)}</div>' + table,
        "dead-numbers",
    )


def _no_retry(data: ReportData) -> str:
    rows = "".join(
        f'<tr><td>{escape(o.country)}</td><td class="wrap">{escape(o.operator_name)}</td>'
        f'<td>{escape(o.mcc_mnc)}</td><td class="num">{o.sent:,}</td>'
        f'<td class="num">{o.absent_subscriber:,}</td><td class="num">{o.delivered_late:,}</td>'
        f'<td class="num">{_pct(o.no_retry_share)}</td></tr>'
        for o in data.no_retry
    )
    head = [(label, False) for label in ("country", "operator", "MCC-MNC")]
    head += [
        (label, True)
        for label in ("sent", "failed, phone off", "delivered late", "phone-off messages failed")
    ]
    body = _table("no-retry-operators", head, rows)
    if not data.no_retry:
        body = '<p class="muted" data-table="no-retry-operators">No operator is flagged.</p>'
    return _section(
        "Operators that do not retry phones that are off",
        f"{len(data.no_retry)} of the {data.operators_judged:,} operators with enough evidence "
        "most likely fail a message at once when the phone is off (absent subscriber) instead "
        "of retrying until it is back (a delivery more than 10 minutes after submit): more of "
        "their phone-off messages failed than arrived late. Resending to them later, or over a "
        "route whose SMSC retries, recovers those messages. Most such failures first.",
        body,
        "no-retry",
    )


def _funnel(data: ReportData) -> str:
    unit = _unit(data.summary.currency)
    rates = {}
    for c in data.funnel:
        rates[(c.campaign_id, "delivered / sent")] = c.delivered / c.sent if c.sent else 0.0
        rates[(c.campaign_id, "converted / delivered")] = (
            c.converted / c.delivered if c.delivered else 0.0
        )
    chart = grouped_bar_chart(
        "campaign-funnel",
        "Campaign funnel: delivery and conversion rates",
        [c.campaign_id for c in data.funnel],
        ["delivered / sent", "converted / delivered"],
        rates,
        y_label="share",
        height=280,
    )
    rows = "".join(
        f'<tr><td>{escape(c.campaign_id)}</td><td class="num">{c.sent:,}</td>'
        f'<td class="num">{c.delivered:,}</td><td class="num">{c.converted:,}</td>'
        f'<td class="num">{c.conversion_value:,.2f}</td><td class="num">{c.cost:,.2f}</td>'
        f'<td class="num">{_DASH if not c.converted else f"{c.cost / c.converted:.4f}"}</td>'
        f'<td class="num">{_DASH if not c.cost else f"{c.conversion_value / c.cost:.1f}"}</td>'
        "</tr>"
        for c in data.funnel
    )
    head = [("campaign", False)]
    head += [
        (label, True)
        for label in (
            "sent",
            "delivered",
            "converted",
            f"conversion value{unit}",
            f"cost{unit}",
            f"cost per conversion{unit}",
            "value / cost",
        )
    ]
    table = _table("campaign-funnel", head, rows)
    return _section(
        "Campaign funnel",
        "Per campaign over the period: messages sent, delivered, and delivered messages that "
        "led to a conversion, what the conversions brought and what sending cost. Busiest "
        "campaigns first.",
        chart + table,
        "funnel",
    )


def _conversions(data: ReportData) -> str:
    countries: list[str] = []
    for row in data.conversions:
        if row.country not in countries:
            countries.append(row.country)
    # 'all' first (the country's total), then each OS by overall volume.
    totals: dict[str, int] = {}
    for row in data.conversions:
        totals[row.device_os] = totals.get(row.device_os, 0) + row.converted
    groups = sorted(totals, key=lambda g: (g != "all", -totals[g], g))
    values = {(r.country, r.device_os): r.rate for r in data.conversions}
    chart = grouped_bar_chart(
        "conversion-by-country-os",
        "Conversion rate by country and device OS",
        countries,
        groups,
        values,
        y_label="converted / delivered messages",
    )
    return _section(
        "Conversions by country and device OS",
        "Share of a country's delivered messages that led to a conversion (click, purchase…), "
        "in total ('all') and split by the device OS the conversion reported; the OS bars of a "
        "country add up to its total. Busiest countries first.",
        chart,
        "conversions",
    )


def _cell(value: Any) -> str:
    if isinstance(value, bool) or str(value).lower() in ("pass", "passed", "success", "ok"):
        ok = value is True or str(value).lower() in ("pass", "passed", "success", "ok", "true")
        return f'<span class="pill {"ok" if ok else "bad"}">{escape(str(value))}</span>'
    if str(value).lower() in ("fail", "failed", "failure", "error", "warn", "false"):
        return f'<span class="pill bad">{escape(str(value))}</span>'
    if isinstance(value, float):
        return f"{value:,.4g}"
    return escape("" if value is None else str(value))


def _dq(data: ReportData) -> str:
    if data.dq is None:
        body = '<p class="muted" data-dq="none">No checks run yet (run `dlrw check`).</p>'
        how = "Results of the latest `dlrw check` run."
    else:
        rows = "".join(
            "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in data.dq.rows
        )
        body = _table("dq-results", [(c, False) for c in data.dq.columns], rows)
        how = f"Results of the latest `dlrw check` run ({data.dq.run_label})."
    return _section("Data quality", how, body, "quality")


def render_html(data: ReportData, generated_at: datetime | None = None) -> str:
    """The whole report page for ``data``."""
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    sections: Sequence[str] = (
        _summary(data),
        _tier_trend(data),
        _tier_cost(data),
        _heatmap(data),
        _latency(data),
        _worst_cells(data),
        _errors(data),
        _causes(data),
        _dead_numbers(data),
        _no_retry(data),
        _funnel(data),
        _conversions(data),
        _dq(data),
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>dlrw deliverability report</title>"
        # No network and no script: the page must open offline and anywhere.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<style>{_CSS}</style></head><body><main>"
        "<h1>SMS deliverability report</h1>"
        f'<p class="sub">{escape(_period(data))} · generated {generated} · warehouse '
        f"<code>{escape(data.warehouse)}</code></p>"
        + "".join(sections)
        + "<footer>Metrics as defined in docs/design.md: delivery rate = delivered / sent; "
        "failed = UNDELIVERABLE, EXPIRED, REJECTED or DELETED; pending = no final status yet. "
        "Periods are UTC by submission time.</footer></main></body></html>\n"
    )
