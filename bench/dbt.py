"""Benchmark `dlrw build` on DuckDB: a full refresh over N messages, then one incremental hour.

Raw rows are generated straight into DuckDB with SQL (not timed): N messages over 30 days with
several receipts each (intermediate then final, some duplicates, some late, some orphans),
operators and countries from the seed, route tiers 1-4 with tier-dependent delivery. Then
`dlrw build --full-refresh` is timed, one new hour of sends and receipts (plus late receipts for
older messages) is appended with a fresh _ingested_at, and an incremental `dlrw build` is timed.

    python bench/dbt.py [--messages 5000000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.build.runner import ensure_raw_tables, run_build  # noqa: E402
from ingest.config import Settings  # noqa: E402

SEED = ROOT / "dbt_project" / "seeds" / "operators.csv"
DAYS = 30
START = "2025-03-01 00:00:00"

# One message per row of `ids`; every column derived from hashes of its index, so reruns repeat.
SENDS_SQL = """
insert into raw_sends (
    event_id, message_id, provider, provider_message_id, campaign_id, sender_id,
    destination_hash, country, mcc_mnc, route_id, route_tier, segments, encoding, price,
    currency, submitted_at, _topic, _partition, _offset, _ingested_at
)
with ids as (
    select i, (hash(i) >> 1)::bigint as h from range({first}, {last}) as t(i)
),
ops as (
    select row_number() over (order by mcc_mnc) - 1 as k, mcc_mnc, country from operators
),
base as (
    select
        i, h,
        ops.mcc_mnc, ops.country,
        ['twilio', 'infobip', 'vonage', 'smpp'][1 + (h >> 8) % 4] as provider,
        case when (h >> 12) % 100 < 40 then 1 when (h >> 12) % 100 < 70 then 2
             when (h >> 12) % 100 < 90 then 3 else 4 end as tier,
        {start_expr} as submitted_at
    from ids join ops on ops.k = ids.h % (select count(*) from operators)
)
select
    's' || i, 'm' || i, provider, 'p' || i, 'c' || (h >> 20) % 50, 'DLRW',
    md5(i::varchar), country, case when (h >> 30) % 50 = 0 then null else mcc_mnc end,
    provider || '-' || country || '-t' || tier, tier, 1 + (h >> 24) % 2, 'GSM7',
    round(0.01 * (5 - tier) + 0.001 * ((h >> 26) % 10), 4), 'EUR', submitted_at,
    'sms.sends', (i % 3)::int, i, {ingest_expr}
from base
"""

# Per message: ACCEPTED (70%), ENROUTE (40%), a final (96%), a duplicate final (3%),
# a late second final with an older done_at (1%), orphans (0.5%).
RECEIPTS_SQL = """
insert into raw_receipts (
    event_id, provider, provider_message_id, message_id, status, is_final, error_code, mcc_mnc,
    submitted_at, done_at, received_at, segments_submitted, segments_delivered, price, currency,
    raw, _topic, _partition, _offset, _ingested_at
)
with msgs as (
    select message_id, provider, provider_message_id, route_tier, mcc_mnc, submitted_at,
           (hash(message_id) >> 1)::bigint as h
    from raw_sends where _offset >= {first} and _offset < {last} and _topic = 'sms.sends'
),
kinds as (
    select * from (values (0, 'ACCEPTED'), (1, 'ENROUTE'), (2, 'FINAL'), (3, 'DUP'),
                          (4, 'LATE'), (5, 'ORPHAN')) as k(kind, label)
),
rows as (
    select msgs.*, kind,
        case
            when kind = 0 then h % 100 < 70
            when kind = 1 then (h >> 7) % 100 < 40
            when kind = 2 then (h >> 14) % 100 < 96
            when kind = 3 then (h >> 14) % 100 < 96 and (h >> 21) % 100 < 3
            when kind = 4 then (h >> 14) % 100 < 96 and (h >> 28) % 100 < 1
            else (h >> 35) % 1000 < 5
        end as present,
        (h >> 40) % 1000 as r
    from msgs cross join kinds
),
picked as (
    select *,
        case
            when kind = 0 then 'ACCEPTED'
            when kind = 1 then 'ENROUTE'
            when kind = 4 then 'EXPIRED'
            when r < 930 - 40 * route_tier then 'DELIVERED'
            when r < 960 - 20 * route_tier then 'UNDELIVERABLE'
            when r < 980 then 'EXPIRED'
            when r < 990 then 'REJECTED'
            when r < 995 then 'DELETED'
            else 'UNKNOWN'
        end as status,
        submitted_at + to_milliseconds(
            case kind when 0 then 500 when 1 then 2000 when 4 then 1000
                 else 3000 + (h >> 44) % (20000 * route_tier) end
        ) as done_at
    from rows where present
)
select
    case when kind = 3 then 'r2-' || message_id else 'r' || kind || '-' || message_id end,
    provider,
    case when kind = 5 then 'orphan-' || provider_message_id else provider_message_id end,
    case when (h >> 50) % 2 = 0 then message_id end,
    status, status not in ('ACCEPTED', 'ENROUTE'),
    case when status in ('UNDELIVERABLE', 'REJECTED', 'EXPIRED') then 'E' || (h >> 52) % 12 end,
    mcc_mnc, submitted_at, done_at,
    done_at + to_milliseconds(200 + (h >> 54) % 3000 + case when kind = 4 then 7200000 else 0 end),
    1, case when status = 'DELIVERED' then 1 else 0 end, null, null, '{{}}',
    'sms.receipts', ((hash(provider_message_id) >> 1) % 3)::int,
    {first} * 6 + row_number() over (), {ingest_expr}
from picked
"""

CONVERSIONS_SQL = """
insert into raw_conversions (
    event_id, message_id, kind, value, currency, device_os, occurred_at,
    _topic, _partition, _offset, _ingested_at
)
select 'v-' || message_id, message_id, 'click', null, null,
       ['android', 'ios', 'other', null][1 + ((hash(message_id) >> 3) % 4)::bigint],
       submitted_at + interval 5 minute, 'sms.conversions', 0, _offset, {ingest_expr}
from raw_sends
where _offset >= {first} and _offset < {last} and (hash(message_id) >> 1) % 100 < 5
"""


def generate(path: Path, first: int, last: int, start_expr: str, ingest_expr: str) -> None:
    """Append messages [first, last) with their receipts and conversions."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set preserve_insertion_order = false")
        con.execute(
            "create or replace temp table operators as "
            f"select * from read_csv('{SEED}', all_varchar = true)"
        )
        fmt = {"first": first, "last": last, "start_expr": start_expr, "ingest_expr": ingest_expr}
        con.execute(SENDS_SQL.format(**fmt))
        con.execute(RECEIPTS_SQL.format(**fmt))
        con.execute(CONVERSIONS_SQL.format(**fmt))
    finally:
        con.close()


def counts(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        parts = [
            f"{t}={con.execute(f'select count(*) from {t}').fetchone()[0]:,}"  # type: ignore[index]
            for t in ("raw_sends", "raw_receipts", "raw_conversions")
        ]
    finally:
        con.close()
    return " ".join(parts)


def append_hour(path: Path, n: int) -> int:
    """Append one new hour after n messages: sends + receipts submitted and ingested in the hour
    after the last one, plus late receipts (status changes) for 0.2% of messages of the previous 3
    days. Returns the number of new messages."""
    hour = max(1, n // (DAYS * 24))
    end = f"timestamp '{START}' + interval {DAYS} day"
    generate(
        path,
        n,
        n + hour,
        start_expr=f"{end} + to_milliseconds(((i - {n}) * 3600000 // {hour})::bigint)",
        ingest_expr=f"{end} + interval 1 hour + interval 5 second",
    )
    con = duckdb.connect(str(path))
    try:
        con.execute(f"""
            insert into raw_receipts (
                event_id, provider, provider_message_id, message_id, status, is_final,
                error_code, mcc_mnc, submitted_at, done_at, received_at, segments_submitted,
                segments_delivered, price, currency, raw, _topic, _partition, _offset,
                _ingested_at
            )
            select 'late-' || message_id, provider, provider_message_id, null, 'REJECTED', true,
                   'E99', mcc_mnc, submitted_at, submitted_at + interval 1 day,
                   {end} + interval 30 minute, 1, 0, null, null, '{{}}', 'sms.receipts', 9,
                   _offset, {end} + interval 1 hour + interval 5 second
            from raw_sends
            where submitted_at >= {end} - interval 3 day and submitted_at < {end}
              and (hash(message_id) >> 1) % 1000 < 2
        """)
    finally:
        con.close()
    return hour


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the warehouse here (default: a temp dir)"
    )
    args = parser.parse_args()
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    if args.data_dir is None:
        with tempfile.TemporaryDirectory(prefix="dlrw-bench-dbt-") as tmp:
            return _run(args.messages, Path(tmp))
    return _run(args.messages, args.data_dir)


def _run(n: int, data_dir: Path) -> int:
    settings = Settings(data_dir=data_dir, warehouse_url=f"duckdb:///{data_dir / 'bench.duckdb'}")
    path = data_dir / "bench.duckdb"
    path.unlink(missing_ok=True)
    ensure_raw_tables(settings)

    span_ms = DAYS * 24 * 3600 * 1000
    started = time.monotonic()
    # Sends spread evenly over 30 days, each ingested a few seconds after it was submitted.
    generate(
        path,
        0,
        n,
        start_expr=f"timestamp '{START}' + to_milliseconds((i * {span_ms} // {n})::bigint)",
        ingest_expr="submitted_at + interval 5 second",
    )
    print(f"generated {counts(path)} in {time.monotonic() - started:.1f}s (not timed)")

    full = run_build(settings, full_refresh=True)
    print(f"full refresh:  {full.elapsed_s:6.1f}s  ({full.line()})")

    hour = append_hour(path, n)
    print(f"appended one hour ({hour:,} messages + late receipts): {counts(path)}")
    incremental = run_build(settings)
    print(f"incremental:   {incremental.elapsed_s:6.1f}s  ({incremental.line()})")
    print("goal: full <= 60s, incremental <= 10s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
