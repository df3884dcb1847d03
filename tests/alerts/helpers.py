"""Test helpers for the alerts: a ``fct_messages``-shaped table with controlled rates (for the
rule, state and sink tests)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import create_engine

from dlrw.ingest.config import Settings
from dlrw.ingest.warehouse.connection import sqlalchemy_url

T0 = datetime(2026, 1, 8, 0, 0)  # evaluations happen around here; traffic starts 7 days before


@dataclass(frozen=True)
class CellTraffic:
    """Synthetic traffic of one cell: ``per_hour`` messages, delivered with ``delivery`` and
    reported (any receipt) with ``receipts``; ``incident`` overrides both in [start, end)."""

    country: str
    mcc_mnc: str
    operator_name: str
    route_tier: int
    provider: str
    per_hour: int
    delivery: float = 0.92
    receipts: float = 0.98
    incident: tuple[datetime, datetime, float, float] | None = None  # start, end, delivery, rcpt
    incident_cause: str = "network_or_route"  # the failure cause of the messages it fails


# The failure causes of a cell's usual failures, with their shares.
NORMAL_CAUSES = {"absent_subscriber": 0.5, "network_or_route": 0.3, "unknown_subscriber": 0.2}


NORMAL_CELLS = [
    CellTraffic("IN", "40410", "Airtel", 2, "vonage", 200),
    CellTraffic("IN", "40410", "Airtel", 2, "smpp", 200),
    CellTraffic("IN", "405857", "Jio", 2, "vonage", 200),
    CellTraffic("GB", "23410", "O2", 1, "twilio", 300, delivery=0.97),
    CellTraffic("US", "310260", "T-Mobile", 1, "infobip", 300, delivery=0.96),
    CellTraffic("DE", "26201", "Telekom", 1, "smpp", 5),  # too little volume to judge
]


def write_fct_messages(
    settings: Settings,
    cells: Iterable[CellTraffic],
    start: datetime = T0 - timedelta(days=7),
    end: datetime = T0 + timedelta(hours=6),
    seed: int = 1,
) -> None:
    """(Re)create ``fct_messages`` in the settings' DuckDB warehouse with the marts' columns
    the alerts read."""
    rng = np.random.default_rng(seed)
    # Causes draw from a generator of their own, so the traffic is the same with or without them.
    cause_rng = np.random.default_rng(seed + 1)
    hours = int((end - start).total_seconds() // 3600)
    base = np.datetime64(start, "us")
    parts: list[pa.Table] = []
    for cell in cells:
        n = cell.per_hour * hours
        offsets_us = np.sort(rng.uniform(0, hours * 3600, n) * 1e6).astype("int64")
        submitted = base + offsets_us.astype("timedelta64[us]")
        p_deliver = np.full(n, cell.delivery)
        p_receipt = np.full(n, cell.receipts)
        if cell.incident:
            i_start, i_end, i_delivery, i_receipts = cell.incident
            inside = (submitted >= np.datetime64(i_start, "us")) & (
                submitted < np.datetime64(i_end, "us")
            )
            p_deliver[inside] = i_delivery
            p_receipt[inside] = i_receipts
        reported = rng.random(n) < p_receipt
        delivered = (rng.random(n) < p_deliver) & reported
        latency = rng.uniform(2, 60, n)
        latency_us = (latency * 1e6).astype("int64").astype("timedelta64[us]")
        outcome = np.where(delivered, "delivered", np.where(reported, "failed", "pending"))
        # A failure inside the incident is the incident's beyond the cell's usual failure rate.
        incident_share = np.where(
            p_deliver < cell.delivery,
            1 - (1 - cell.delivery) / np.maximum(1 - p_deliver, 1e-9),
            0.0,
        )
        usual = cause_rng.choice(list(NORMAL_CAUSES), size=n, p=list(NORMAL_CAUSES.values()))
        cause = np.where(cause_rng.random(n) < incident_share, cell.incident_cause, usual)
        parts.append(
            pa.table(
                {
                    "message_id": [
                        f"{cell.mcc_mnc}-{cell.route_tier}-{cell.provider}-{i}" for i in range(n)
                    ],
                    "country": [cell.country] * n,
                    "mcc_mnc": [cell.mcc_mnc] * n,
                    "operator_name": [cell.operator_name] * n,
                    "route_tier": pa.array([cell.route_tier] * n, pa.int32()),
                    "provider": [cell.provider] * n,
                    "outcome": outcome,
                    "failure_cause": pa.array(cause, mask=outcome != "failed"),
                    "has_receipt": reported,
                    "submitted_at": submitted,
                    "first_received_at": pa.array(
                        submitted + latency_us + np.timedelta64(1, "s"), mask=~reported
                    ),
                    "done_at": pa.array(submitted + latency_us, mask=~delivered),
                    "latency_s": pa.array(latency, mask=~delivered),
                }
            )
        )
    table = pa.concat_tables(parts)
    if settings.warehouse_url.startswith("postgresql"):
        _write_postgres(settings.warehouse_url, table)
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.warehouse_url.removeprefix("duckdb:///")
    with duckdb.connect(path) as conn:
        conn.register("incoming", table)
        conn.execute("create or replace table fct_messages as select * from incoming")


def _write_postgres(url: str, table: pa.Table) -> None:
    """(Re)create ``fct_messages`` in a PostgreSQL warehouse, loaded with COPY."""
    frame = table.to_pandas()
    engine = create_engine(sqlalchemy_url(url))
    try:
        frame.head(0).to_sql("fct_messages", engine, if_exists="replace", index=False)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False)
        buffer.seek(0)
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.copy_expert("copy fct_messages from stdin with (format csv)", buffer)
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()


@dataclass
class Received:
    """What the webhook receiver got: parsed JSON bodies and their content types."""

    bodies: list[dict[str, Any]]
    content_types: list[str]
