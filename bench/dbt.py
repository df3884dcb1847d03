"""Benchmark `dlrw build` on DuckDB: a full refresh over N messages, then one incremental hour,
each quoted as ratios to two reference figures measured in the same run.

Raw rows are generated straight into DuckDB with SQL (not timed): N messages over 30 days with
several receipts each (intermediate then final, some duplicates, some late, some orphans),
operators and countries from the seed, route tiers 1-4 with tier-dependent delivery, error codes
of the failure_codes seed, prices in EUR, USD and GBP, destinations that get several messages.

The references: (1) one hand-written DuckDB query over the same raw tables that does what the
marts' counts need (dedupe by event_id, match receipts to sends, fold each message's final
status, aggregate sent, delivered, failed and pending per daily cell), checked to equal
agg_deliverability_daily per cell; (2) `dlrw build` on an empty warehouse, dbt's fixed cost.
Then `dlrw build --full-refresh` is timed, one new hour of sends and receipts (plus late receipts
for older messages) is appended with a fresh _ingested_at, and an incremental `dlrw build` is
timed. `--compare-rev REV` builds that revision's dbt_project on a copy of the same data too,
the two taking turns, and prints both with their ratios. `--repeat K` runs K such rounds and
quotes medians. `--history H` then times the working tree's incremental hour after H messages
of history (the same traffic per day over more days) right after the one after N again.
`--spark` also writes the same raw rows as an Avro store (not timed) and times the working
tree's full build and incremental hour on a local Spark server over it (started as `dlrw spark
start` does, on DLRW_WAREHOUSE_URL's port if that is a spark:// URL, else 10000), beside
DuckDB's.

    python bench/dbt.py [--messages 5000000] [--data-dir DIR] [--compare-rev REV] [--repeat K]
                        [--history 20000000] [--spark]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import fastavro

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures import spread  # noqa: E402
from dlrw.ingest.build.profiles import dbt_target  # noqa: E402
from dlrw.ingest.build.runner import DBT_PROJECT_DIR, ensure_raw_tables, run_build  # noqa: E402
from dlrw.ingest.config import Settings, load_settings  # noqa: E402
from dlrw.ingest.errors import DlrwError  # noqa: E402
from dlrw.ingest.local.spark import start_spark, stop_spark  # noqa: E402
from dlrw.ingest.store.schema import store_schema  # noqa: E402
from dlrw.ingest.warehouse.spark import (  # noqa: E402
    is_spark_url,
    parse_spark_url,
    run_statements,
)
from dlrw.ingest.warehouse.tables import RAW_TABLE_NAMES  # noqa: E402

SEEDS = DBT_PROJECT_DIR / "seeds"
DAYS = 30
START = "2025-03-01 00:00:00"
WORKING_TREE = "working tree"
GENERATE_MEMORY = "4GiB"
SPARK_URL = "spark://127.0.0.1:10000/bench"

# One message per row of `ids`; every column derived from hashes of its index, so reruns repeat.
# Providers price in their own currency; a number gets about three messages over the run.
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
    md5(((h >> 3) % {destinations})::varchar), country,
    case when (h >> 30) % 50 = 0 then null else mcc_mnc end,
    provider || '-' || country || '-t' || tier, tier, 1 + (h >> 24) % 2, 'GSM7',
    round(0.01 * (5 - tier) + 0.001 * ((h >> 26) % 10), 4),
    case provider when 'twilio' then 'USD' when 'smpp' then 'GBP' else 'EUR' end, submitted_at,
    'sms.sends', (i % 3)::int, i, {ingest_expr}
from base
"""

# Per message: ACCEPTED (70%), ENROUTE (40%), a final (96%), a duplicate final (3%),
# a late second final with an older done_at (1%), orphans (0.5%). A failure other than EXPIRED
# carries one of its provider's codes in the failure_codes seed.
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
    case when kind = 3 then 'r2-' || picked.message_id
         else 'r' || kind || '-' || picked.message_id end,
    picked.provider,
    case when kind = 5 then 'orphan-' || provider_message_id else provider_message_id end,
    case when (h >> 50) % 2 = 0 then picked.message_id end,
    status, status not in ('ACCEPTED', 'ENROUTE'),
    case when status in ('UNDELIVERABLE', 'REJECTED', 'DELETED')
         then codes.codes[1 + ((h >> 52) % len(codes.codes))::bigint] end,
    mcc_mnc, submitted_at, done_at,
    done_at + to_milliseconds(200 + (h >> 54) % 3000 + case when kind = 4 then 7200000 else 0 end),
    1, case when status = 'DELIVERED' then 1 else 0 end, null, null, '{{}}',
    'sms.receipts', ((hash(provider_message_id) >> 1) % 3)::int,
    {first} * 6 + row_number() over (), {ingest_expr}
from picked left join codes on codes.provider = picked.provider
"""

# A click for 5% of messages; one in five of them a purchase with a value in the send's currency.
CONVERSIONS_SQL = """
insert into raw_conversions (
    event_id, message_id, kind, value, currency, device_os, occurred_at,
    _topic, _partition, _offset, _ingested_at
)
select 'v-' || message_id, message_id, case when purchase then 'purchase' else 'click' end,
       case when purchase then 5 + (hash(message_id) >> 9) % 50 end,
       case when purchase then currency end,
       ['android', 'ios', 'other', null][1 + ((hash(message_id) >> 3) % 4)::bigint],
       submitted_at + interval 5 minute, 'sms.conversions', 0, _offset, {ingest_expr}
from (select *, (hash(message_id) >> 7) % 5 = 0 as purchase from raw_sends)
where _offset >= {first} and _offset < {last} and (hash(message_id) >> 1) % 100 < 5
"""

# The provider codes of the failure_codes seed (not a route's own numbering), per provider.
CODES_SQL = f"""
create or replace temp table codes as
select provider, list(error_code order by error_code) as codes
from read_csv('{SEEDS / "failure_codes.csv"}', all_varchar = true)
where provider is not null and route_id is null and error_code is not null
group by provider
"""

FINAL = "('DELIVERED', 'UNDELIVERABLE', 'EXPIRED', 'REJECTED', 'DELETED', 'UNKNOWN')"
FAILED = "('UNDELIVERABLE', 'EXPIRED', 'REJECTED', 'DELETED')"

# Reference 1, by hand from docs/design.md's metrics: the first-loaded copy of each event; a
# message_id sent twice is its earliest send; a receipt matches the send whose message_id it
# echoes, else its provider's send with its provider_message_id in use when it was received; the
# deciding receipt is final first, then latest done_at (NULL oldest), received_at, event_id.
FOLD_SQL = f"""
with
sends as (
    select event_id, message_id, provider, provider_message_id, country, mcc_mnc, route_tier,
           submitted_at
    from raw_sends
    qualify row_number() over (
        partition by event_id order by _ingested_at, _topic, _partition, _offset
    ) = 1
),
messages as (
    select * from sends
    qualify row_number() over (partition by message_id order by submitted_at, event_id) = 1
),
receipts as (
    select event_id, provider, provider_message_id, message_id, status, done_at, received_at
    from raw_receipts
    qualify row_number() over (
        partition by event_id order by _ingested_at, _topic, _partition, _offset
    ) = 1
),
candidates as (
    select
        receipts.event_id, receipts.status, receipts.done_at, receipts.received_at,
        coalesce(by_id.message_id, by_provider.message_id) as message_id,
        coalesce(by_id.submitted_at, by_provider.submitted_at) as send_at,
        coalesce(by_id.event_id, by_provider.event_id) as send_event_id
    from receipts
    left join sends as by_id on receipts.message_id = by_id.message_id
    left join sends as by_provider
        on by_id.message_id is null
        and receipts.provider = by_provider.provider
        and receipts.provider_message_id = by_provider.provider_message_id
    where coalesce(by_id.message_id, by_provider.message_id) is not null
),
matched as (
    select * from candidates
    qualify row_number() over (
        partition by event_id
        order by
            send_at > received_at,
            case when send_at <= received_at then send_at end desc nulls last,
            send_at, message_id, send_event_id
    ) = 1
),
folded as (
    select
        message_id,
        arg_max(
            status,
            row(status in {FINAL}, done_at is not null,
                coalesce(done_at, timestamp '1900-01-01'), received_at, event_id)
        ) as status
    from matched
    group by message_id
)
select
    cast(messages.submitted_at as date) as period_date,
    messages.country,
    messages.mcc_mnc,
    coalesce(operators.operator_name, 'unknown') as operator_name,
    messages.route_tier,
    messages.provider,
    count(*) as sent,
    count(*) filter (where folded.status = 'DELIVERED') as delivered,
    count(*) filter (where folded.status in {FAILED}) as failed,
    sent - delivered - failed as pending
from messages
left join folded on messages.message_id = folded.message_id
left join operators on messages.mcc_mnc = operators.mcc_mnc
group by all
"""

CELL = ("period_date", "country", "mcc_mnc", "operator_name", "route_tier", "provider")
COUNTS = ("sent", "delivered", "failed", "pending")


@dataclass
class Project:
    """A dbt project under test and the seconds of its builds, by name, one per round."""

    label: str
    path: Path
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def record(self, build: str, seconds: float) -> None:
        """One more timing of `build`."""
        self.seconds.setdefault(build, []).append(seconds)

    def median(self, build: str) -> float:
        """The median seconds of `build` over the rounds."""
        return statistics.median(self.seconds[build])

    @property
    def slug(self) -> str:
        """The label as a directory name."""
        return self.label.replace(" ", "-")


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("set preserve_insertion_order = false")
    # At DuckDB's default (80% of the memory) generating 20M messages got the bench OOM-killed.
    con.execute(f"set memory_limit = '{GENERATE_MEMORY}'")
    con.execute(
        "create or replace temp table operators as "
        f"select * from read_csv('{SEEDS / 'operators.csv'}', all_varchar = true)"
    )
    con.execute(CODES_SQL)
    return con


def generate(
    path: Path, first: int, last: int, start_expr: str, ingest_expr: str, destinations: int
) -> None:
    """Append messages [first, last) with their receipts and conversions."""
    con = _connect(path)
    try:
        fmt = {
            "first": first,
            "last": last,
            "start_expr": start_expr,
            "ingest_expr": ingest_expr,
            "destinations": destinations,
        }
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


def _destinations(n: int) -> int:
    """Distinct numbers among the first n messages' destinations (about three messages each)."""
    return max(1, n // 3)


def generate_days(path: Path, n: int, days: int = DAYS) -> None:
    """N messages spread evenly over `days` days, each ingested a few seconds after its
    submission."""
    span_ms = days * 24 * 3600 * 1000
    generate(
        path,
        0,
        n,
        start_expr=f"timestamp '{START}' + to_milliseconds((i * {span_ms} // {n})::bigint)",
        ingest_expr="submitted_at + interval 5 second",
        destinations=_destinations(n),
    )


def append_hour(path: Path, n: int, days: int = DAYS) -> int:
    """Append one new hour after the n messages of `days` days: sends + receipts submitted and
    ingested in the hour after the last one, plus late receipts (status changes) for 0.2% of
    messages of the previous 3 days. Returns the number of new messages."""
    hour = max(1, n // (days * 24))
    end = f"timestamp '{START}' + interval {days} day"
    generate(
        path,
        n,
        n + hour,
        start_expr=f"{end} + to_milliseconds(((i - {n}) * 3600000 // {hour})::bigint)",
        ingest_expr=f"{end} + interval 1 hour + interval 5 second",
        destinations=_destinations(n),
    )
    con = _connect(path)
    try:
        con.execute(f"""
            insert into raw_receipts (
                event_id, provider, provider_message_id, message_id, status, is_final,
                error_code, mcc_mnc, submitted_at, done_at, received_at, segments_submitted,
                segments_delivered, price, currency, raw, _topic, _partition, _offset,
                _ingested_at
            )
            select 'late-' || message_id, raw_sends.provider, provider_message_id, null,
                   'REJECTED', true,
                   codes.codes[1 + ((hash(message_id) >> 11) % len(codes.codes))::bigint],
                   mcc_mnc, submitted_at, submitted_at + interval 1 day,
                   {end} + interval 30 minute, 1, 0, null, null, '{{}}', 'sms.receipts', 9,
                   _offset, {end} + interval 1 hour + interval 5 second
            from raw_sends left join codes on codes.provider = raw_sends.provider
            where submitted_at >= {end} - interval 3 day and submitted_at < {end}
              and (hash(message_id) >> 1) % 1000 < 2
        """)
    finally:
        con.close()
    return hour


def hand_fold(settings: Settings, raw: Path, out: Path) -> float:
    """Time reference 1 on the raw tables with dbt's DuckDB settings; its cells go to `out`."""
    target = dbt_target(settings).output
    duckdb_settings = target["config_options"]
    assert isinstance(duckdb_settings, dict)
    con = _connect(raw)
    try:
        con.execute(f"set threads = {target['threads']}")
        for name, value in duckdb_settings.items():
            con.execute(f"set {name} = '{value}'")
        started = time.monotonic()
        con.execute(f"copy ({FOLD_SQL}) to '{out}' (format parquet)")
        return time.monotonic() - started
    finally:
        con.close()


def check_fold(fold: Path, warehouse: Path) -> tuple[int, int]:
    """Cells of agg_deliverability_daily and how many differ from the fold in any count."""
    on = " and ".join(f"fold.{c} is not distinct from agg.{c}" for c in CELL)
    differ = " or ".join(f"fold.{c} is distinct from agg.{c}" for c in COUNTS)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        row = con.execute(f"""
            select
                (select count(*) from agg_deliverability_daily),
                count_if(fold.sent is null or agg.sent is null or {differ})
            from read_parquet('{fold}') as fold
            full join (
                select cast(period_date as date) as period_date, * exclude (period_date)
                from agg_deliverability_daily
            ) as agg on {on}
        """).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0]), int(row[1])


def archived_project(rev: str, into: Path) -> Project:
    """REV's dbt_project, extracted from git under `into`."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--short", f"{rev}^{{commit}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", sha, "dbt_project"],
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
        raise DlrwError(f"--compare-rev {rev}: {stderr.strip().splitlines()[-1]}") from exc
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / sha, filter="data")
    return Project(sha, into / sha / "dbt_project")


def export_store(raw: Path, store: Path, since: datetime | None = None) -> None:
    """The raw rows of a bench warehouse (those ingested after ``since``, if given) as store
    segments: one per kind and day of ingestion, in the store's layout and schema."""
    con = duckdb.connect(str(raw), read_only=True)
    segment = "bench.avro" if since is None else f"after-{since:%Y%m%dT%H%M%S}.avro"
    newer = "" if since is None else f" and _ingested_at > timestamp '{since.isoformat(' ')}'"
    try:
        for kind, table in RAW_TABLE_NAMES.items():
            schema, parsed = store_schema(kind)
            names = [f["name"] for f in schema["fields"]]
            day_sql = f"select distinct cast(_ingested_at as date) from {table} where true{newer}"
            for (day,) in con.execute(day_sql).fetchall():
                folder = store / kind / f"date={day.isoformat()}"
                folder.mkdir(parents=True, exist_ok=True)
                rows = con.execute(
                    f"select {', '.join(names)} from {table} "
                    f"where cast(_ingested_at as date) = ?{newer}",
                    [day],
                ).fetchall()
                with (folder / segment).open("wb") as out:
                    fastavro.writer(out, parsed, (dict(zip(names, r, strict=True)) for r in rows))
    finally:
        con.close()


def _newest_ingest(path: Path) -> datetime:
    con = duckdb.connect(str(path), read_only=True)
    try:
        union = " union all ".join(
            f"select max(_ingested_at) from {t}" for t in RAW_TABLE_NAMES.values()
        )
        newest: datetime = con.execute(f"select max(m) from ({union}) as t(m)").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return newest


def _spark(raw: Path, n: int, data_dir: Path, on_duckdb: Project) -> None:
    """The working tree on Spark over the raw rows as a store: a full build, then the same
    appended hour as DuckDB's incremental, each beside DuckDB's figure."""
    configured = load_settings().warehouse_url
    endpoint = parse_spark_url(configured) if is_spark_url(configured) else None
    url = f"spark://{endpoint.host}:{endpoint.port}/bench" if endpoint else SPARK_URL
    server = Settings(data_dir=data_dir / "spark-server", warehouse_url=url)
    started = start_spark(server, log=print)
    try:
        store = data_dir / "store"
        shutil.rmtree(store, ignore_errors=True)
        export_store(raw, store)
        run_statements(url, ["drop database if exists bench cascade"])
        settings = Settings(data_dir=data_dir / "spark", warehouse_url=url, store_dir=store)
        full = run_build(settings, full_refresh=True)
        with_hour = data_dir / "spark-hour.duckdb"
        shutil.copyfile(raw, with_hour)
        since = _newest_ingest(with_hour)
        append_hour(with_hour, n)
        export_store(with_hour, store, since)
        incremental = run_build(settings)
        for build, spark in (("full refresh", full), ("incremental", incremental)):
            reference = on_duckdb.median(build)
            print(
                f"spark: {build} ({spark.line()}); DuckDB's {reference:.1f}s; "
                f"spark / duckdb {spark.elapsed_s / reference:.2f}"
            )
    finally:
        if started.pid is not None and not started.already_running:
            stop_spark(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the warehouses here (default: a temp dir)"
    )
    parser.add_argument(
        "--compare-rev",
        metavar="REV",
        default=None,
        help="also build this git revision's dbt_project on the same data (e.g. e0dfaff)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of builds, quoted by their medians"
    )
    parser.add_argument(
        "--history",
        metavar="H",
        type=int,
        default=None,
        help="also time the working tree's incremental hour after H messages of history",
    )
    parser.add_argument(
        "--spark",
        action="store_true",
        help="also time a full build of the working tree on a local Spark server",
    )
    args = parser.parse_args()
    if args.repeat < 1 or (args.history is not None and args.history < args.messages):
        parser.error("--repeat is at least 1 and --history at least --messages")
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    try:
        if args.data_dir is None:
            with tempfile.TemporaryDirectory(prefix="dlrw-bench-dbt-") as tmp:
                return _run(args, Path(tmp))
        return _run(args, args.data_dir)
    except DlrwError as exc:
        print(f"bench/dbt.py: {exc}", file=sys.stderr)
        return 2


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, warehouse_url=f"duckdb:///{data_dir / 'bench.duckdb'}")


def _fresh(data_dir: Path) -> Settings:
    """Settings on a new data dir holding empty raw tables."""
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = _settings(data_dir)
    ensure_raw_tables(settings)
    return settings


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _round(
    projects: list[Project], raw: Path, n: int, data_dir: Path, fold_path: Path
) -> tuple[bool, Path]:
    """One round: every project's empty-warehouse build, then every full refresh, then every
    incremental hour, the projects taking turns. Whether each full refresh equals the fold, and
    a copy of the working tree's warehouse with the hour appended, before its incremental."""
    for project in projects:
        empty = run_build(
            _fresh(data_dir / "empty" / project.slug), full_refresh=True, project_dir=project.path
        )
        project.record("empty warehouse", empty.elapsed_s)
        print(f"{project.label}: build on an empty warehouse ({empty.line()})")

    builds: list[tuple[Project, Settings]] = []
    for project in projects:
        settings = _fresh(data_dir / "build" / project.slug)
        shutil.copyfile(raw, settings.data_dir / "bench.duckdb")
        full = run_build(settings, full_refresh=True, project_dir=project.path)
        project.record("full refresh", full.elapsed_s)
        print(f"{project.label}: full refresh ({full.line()})")
        builds.append((project, settings))

    honest = True
    for project, settings in builds:
        cells, differing = check_fold(fold_path, settings.data_dir / "bench.duckdb")
        honest = honest and differing == 0
        verdict = "equals" if differing == 0 else f"DIFFERS in {differing:,} cells from"
        print(
            f"check: the hand-written fold {verdict} {project.label}'s agg_deliverability_daily "
            f"(sent, delivered, failed, pending in {cells:,} cells)"
        )

    before_hour = data_dir / "before-incremental.duckdb"
    for project, settings in builds:
        path = settings.data_dir / "bench.duckdb"
        hour = append_hour(path, n)
        if project is projects[0]:
            shutil.copyfile(path, before_hour)
        print(f"{project.label}: appended one hour ({hour:,} messages + late receipts, not timed)")
        incremental = run_build(settings, project_dir=project.path)
        project.record("incremental", incremental.elapsed_s)
        print(f"{project.label}: incremental ({incremental.line()})")
    return honest, before_hour


def _history(project: Project, n: int, h: int, data_dir: Path, before_hour: Path) -> None:
    """The incremental hour after h messages of history (the same messages per day as n over
    DAYS days, so more days), timed right after the one after n again."""
    days = DAYS * h // n
    settings = _fresh(data_dir / "history")
    path = settings.data_dir / "bench.duckdb"
    started = time.monotonic()
    generate_days(path, h, days)
    full = run_build(settings, full_refresh=True, project_dir=project.path)
    hour = append_hour(path, h, days)
    print(
        f"history: generated {counts(path)} over {days} days and built them "
        f"({full.line()}) in {time.monotonic() - started:.1f}s, appended {hour:,} messages "
        "(not timed)"
    )
    again = _settings(data_dir / "build" / project.slug)
    shutil.copyfile(before_hour, again.data_dir / "bench.duckdb")
    for size, warehouse in ((n, again), (h, settings)):
        incremental = run_build(warehouse, project_dir=project.path)
        label = f"incremental after {size / 1e6:g}M"
        project.record(label, incremental.elapsed_s)
        print(f"{project.label}: {label} ({incremental.line()})")


def _run(args: argparse.Namespace, data_dir: Path) -> int:
    n: int = args.messages
    print(f"load average at start: {_load()}")
    projects = [Project(WORKING_TREE, DBT_PROJECT_DIR)]
    if args.compare_rev is not None:
        shutil.rmtree(data_dir / "projects", ignore_errors=True)
        projects.append(archived_project(args.compare_rev, data_dir / "projects"))
    raw_settings = _fresh(data_dir / "raw")
    raw = raw_settings.data_dir / "bench.duckdb"
    started = time.monotonic()
    generate_days(raw, n)
    print(f"generated {counts(raw)} in {time.monotonic() - started:.1f}s (not timed)")

    fold_path = data_dir / "fold.parquet"
    fold: list[float] = []
    honest = True
    for turn in range(args.repeat):
        print(f"round {turn + 1} of {args.repeat} (load average {_load()})")
        fold.append(hand_fold(raw_settings, raw, fold_path))
        print(f"reference: hand-written fold and daily aggregate {fold[-1]:.1f}s")
        fair, before_hour = _round(projects, raw, n, data_dir, fold_path)
        honest = honest and fair
    if args.history is not None:
        _history(projects[0], n, args.history, data_dir, before_hour)
    if args.spark:
        _spark(raw, n, data_dir, projects[0])

    fold_s = statistics.median(fold)
    reference = projects[0].median("empty warehouse")
    print(
        f"\nmedians of {args.repeat} round(s); the fold {fold_s:.1f}s ({spread(fold)})\n"
        f"{'project':<14} {'build':<24} {'seconds':>8} {'spread':>12} {'/ fold':>7} {'/ empty':>8}"
    )
    for project in projects:
        for build, seconds in project.seconds.items():
            median = project.median(build)
            print(
                f"{project.label:<14} {build:<24} {median:8.1f} {spread(seconds):>12} "
                f"{median / fold_s:7.2f} {median / reference:8.2f}"
            )
    for old in projects[1:]:
        ratios = ", ".join(
            f"{build} {projects[0].median(build) / old.median(build):.2f}" for build in old.seconds
        )
        print(f"{WORKING_TREE} / {old.label}: {ratios}")
    if args.history is not None:
        after_n, after_h = (
            projects[0].median(f"incremental after {x / 1e6:g}M") for x in (n, args.history)
        )
        print(f"history: incremental after {args.history:,} / after {n:,}: {after_h / after_n:.2f}")
    print(f"load average at end: {_load()}")
    print("goals: full <= 4 x fold, incremental <= 1.3 x empty, history <= 1.3")
    return 0 if honest else 1


if __name__ == "__main__":
    sys.exit(main())
