"""Schema evolution: version 2 of SendEvent and DeliveryReceipt each add an optional field.
Producers of both versions share a topic, ingest reads both into one table (v1 rows NULL in the
new column), a warehouse created before v2 gets the column added, and ``dlrw schemas check``
refuses an incompatible pair."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, Table, text

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings
from dlrw.ingest.kafka.producer import EventPublisher
from dlrw.ingest.pipeline.rebuild import rebuild
from dlrw.ingest.store.segments import iter_segments, read_segment
from dlrw.ingest.warehouse.connection import connect_engine, open_warehouse
from dlrw.ingest.warehouse.tables import LINEAGE_KEY, RAW_TABLES
from dlrw.models.compat import check_directory, check_pair
from dlrw.models.wire import SCHEMA_DIR, decode, encode, registry
from tests.pipeline.conftest import ingest_once, receipt, send, table_contents

# -- dlrw schemas check ---------------------------------------------------------------------------


def _v1(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.v1.avsc").read_text())


def _evolve(old: dict, **changes: object) -> dict:
    new = json.loads(json.dumps(old))
    new["dlrw.version"] = old["dlrw.version"] + 1
    new.update(changes)
    return new


def test_the_shipped_schemas_are_each_backward_compatible(capsys) -> None:
    assert run_command(["schemas", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "SendEvent v1 -> v2: compatible" in lines
    assert "DeliveryReceipt v1 -> v2: compatible" in lines
    assert all(r.compatible for r in check_directory(SCHEMA_DIR))


def test_an_incompatible_pair_fails_the_check_with_its_reason(tmp_path: Path, capsys) -> None:
    shutil.copy(SCHEMA_DIR / "send_event.v1.avsc", tmp_path)
    old = _v1("send_event")
    bad = _evolve(
        old, fields=[*old["fields"], {"name": "template_id", "type": "string"}]
    )  # no default: old records have no value for it
    (tmp_path / "send_event.v2.avsc").write_text(json.dumps(bad))

    code = run_command(["schemas", "check", "--dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.strip() == (
        "SendEvent v1 -> v2: INCOMPATIBLE: SendEvent.template_id: added without a default"
    )
    assert len(captured.err.strip().splitlines()) == 1
    assert "1 of 1 schema pair(s) incompatible" in captured.err


def _with_field(old: dict, name: str, **field: object) -> dict:
    fields = [dict(f, **field) if f["name"] == name else f for f in old["fields"]]
    return _evolve(old, fields=fields)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: _with_field(s, "route_tier", type="long"), None),  # int -> long: promotion
        (lambda s: _with_field(s, "route_tier", type="double"), None),
        (lambda s: _with_field(s, "route_tier", type="string"), "int cannot be read as string"),
        (lambda s: _with_field(s, "price", type=["null", "float"]), "no branch"),  # narrowing
        (lambda s: _with_field(s, "country", type=["null", "string"]), None),  # widening
        (
            lambda s: _evolve(s, fields=[f for f in s["fields"] if f["name"] != "route_id"]),
            "route_id: removed, and it had no default",
        ),
        (lambda s: _evolve(s, fields=[f for f in s["fields"] if f["name"] != "price"]), None),
    ],
    ids=["int-long", "int-double", "int-string", "double-float", "optional", "drop", "drop-opt"],
)
def test_structural_rules_follow_the_avro_specification(change, problem) -> None:
    old = _v1("send_event")
    problems = check_pair(old, change(old))
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_removing_an_enum_symbol_needs_the_enum_default() -> None:
    old = _v1("delivery_receipt")
    status = next(f for f in old["fields"] if f["name"] == "status")
    symbols = [s for s in status["type"]["symbols"] if s != "DELETED"]
    narrowed = dict(status["type"], symbols=symbols)
    without_default = {k: v for k, v in narrowed.items() if k != "default"}
    assert check_pair(old, _with_field(old, "status", type=narrowed)) == []
    assert (
        "removed without a default"
        in check_pair(old, _with_field(old, "status", type=without_default))[0]
    )


# -- v1 and v2 producers on one topic --------------------------------------------------------


def test_v2_is_the_newest_version_of_sends_and_receipts() -> None:
    reg = registry()
    assert reg.latest["send"].version == 2
    assert reg.latest["receipt"].version == 2
    assert [v.version for v in reg.versions["send"]] == [1, 2]


@pytest.mark.broker
def test_mixed_v1_and_v2_producers_land_in_the_same_tables(any_warehouse: Settings) -> None:
    settings = any_warehouse
    with EventPublisher(settings) as publisher:
        for i in range(40):
            s, r = send(i), receipt(i)
            if i % 2:
                sv = encode("send", s.to_dict() | {"template_id": f"tpl-{i}"}, version=2)
                rv = encode("receipt", r.to_dict() | {"network_error_code": f"N{i}"}, version=2)
            else:
                sv, rv = encode("send", s.to_dict(), version=1), encode("receipt", r.to_dict(), 1)
            assert decode(sv)[0].version == (2 if i % 2 else 1)
            publisher.publish_bytes("send", s.key(), sv)
            publisher.publish_bytes("receipt", r.key(), rv)

    summary = ingest_once(settings)
    assert summary.events["send"] == summary.events["receipt"] == 40
    assert summary.dead_letters == 0

    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        sends = dict(conn.execute(text("SELECT event_id, template_id FROM raw_sends")).all())
        receipts = dict(
            conn.execute(text("SELECT event_id, network_error_code FROM raw_receipts")).all()
        )
    engine.dispose()
    assert sends == {f"send-{i}": (f"tpl-{i}" if i % 2 else None) for i in range(40)}
    assert receipts == {f"rcpt-{i}": (f"N{i}" if i % 2 else None) for i in range(40)}

    # The store holds both in the newest form, and a rebuild from it reproduces the tables.
    stored = {
        record["event_id"]: record["template_id"]
        for path in iter_segments(settings.store_dir, ["send"])
        for record in read_segment(path)
    }
    assert stored == sends
    before = table_contents(settings.warehouse_url)
    with open_warehouse(settings.warehouse_url) as warehouse:
        rebuild(settings.store_dir, warehouse)
    assert table_contents(settings.warehouse_url) == before


@pytest.mark.broker
def test_a_warehouse_from_before_v2_gets_the_new_columns(any_warehouse: Settings) -> None:
    settings = any_warehouse
    # What a v1 warehouse looked like: the raw tables without the v2 columns.
    old = MetaData()
    for kind, added in (("send", "template_id"), ("receipt", "network_error_code")):
        table = RAW_TABLES[kind]
        assert added in table.columns
        Table(
            table.name,
            old,
            *[
                Column(c.name, c.type, nullable=c.nullable)
                for c in table.columns
                if c.name != added
            ],
            PrimaryKeyConstraint(*LINEAGE_KEY),
        )
    engine = connect_engine(settings.warehouse_url)
    old.create_all(engine)
    engine.dispose()

    with EventPublisher(settings) as publisher:
        publisher.publish(send(1))
        publisher.publish(type(send(2)).from_dict(send(2).to_dict() | {"template_id": "tpl-2"}))
        publisher.publish(receipt(1))
    summary = ingest_once(settings)
    assert summary.events["send"] == 2 and summary.dead_letters == 0
    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        added = conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'raw_sends'"
                " ORDER BY ordinal_position DESC LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    assert added == "template_id"  # appended last by the migration, after the lineage

    engine = connect_engine(settings.warehouse_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT event_id, template_id FROM raw_sends")).all())
        country = dict(conn.execute(text("SELECT event_id, country FROM raw_sends")).all())
    engine.dispose()
    assert rows == {"send-1": None, "send-2": "tpl-2"}
    assert country == {f"send-{i}": send(i).country for i in (1, 2)}
