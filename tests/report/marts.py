"""Marts with the columns of dbt_project/models/marts, filled with seeded synthetic traffic.

The report tests use these instead of a full simulate -> Kafka -> ingest -> dbt run: they are
about reading and drawing the marts, and a few seconds of pandas keeps them fast. Column names
and meanings follow the dbt models (sent = delivered + failed + pending; pending includes
no_receipt; conversion rows per device OS plus an 'all' row per segment).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from dlrw.ingest.warehouse.connection import sqlalchemy_url

OPERATORS_CSV = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "operators.csv"
PROVIDERS = ("smpp", "twilio", "infobip", "vonage")
FAILED = ("UNDELIVERABLE", "EXPIRED", "REJECTED", "DELETED")
# Per tier: P(delivered), median latency (s), price multiplier.
TIERS = {1: (0.97, 3.0, 1.0), 2: (0.93, 7.0, 1.12), 3: (0.86, 14.0, 1.25), 4: (0.74, 30.0, 1.4)}
# Countries whose networks retry A2P messages to phones that are off.
RETRYING = ("US", "GB", "DE", "FR")
COUNTRY_WEIGHT = {"US": 16, "IN": 12, "GB": 6, "BR": 6, "DE": 5, "FR": 5, "ID": 5, "MX": 4}


def _operators() -> pd.DataFrame:
    with OPERATORS_CSV.open() as handle:
        rows = list(csv.DictReader(handle))
    return pd.DataFrame(rows)


def synthetic_messages(count: int = 20_000, days: int = 3, seed: int = 7) -> pd.DataFrame:
    """One row per message, with the fct_messages columns the report and README queries use."""
    rng = np.random.default_rng(seed)
    operators = _operators()
    operators = operators[operators["country"].isin(list(COUNTRY_WEIGHT))].reset_index(drop=True)
    weights = operators["country"].map(COUNTRY_WEIGHT).astype(float)
    weights /= weights.groupby(operators["country"]).transform("count")
    pick = rng.choice(len(operators), size=count, p=(weights / weights.sum()).to_numpy())
    msgs = operators.iloc[pick][["country", "mcc_mnc", "operator_name"]].reset_index(drop=True)
    start = datetime(2025, 11, 3)
    msgs["submitted_at"] = [
        start + timedelta(seconds=float(s)) for s in rng.uniform(0, days * 86400, size=count)
    ]
    msgs["message_id"] = [f"m-{i:07d}" for i in range(count)]
    msgs["route_tier"] = rng.choice([1, 2, 3, 4], size=count, p=[0.45, 0.3, 0.15, 0.1])
    msgs["provider"] = rng.choice(PROVIDERS, size=count)
    # One weak operator, so the "worst operator" finding has something to find.
    weak = msgs["mcc_mnc"] == msgs["mcc_mnc"].iloc[0]
    p_delivered = msgs["route_tier"].map(lambda t: TIERS[t][0]) - np.where(weak, 0.15, 0.0)
    draw = rng.uniform(size=count)
    no_receipt = rng.uniform(size=count) < 0.02
    delivered = (draw < p_delivered) & ~no_receipt
    failed = ~delivered & ~no_receipt & (rng.uniform(size=count) < 0.8)
    msgs["status"] = np.where(
        delivered, "DELIVERED", np.where(failed, rng.choice(FAILED, size=count), None)
    )
    msgs.loc[~delivered & ~failed & ~no_receipt, "status"] = "ENROUTE"
    msgs["final_status"] = msgs["status"].where(msgs["status"] != "ENROUTE")
    msgs["outcome"] = np.where(delivered, "delivered", np.where(failed, "failed", "pending"))
    msgs["error_code"] = np.where(
        failed, rng.choice(["001", "005", "00B", "0FE", "030"], size=count), None
    )
    msgs.loc[delivered, "error_code"] = "000"
    median = msgs["route_tier"].map(lambda t: TIERS[t][1])
    msgs["latency_s"] = np.where(delivered, median * rng.lognormal(0, 0.8, size=count), np.nan)
    # Networks that retry phones that are off deliver some messages hours late.
    retry_rng = np.random.default_rng(seed + 2)
    retried = delivered & msgs["country"].isin(RETRYING) & (retry_rng.uniform(size=count) < 0.04)
    msgs.loc[retried, "latency_s"] += retry_rng.uniform(900, 6 * 3600, size=int(retried.sum()))
    msgs["done_at"] = [
        s + timedelta(seconds=float(lat)) if ok else None
        for s, lat, ok in zip(msgs["submitted_at"], msgs["latency_s"], delivered, strict=True)
    ]
    msgs["cost"] = (0.01 * msgs["route_tier"].map(lambda t: TIERS[t][2])).round(6)
    msgs["currency"] = "USD"
    msgs["cost_currency"] = "USD"
    msgs["has_receipt"] = ~no_receipt
    msgs["is_delivered"] = delivered
    msgs["submitted_hour"] = msgs["submitted_at"].dt.floor("h")
    msgs["submitted_date"] = msgs["submitted_at"].dt.floor("D")
    msgs["failure_cause"] = _failure_causes(msgs, np.random.default_rng(seed + 1))
    msgs["destination_hash"] = _destinations(msgs, np.random.default_rng(seed + 3))
    msgs["campaign_id"] = rng.choice(["c-otp-login", "c-weekly-deals", "c-winback"], size=count)
    msgs["device_os"] = rng.choice(["android", "ios", "other"], size=count, p=[0.6, 0.35, 0.05])
    converts = delivered & (rng.uniform(size=count) < 0.06 + 0.02 * (msgs["device_os"] == "ios"))
    msgs["converted"] = converts
    return msgs


def _failure_causes(msgs: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """A failure cause per failed message: EXPIRED ones expired; the others drawn from a mix
    with more route losses on higher tiers, DND rejections in India, filtering in the US."""
    causes = pd.Series(None, index=msgs.index, dtype=object)
    failed = msgs["outcome"] == "failed"
    causes[failed & (msgs["status"] == "EXPIRED")] = "expired"
    for (country, tier), group in msgs[failed & (msgs["status"] != "EXPIRED")].groupby(
        ["country", "route_tier"]
    ):
        weights = {
            "absent_subscriber": 3.0,
            "unknown_subscriber": 2.0,
            "network_or_route": 1.0 + 1.5 * tier,
            "dnd_or_opt_out": 5.0 if country == "IN" else 0.3,
            "filtered": 4.0 if country == "US" else 0.4,
            "provider_rejected": 0.3,
            "unknown": 0.3,
        }
        p = np.array(list(weights.values()))
        causes[group.index] = rng.choice(list(weights), size=len(group), p=p / p.sum())
    return causes


PERMANENT = ("unknown_subscriber", "dnd_or_opt_out")


def _destinations(msgs: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Who each message went to: most permanent failures to a small pool of dead numbers,
    everything else to a large pool of live ones."""
    dead = msgs["failure_cause"].isin(PERMANENT).to_numpy() & (rng.uniform(size=len(msgs)) < 0.8)
    live = rng.integers(0, len(msgs) // 3, size=len(msgs))
    gone = rng.integers(0, max(int(dead.sum()) // 3, 1), size=len(msgs))
    return np.where(dead, [f"dead-{i:05d}" for i in gone], [f"live-{i:06d}" for i in live])


def _destination_health(msgs: pd.DataFrame) -> pd.DataFrame:
    """dim_destinations: each number's messages and its current run of permanent failures
    (newest first: permanent failures up to the latest other known outcome)."""
    m = msgs.sort_values(
        ["destination_hash", "submitted_at", "message_id"], ascending=[True, False, False]
    ).reset_index(drop=True)
    m["recency"] = m.groupby("destination_hash").cumcount() + 1
    permanent = m["failure_cause"].isin(PERMANENT)
    ends = m["recency"].where((m["outcome"] != "pending") & ~permanent)
    end = ends.groupby(m["destination_hash"]).transform("min").fillna(np.inf)
    m["in_run"] = permanent & (m["recency"] < end)
    start = m["recency"].where(m["in_run"]).groupby(m["destination_hash"]).transform("max")
    m["run_cost"] = m["cost"].where(m["recency"] <= start, 0.0)
    m["first_failure_at"] = m["submitted_at"].where(m["recency"] == start)
    m["is_failed"] = m["outcome"] == "failed"
    out = m.groupby("destination_hash").agg(
        messages=("message_id", "count"),
        delivered=("is_delivered", "sum"),
        failed=("is_failed", "sum"),
        cost=("cost", "sum"),
        first_submitted_at=("submitted_at", "min"),
        last_submitted_at=("submitted_at", "max"),
        last_outcome=("outcome", "first"),
        consecutive_permanent_failures=("in_run", "sum"),
        first_permanent_failure_at=("first_failure_at", "max"),
        cost_since_first_permanent_failure=("run_cost", "sum"),
    )
    return out.reset_index()


def _deliverability(msgs: pd.DataFrame, period: str, column: str) -> pd.DataFrame:
    keys = [period, "country", "mcc_mnc", "operator_name", "route_tier", "provider"]
    flags = msgs.assign(
        sent=1,
        delivered=(msgs["outcome"] == "delivered").astype(int),
        failed=(msgs["outcome"] == "failed").astype(int),
        pending=(msgs["outcome"] == "pending").astype(int),
        no_receipt=(~msgs["has_receipt"]).astype(int),
        unknown_final=0,
    )
    grouped = flags.groupby(keys, dropna=False)
    out = grouped[["sent", "delivered", "failed", "pending", "no_receipt", "unknown_final", "cost"]]
    out = out.sum()
    out["latency_p50_s"] = grouped["latency_s"].quantile(0.5)
    out["latency_p95_s"] = grouped["latency_s"].quantile(0.95)
    out = out.reset_index()
    out["delivery_rate"] = out["delivered"] / out["sent"]
    return out.rename(columns={period: column})


def _conversions(msgs: pd.DataFrame) -> pd.DataFrame:
    keys = ["country", "mcc_mnc", "operator_name", "route_tier"]
    delivered = msgs[msgs["is_delivered"]]
    segments = delivered.groupby(keys).size().rename("delivered_messages").reset_index()
    by_os = (
        delivered[delivered["converted"]]
        .groupby([*keys, "device_os"])
        .size()
        .rename("converted_messages")
        .reset_index()
    )
    total = by_os.groupby(keys)["converted_messages"].sum().reset_index()
    total["device_os"] = "all"
    rows = pd.concat([by_os, total]).merge(segments, on=keys, how="right")
    rows["device_os"] = rows["device_os"].fillna("all")
    rows["converted_messages"] = rows["converted_messages"].fillna(0).astype(int)
    rows["conversions"] = rows["converted_messages"]
    rows["conversion_value"] = rows["converted_messages"] * 12.5
    rows["conversion_rate"] = rows["converted_messages"] / rows["delivered_messages"]
    return rows


def _operator_retry(msgs: pd.DataFrame) -> pd.DataFrame:
    """dim_operator_retry: phones found off came back late (retried) or failed at once."""
    flags = msgs.assign(
        sent=1,
        delivered=msgs["is_delivered"].astype(int),
        delivered_late=(msgs["latency_s"] > 600).astype(int),
        absent_subscriber=(msgs["failure_cause"] == "absent_subscriber").astype(int),
    )
    out = (
        flags.groupby(["country", "mcc_mnc", "operator_name"])
        .agg(
            first_date=("submitted_date", "min"),
            last_date=("submitted_date", "max"),
            sent=("sent", "sum"),
            delivered=("delivered", "sum"),
            delivered_late=("delivered_late", "sum"),
            absent_subscriber=("absent_subscriber", "sum"),
        )
        .reset_index()
    )
    evidence = out["delivered_late"] + out["absent_subscriber"]
    out["phone_off_evidence"] = evidence
    out["absent_subscriber_share"] = out["absent_subscriber"] / out["sent"]
    out["delivered_late_share"] = out["delivered_late"] / out["delivered"]
    out["no_retry_share"] = out["absent_subscriber"] / evidence.where(evidence > 0)
    out["retry_verdict"] = np.where(
        evidence < 10,
        "too_little_evidence",
        np.where(out["absent_subscriber"] > out["delivered_late"], "no_retry", "retries"),
    )
    return out


def _campaign_funnel(msgs: pd.DataFrame) -> pd.DataFrame:
    """agg_campaign_funnel: a message's device OS is its conversion's, else 'unknown'."""
    converted = msgs["is_delivered"] & msgs["converted"]
    flags = msgs.assign(
        device_os=msgs["device_os"].where(converted, "unknown"),
        sent=1,
        delivered=msgs["is_delivered"].astype(int),
        converted=converted.astype(int),
        conversion_value=np.where(converted, 12.5, 0.0),
    )
    keys = ["submitted_date", "campaign_id", "country", "mcc_mnc", "operator_name", "device_os"]
    out = (
        flags.groupby(keys)[["sent", "delivered", "converted", "conversion_value", "cost"]]
        .sum()
        .reset_index()
        .rename(columns={"submitted_date": "period_date"})
    )
    out["cost_per_delivered"] = out["cost"] / out["delivered"].where(out["delivered"] > 0)
    out["cost_per_conversion"] = out["cost"] / out["converted"].where(out["converted"] > 0)
    return out


def mart_frames(msgs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every mart the report reads (and dim_operators / dim_routes for the README queries)."""
    errors = (
        msgs.assign(status=msgs["status"].fillna("NO_RECEIPT"))
        .groupby(
            ["submitted_date", "provider", "country", "mcc_mnc", "error_code", "status"],
            dropna=False,
        )
        .size()
        .rename("messages")
        .reset_index()
        .rename(columns={"submitted_date": "period_date"})
    )
    routes = (
        msgs.assign(route_id=msgs["country"] + "-t" + msgs["route_tier"].astype(str))
        .groupby(["route_id", "route_tier", "provider", "country"])
        .agg(messages=("message_id", "count"), cost=("cost", "sum"))
        .reset_index()
    )
    causes = (
        msgs[msgs["outcome"] == "failed"]
        .groupby(
            [
                "submitted_date",
                "country",
                "mcc_mnc",
                "operator_name",
                "route_tier",
                "provider",
                "failure_cause",
            ]
        )
        .agg(messages=("message_id", "count"), cost=("cost", "sum"))
        .reset_index()
        .rename(columns={"submitted_date": "period_date"})
    )
    fct = msgs.drop(columns=["device_os", "converted"])
    return {
        "dim_operators": _operators(),
        "dim_routes": routes,
        "fct_messages": fct,
        "agg_deliverability_hourly": _deliverability(msgs, "submitted_hour", "period_hour"),
        "agg_deliverability_daily": _deliverability(msgs, "submitted_date", "period_date"),
        "agg_error_codes_daily": errors,
        "agg_failure_causes_daily": causes,
        "dim_operator_retry": _operator_retry(msgs),
        "agg_campaign_funnel": _campaign_funnel(msgs),
        "dim_destinations": _destination_health(msgs),
        "fct_conversions_by_segment": _conversions(msgs),
    }


def create_marts(url: str, frames: dict[str, pd.DataFrame]) -> None:
    """Write the marts where dbt would: schema ``marts`` on PostgreSQL, ``main`` on DuckDB."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        if engine.dialect.name == "duckdb":
            # DuckDB reads a DataFrame directly: much faster than row inserts.
            with engine.begin() as conn:
                raw = conn.connection.driver_connection
                for name, frame in frames.items():
                    raw.register("frame", frame)
                    raw.execute(f'create or replace table main."{name}" as select * from frame')
                    raw.unregister("frame")
            return
        with engine.begin() as conn:
            conn.execute(text("create schema if not exists marts"))
        for name, frame in frames.items():
            frame.head(0).to_sql(name, engine, schema="marts", if_exists="replace", index=False)
            # COPY: row inserts of 20,000 messages take half a minute.
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            buffer.seek(0)
            raw = engine.raw_connection()
            try:
                with raw.cursor() as cursor:
                    columns = ", ".join(f'"{c}"' for c in frame.columns)
                    cursor.copy_expert(
                        f'copy marts."{name}" ({columns}) from stdin with (format csv)', buffer
                    )
                raw.commit()
            finally:
                raw.close()
    finally:
        engine.dispose()
