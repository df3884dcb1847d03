"""Nobody's phone number leaks: known numbers go in through `dlrw produce` (send destinations) and
through provider receipts that name the recipient (Twilio To=, Vonage msisdn, Infobip to); after
ingest and build, they are nowhere — not in the store (records or bytes), not in any text column
of any warehouse table, not in any command's output or any file under the data dir (dbt logs
included). The hash key is not either."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from backports import zstd
from sqlalchemy import text

from dlrw.ingest.config import Settings
from dlrw.ingest.store.segments import iter_segments, read_segment
from dlrw.ingest.warehouse.connection import connect_engine
from tests.pipeline.conftest import ROOT, env_for, group_for

pytestmark = pytest.mark.broker

# Reserved-for-fiction ranges where they exist (UK 07700 900xxx, US 555-01xx), and a made-up
# Indian and Brazilian one.
NUMBERS = ["+447700900461", "+14155550187", "+919812345671", "+5511987654329", "+4915112345678"]


def _needles(hash_key: str) -> list[bytes]:
    found = []
    for number in NUMBERS:
        found += [number.encode(), number[1:].encode(), number.replace("+", "%2B").encode()]
    return [*found, hash_key.encode()]


def _receipt_payloads() -> dict[str, list[str]]:
    uk, us, india, brazil, de = NUMBERS
    twilio = (
        "AccountSid=ACxxx&From=%2B15017250604&To={to}&MessageSid=SM{sid:032x}&MessageStatus="
        "delivered&SmsSid=SM{sid:032x}&SmsStatus=delivered&RawDlrDoneDate=2603011016"
        "&ApiVersion=2010-04-01"
    )
    vonage = {
        "err-code": "0",
        "message-timestamp": "2026-03-01 12:10:29",
        "network-code": "40445",
        "price": "0.03330000",
        "scts": "2603011310",
        "status": "delivered",
        "to": "ACME",
    }
    infobip = {
        "results": [
            {
                "bulkId": "BULK-1",
                "messageId": f"IB-{i}",
                "to": number[1:],
                "sentAt": "2026-03-01T12:00:00.000+0000",
                "doneAt": "2026-03-01T12:00:05.000+0000",
                "smsCount": 1,
                "mccMnc": "72406",
                "price": {"pricePerMessage": 0.01, "currency": "EUR"},
                "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED"},
                "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR"},
            }
            for i, number in enumerate((brazil, de))
        ]
    }
    return {
        "twilio": [
            twilio.format(to=uk.replace("+", "%2B"), sid=1),
            twilio.format(to=us, sid=2),  # an unencoded '+' (a space to a form decoder)
        ],
        "vonage": [
            json.dumps(vonage | {"msisdn": india[1:], "messageId": "0B0001"}),
            f"msisdn={uk[1:]}&to=ACME&network-code=23410&messageId=0C0002&price=0.0182"
            "&status=delivered&scts=2603011324&err-code=0&message-timestamp=2026-03-01+11%3A24%3A03",
        ],
        "infobip": [json.dumps(infobip)],
    }


def _sends() -> list[dict[str, object]]:
    return [
        {
            "type": "send",
            "event_id": f"pii-send-{i}",
            "message_id": f"pii-msg-{i}",
            "provider": "twilio",
            "destination": number,
            "country": ("GB", "US", "IN", "BR", "DE")[i],
            "route_id": "r1",
            "route_tier": 1,
            "segments": 1,
            "submitted_at": "2026-03-01T12:00:00Z",
        }
        for i, number in enumerate(NUMBERS)
    ]


def _dlrw(args: list[str], env: dict[str, str], outputs: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dlrw.ingest.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    outputs += [done.stdout, done.stderr]
    return done.stdout if done.returncode == 0 else pytest.fail(f"{args}: {done.stderr}")


def _text_columns(settings: Settings) -> dict[str, list[str]]:
    """Every text-like column of every table and view, by table."""
    engine = connect_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') AND ("
                    "lower(data_type) LIKE '%char%' OR lower(data_type) LIKE '%text%' "
                    "OR lower(data_type) LIKE '%json%' OR lower(data_type) = 'bytea' "
                    "OR lower(data_type) = 'blob')"
                )
            ).all()
            tables: dict[str, list[str]] = {}
            for schema, table, column in rows:
                tables.setdefault(f'"{schema}"."{table}"', []).append(column)
            values: dict[str, list[str]] = {}
            for table, columns in tables.items():
                cells = []
                for column in columns:
                    cells += [
                        v.hex() + "|" + bytes(v).decode("latin-1")
                        if isinstance(v, bytes | memoryview)
                        else str(v)
                        for (v,) in conn.execute(text(f'SELECT "{column}" FROM {table}'))
                        if v is not None
                    ]
                values[table] = cells
            return values
    finally:
        engine.dispose()


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _segment_bytes(path: Path) -> bytes:
    """A segment's bytes with every compressed block decompressed too (the needles may sit
    inside): each Zstandard frame starts with its magic number."""
    data = path.read_bytes()
    frames = []
    start = data.find(_ZSTD_MAGIC)
    while start >= 0:
        # The magic number may also turn up inside compressed bytes: skip what does not decode.
        with contextlib.suppress(zstd.ZstdError):
            frames.append(zstd.ZstdDecompressor().decompress(data[start:]))
        start = data.find(_ZSTD_MAGIC, start + 1)
    assert frames or not path.stat().st_size, f"no compressed block in {path}"
    return data + b"".join(frames)


@pytest.mark.parametrize(
    "warehouse", ["duckdb", pytest.param("postgresql", marks=[pytest.mark.soak])]
)
def test_phone_numbers_and_the_hash_key_appear_nowhere(
    warehouse: str, broker_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = broker_settings
    if warehouse == "postgresql":
        url = request.getfixturevalue("postgres_url")
        settings = settings.model_copy(update={"warehouse_url": url})
    hash_key = f"pii-key-{uuid.uuid4().hex}"
    env = env_for(settings) | {"DLRW_HASH_KEY": hash_key}
    outputs: list[str] = []

    sends = tmp_path / "sends.jsonl"
    bad = {**_sends()[0], "event_id": "pii-bad", "destination": NUMBERS[0] + "12345"}
    sends.write_text("\n".join(json.dumps(s) for s in [*_sends(), bad]) + "\n")
    receipts = tmp_path / "receipts.jsonl"
    with receipts.open("w") as out:
        for provider, payloads in _receipt_payloads().items():
            source = tmp_path / f"{provider}.txt"
            source.write_text("\n".join(payloads) + "\n")
            parsed = _dlrw(
                ["parse-receipt", "--provider", provider, str(source)], env, outputs
            ).splitlines()
            assert len(parsed) == len(payloads) + (1 if provider == "infobip" else 0), parsed
            # parse-receipt prints canonical receipts; produce wants each tagged with its type.
            out.writelines(
                json.dumps({"type": "receipt", **json.loads(line)}) + "\n" for line in parsed
            )

    produced = subprocess.run(
        [sys.executable, "-m", "dlrw.ingest.cli", "produce", str(sends)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outputs += [produced.stdout, produced.stderr]
    assert "pii-bad" not in produced.stdout  # the bad line is reported, masked, and skipped
    assert "line 6" in produced.stderr, produced.stderr
    _dlrw(["produce", str(receipts)], env, outputs)
    _dlrw(["ingest", "--once", "--group", group_for(settings)], env, outputs)
    _dlrw(["build", "--quiet"], env, outputs)

    needles = _needles(hash_key)
    # The inputs did carry the numbers, so the search below would find them if they leaked.
    assert any(n in (tmp_path / "twilio.txt").read_bytes() for n in needles)

    segments = list(iter_segments(settings.store_dir))
    assert segments
    records = [json.dumps(r, default=str) for p in segments for r in read_segment(p)]
    assert sum('"destination_hash"' in r for r in records) == len(NUMBERS)
    assert sum("REDACTED" in r for r in records) == 6  # every receipt named its recipient
    haystacks: dict[str, bytes] = {f"record {r[:80]}": r.encode() for r in records}
    haystacks |= {str(p): _segment_bytes(p) for p in segments}
    for table, values in _text_columns(settings).items():
        haystacks[table] = "\n".join(values).encode()
    assert '"main"."fct_messages"' in haystacks or '"public"."fct_messages"' in haystacks
    haystacks |= {f"output {i}": o.encode() for i, o in enumerate(outputs)}
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "dbt.log" for p in files)
    haystacks |= {str(p): p.read_bytes() for p in files if p.suffix != ".avro"}

    leaks = [(where, n.decode()) for where, hay in haystacks.items() for n in needles if n in hay]
    assert leaks == []
