"""Every column of every mart is described in YAML, where the dbt docs show it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from dlrw.ingest.build.runner import DBT_PROJECT_DIR, ensure_raw_tables, run_build
from dlrw.ingest.config import Settings
from dlrw.ingest.warehouse.marts import open_marts

MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"


@pytest.fixture(scope="module")
def built_columns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each mart's columns as `dlrw build` makes them, on an empty DuckDB warehouse."""
    data = tmp_path_factory.mktemp("docs") / "data"
    settings = Settings(
        data_dir=data, warehouse_url=f"duckdb:///{data / 'w.duckdb'}", hash_key="test-hash-key"
    )
    ensure_raw_tables(settings)
    run_build(settings)
    marts = sorted(sql.stem for sql in MARTS_DIR.rglob("*.sql"))
    columns: dict[str, list[str]] = {mart: [] for mart in marts}
    engine = open_marts(settings.warehouse_url, read_only=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "select table_name, column_name from information_schema.columns "
                    "order by table_name, ordinal_position"
                )
            )
            for table, column in rows:
                if table in columns:
                    columns[table].append(column)
    finally:
        engine.dispose()
    return columns


def described_columns(yml: Path) -> dict[str, set[str]]:
    """Per model of a YAML properties file, the columns that have a non-empty description."""
    properties = yaml.safe_load(yml.read_text())
    return {
        model["name"]: {
            column["name"]
            for column in model.get("columns", [])
            if str(column.get("description") or "").strip()
        }
        for model in properties["models"]
    }


def test_every_mart_column_has_a_description(built_columns: dict[str, list[str]]) -> None:
    described = described_columns(MARTS_DIR / "_marts__models.yml")
    undescribed = [
        f"{mart}.{column}"
        for mart, columns in built_columns.items()
        for column in columns
        if column not in described.get(mart, set())
    ]
    assert built_columns["fct_messages"], "the build made no fct_messages columns"
    assert undescribed == []


def test_a_column_without_description_is_found(tmp_path: Path) -> None:
    yml = tmp_path / "models.yml"
    yml.write_text(
        "anchors:\n"
        "  - &sent {name: sent, description: Messages sent.}\n"
        "models:\n"
        "  - name: m\n"
        "    columns:\n"
        "      - *sent\n"
        "      - {name: delivered}\n"
        "      - {name: failed, description: ' '}\n"
    )
    assert described_columns(yml) == {"m": {"sent"}}
