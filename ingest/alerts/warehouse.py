"""What the alerts read from and write to the warehouse: ``fct_messages`` aggregated per cell in
one SQL query, and the ``alert_state`` table.

The aggregation runs in the warehouse (one scan of the window + baseline, grouped to a few
hundred rows) so an evaluation costs the same whatever the traffic; Python only sees the counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from dlrw.ingest.alerts.rules import CauseCounts, CellCounts, CellKey, Counts, Rules
from dlrw.ingest.errors import ServiceUnavailable, error_line

__all__ = [
    "ALERT_STATE",
    "cell_counts",
    "naive_utc",
    "receipts_watermark",
    "window_failure_causes",
]

state_metadata = MetaData()

# One row per (cell, kind) that has ever fired; the cooldown and resolve logic live on it.
ALERT_STATE = Table(
    "alert_state",
    state_metadata,
    Column("cell_id", Text(), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("grain", Text(), nullable=False),
    Column("country", Text(), nullable=False),
    Column("mcc_mnc", Text(), nullable=False),
    Column("operator_name", Text(), nullable=False),
    Column("route_tier", Integer(), nullable=False),
    Column("provider", Text(), nullable=True),
    Column("status", Text(), nullable=False),  # firing | resolved
    Column("severity", Text(), nullable=False),
    Column("first_fired_at", DateTime(timezone=False), nullable=False),
    Column("last_fired_at", DateTime(timezone=False), nullable=False),
    Column("resolved_at", DateTime(timezone=False), nullable=True),
    Column("last_evaluated_at", DateTime(timezone=False), nullable=False),
    Column("current_rate", Double(), nullable=True),
    Column("baseline_rate", Double(), nullable=True),
    Column("window_sent", BigInteger(), nullable=True),
    Column("baseline_sent", BigInteger(), nullable=True),
    Column("z", Double(), nullable=True),
    Column("p_value", Double(), nullable=True),
    Column("last_alert", Text(), nullable=True),  # the last message sent, as JSON
    PrimaryKeyConstraint("cell_id", "kind"),
)


def naive_utc(ts: datetime) -> datetime:
    """UTC without time zone, as the warehouse stores timestamps."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def _aggregation_sql(table: str, settle_s: int) -> str:
    # The metric of ingest/alerts/rules.py, on the marts' own status fold (outcome, latency_s,
    # first_received_at); the interval is a literal so both DuckDB and PostgreSQL accept it.
    settle = f"interval '{settle_s} seconds'"
    return f"""
        select
            country,
            coalesce(mcc_mnc, 'unknown') as mcc_mnc,
            max(operator_name) as operator_name,
            route_tier,
            provider,
            sum(case when in_window then 1 else 0 end) as window_sent,
            sum(case when in_window and delivered then 1 else 0 end) as window_delivered,
            sum(case when in_window and unreported then 1 else 0 end) as window_unreported,
            sum(case when not in_window then 1 else 0 end) as baseline_sent,
            sum(case when not in_window and delivered then 1 else 0 end) as baseline_delivered,
            sum(case when not in_window and unreported then 1 else 0 end) as baseline_unreported
        from (
            select
                country,
                mcc_mnc,
                operator_name,
                route_tier,
                provider,
                submitted_at >= :window_start as in_window,
                coalesce(outcome = 'delivered' and latency_s <= {settle_s}, false) as delivered,
                coalesce(first_received_at > submitted_at + {settle}, true) as unreported
            from {table}
            where submitted_at >= :baseline_start and submitted_at < :window_end
        ) as messages
        group by country, coalesce(mcc_mnc, 'unknown'), route_tier, provider
    """


def receipts_watermark(engine: Engine, table: str, since: datetime) -> datetime | None:
    """How far receipts are loaded: the newest first receipt among messages submitted since
    ``since`` (None without any)."""
    sql = f"select max(first_received_at) from {table} where submitted_at >= :since"
    try:
        with engine.connect() as conn:
            value = conn.execute(text(sql), {"since": naive_utc(since)}).scalar()
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"cannot read {table}: {error_line(exc)}") from exc
    return value if isinstance(value, datetime) else None


def cell_counts(engine: Engine, table: str, rules: Rules, now: datetime) -> list[CellCounts]:
    """Window and baseline counts per country x mcc_mnc x tier x provider at ``now``."""
    baseline_start, window_start, window_end = rules.periods(naive_utc(now))
    sql = _aggregation_sql(table, int(rules.settle.total_seconds()))
    params = {
        "baseline_start": baseline_start,
        "window_start": window_start,
        "window_end": window_end,
    }
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(sql), params).all()
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"cannot aggregate {table}: {error_line(exc)}") from exc
    return [
        CellCounts(
            key=CellKey(
                country=row.country,
                mcc_mnc=row.mcc_mnc,
                route_tier=int(row.route_tier),
                provider=row.provider,
                operator_name=row.operator_name or "unknown",
            ),
            window=Counts(
                int(row.window_sent), int(row.window_delivered), int(row.window_unreported)
            ),
            baseline=Counts(
                int(row.baseline_sent), int(row.baseline_delivered), int(row.baseline_unreported)
            ),
        )
        for row in rows
    ]


def window_failure_causes(
    engine: Engine, table: str, rules: Rules, now: datetime
) -> list[CauseCounts]:
    """Failed messages per provider cell and failure cause in the window at ``now`` (the
    window alone: a few thousand rows, read only when a delivery drop fires)."""
    _, window_start, window_end = rules.periods(naive_utc(now))
    sql = f"""
        select
            country,
            coalesce(mcc_mnc, 'unknown') as mcc_mnc,
            route_tier,
            provider,
            coalesce(failure_cause, 'unknown') as failure_cause,
            count(*) as failed
        from {table}
        where submitted_at >= :window_start and submitted_at < :window_end
            and outcome = 'failed'
        group by country, coalesce(mcc_mnc, 'unknown'), route_tier, provider,
            coalesce(failure_cause, 'unknown')
    """
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(sql), {"window_start": window_start, "window_end": window_end}
            ).all()
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(
            f"cannot read failure causes from {table}: {error_line(exc)} (run `dlrw build`)"
        ) from exc
    return [
        CauseCounts(
            CellKey(row.country, row.mcc_mnc, int(row.route_tier), row.provider),
            row.failure_cause,
            int(row.failed),
        )
        for row in rows
    ]
