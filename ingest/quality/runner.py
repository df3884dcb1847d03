"""Run every check through Great Expectations, keep the results and say what failed.

One run: look up the reference times, count the Avro store, build the checks
(``ingest.quality.checks``), validate each with GX on the warehouse (an ephemeral context with a
Data Docs site under the data dir), turn GX's verdicts into one ``Finding`` per cell, append them
to the warehouse table ``dq_results`` and build the Data Docs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    Engine,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError, ServiceUnavailable, error_line
from dlrw.ingest.quality.relations import Reference, Relations
from dlrw.ingest.quality.store_counts import StoreCounts, count_store
from dlrw.ingest.quality.thresholds import Thresholds
from dlrw.ingest.warehouse.marts import find_tables, open_marts

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

    from dlrw.ingest.quality.checks import FigureCheck

__all__ = [
    "DQ_RESULTS",
    "REQUIRED_TABLES",
    "CheckRun",
    "Finding",
    "Period",
    "data_docs_dir",
    "run_checks",
]

# Results of every run, one row per check x cell (appended; the newest run_id sorts last).
_dq_metadata = MetaData()
DQ_RESULTS = Table(
    "dq_results",
    _dq_metadata,
    Column("run_id", Text(), nullable=False),
    Column("run_at", DateTime(timezone=False), nullable=False),
    Column("check_name", Text(), nullable=False),
    Column("cell", Text(), nullable=False),
    Column("observed", Double(), nullable=True),
    Column("threshold", Double(), nullable=True),
    Column("passed", Boolean(), nullable=False),
    Column("detail", Text(), nullable=False),
)

# `dlrw check --since/--until`: [since, until) in naive UTC, until None when open-ended.
Period = tuple[datetime, datetime | None]

RAW_TABLES = ("raw_sends", "raw_receipts", "raw_conversions", "raw_quarantine")
# What dbt builds that the checks read: the matched receipts and three marts.
MODEL_TABLES = (
    "int_receipts_matched",
    "fct_messages",
    "agg_deliverability_hourly",
    "agg_deliverability_daily",
)
REQUIRED_TABLES = RAW_TABLES + MODEL_TABLES


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict on one cell."""

    check: str
    cell: tuple[tuple[str, str], ...]
    observed: float | None
    threshold: float | None
    passed: bool
    comparison: str = ">"
    figure: str = "value"
    detail: str = ""

    @property
    def cell_text(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.cell)

    def line(self) -> str:
        """``check: cell figure=observed > threshold (detail)`` -- the failure line."""
        if self.observed is None:  # an error, a skipped check, or nothing to measure
            return f"{self.check}: {self.cell_text} {self.detail}"
        observed = "none" if self.observed is None else _number(self.observed)
        threshold = (
            "" if self.threshold is None else f" {self.comparison} {_number(self.threshold)}"
        )
        tail = f" {self.detail}" if self.detail else ""
        return f"{self.check}: {self.cell_text} {self.figure}={observed}{threshold}{tail}"


@dataclass(frozen=True, slots=True)
class CheckRun:
    """The outcome of one ``dlrw check``."""

    run_id: str
    run_at: datetime
    checks: list[str]
    findings: list[Finding]
    data_docs: Path | None
    store: StoreCounts
    seconds: float

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.passed]

    @property
    def passed(self) -> bool:
        return not self.failures


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"


def _plain(value: Any) -> Any:
    """A warehouse value as plain Python, for cell keys and comparisons."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars from GX's pandas-backed results
        return value.item()
    return value


def data_docs_dir(settings: Settings) -> Path:
    """Where the GX Data Docs site of `dlrw check` lives."""
    return settings.data_dir / "quality" / "data_docs"


# --- warehouse ---------------------------------------------------------------------------


def locate_relations(engine: Engine) -> Relations:
    """Where the checks' tables are; one readable error when any is not built yet."""
    tables = find_tables(engine, REQUIRED_TABLES)
    missing = [name for name in REQUIRED_TABLES if name not in tables]
    if missing:
        raise DlrwError(
            f"the warehouse has no {', '.join(missing)}: run `dlrw ingest` and `dlrw build` first"
        )
    return Relations(engine.url.get_backend_name(), tables)


def _reference_times(
    engine: Engine, rel: Relations, now: datetime, period: Period | None
) -> Reference:
    with engine.connect() as conn:
        newest_send, first_hour = conn.execute(
            text(
                f"select (select max(submitted_at) from {rel.model('fct_messages')}), "
                f"(select min(period_hour) from {rel.model('agg_deliverability_hourly')})"
            )
        ).one()
    since, until = period or (None, None)
    return Reference(
        now=now,
        newest_send=_naive(newest_send),
        first_hour=_naive(first_hour),
        since=since,
        until=until,
    )


def _naive(value: object) -> datetime | None:
    """A warehouse timestamp as naive UTC (the raw tables store UTC without a zone)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DlrwError(f"expected a timestamp from the warehouse, got {value!r}")
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _figure_rows(engine: Engine, query: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(query)).mappings()]


def _store_results(engine: Engine, findings: Sequence[Finding], run_id: str, at: datetime) -> None:
    rows = [
        {
            "run_id": run_id,
            "run_at": at,
            "check_name": f.check,
            "cell": f.cell_text,
            "observed": f.observed,
            "threshold": f.threshold,
            "passed": f.passed,
            "detail": f.detail,
        }
        for f in findings
    ]
    with engine.begin() as conn:
        _dq_metadata.create_all(conn)
        if rows:
            conn.execute(DQ_RESULTS.insert(), rows)


# --- Great Expectations ------------------------------------------------------------------


def _context(docs_dir: Path) -> AbstractDataContext:
    """An ephemeral GX context (nothing to keep in sync on disk) whose one Data Docs site is
    ``docs_dir``; no usage statistics, no progress bars."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            "dlrw": {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    # get_context also makes it the active context, which building suites needs.
    return gx.get_context(mode="ephemeral", project_config=config)


def _datasource(context: AbstractDataContext, url: str, backend: str) -> Any:
    if backend == "duckdb":
        # The DuckDB workaround (ingest/quality/gx_duckdb.py); PostgreSQL needs none.
        from dlrw.ingest.quality.gx_duckdb import DuckDBDatasource

        return context.add_datasource(
            datasource=DuckDBDatasource(name="warehouse", connection_string=url)
        )
    return context.data_sources.add_postgres(name="warehouse", connection_string=url)


def _kind(er: Any) -> str:
    """The expectation type of a result (``expect_column_values_to_be_between``, ...)."""
    config = er.expectation_config
    return str(config.type) if config is not None else "unknown"


def _exception(er: Any) -> str | None:
    info = er.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():  # keyed by metric when several metrics failed
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _figure_findings(
    check: FigureCheck, result: ExpectationSuiteValidationResult, rows: list[dict[str, Any]]
) -> list[Finding]:
    """GX decides which cells fail (its unexpected rows); the figure rows give every cell."""
    findings: list[Finding] = []
    failed: set[tuple[Any, ...]] = set()
    for er in result.results:
        error = _exception(er)
        if error is not None:
            cell = (("expectation", _kind(er)),)
            findings.append(Finding(check.name, cell, None, None, False, detail=f"error: {error}"))
            continue
        if er.success:
            continue
        listed = er.result.get("unexpected_index_list") or []
        for item in listed:
            failed.add(tuple(_plain(item.get(c)) for c in check.cell_columns))
        if not listed:  # e.g. not-null on an empty aggregate: the whole check fails
            failed.update(tuple(_plain(r.get(c)) for c in check.cell_columns) for r in rows)
    summaries: dict[tuple[Any, ...], tuple[float, int]] = {}
    # Cell order (provider, operator, hour ...), so failure lines read as a timeline per cell.
    ordered = sorted(rows, key=lambda r: tuple(str(_plain(r.get(c))) for c in check.cell_columns))
    for row in ordered:
        key = tuple(_plain(row.get(c)) for c in check.cell_columns)
        observed = row.get(check.figure)
        value = None if observed is None else float(observed)
        if check.passing_summary and key not in failed and value is not None:
            group = tuple(_plain(row.get(c)) for c in check.passing_summary)
            worst, count = summaries.get(group, (value, 0))
            pick = max if check.fails_when == ">" else min
            summaries[group] = (pick(worst, value), count + 1)
            continue
        findings.append(
            Finding(
                check=check.name,
                cell=tuple((c, str(v)) for c, v in zip(check.cell_columns, key, strict=True)),
                observed=value,
                threshold=float(check.threshold),
                passed=key not in failed,
                comparison=check.fails_when,
                figure=check.figure,
                detail=check.detail(row),
            )
        )
    for group, (worst, count) in sorted(summaries.items()):
        findings.append(
            Finding(
                check=check.name,
                cell=tuple((c, str(v)) for c, v in zip(check.passing_summary, group, strict=True)),
                observed=worst,
                threshold=float(check.threshold),
                passed=True,
                comparison=check.fails_when,
                figure=check.figure,
                detail=f"(worst of {count} passing rows)",
            )
        )
    return findings


def _validate(
    context: AbstractDataContext,
    engine_url: URL,
    rel: Relations,
    figure_checks: Sequence[FigureCheck],
    run_id: str,
    docs_dir: Path,
) -> tuple[dict[str, Any], Path | None]:
    """Run every suite; returns GX's result per check name and the Data Docs index."""
    from great_expectations.core.run_identifier import RunIdentifier

    url = engine_url.render_as_string(hide_password=False)
    datasource = _datasource(context, url, rel.backend)
    gx_run = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
    results: dict[str, Any] = {}
    try:
        for check in figure_checks:
            if check.skipped:
                continue
            asset = datasource.add_query_asset(name=check.name, query=check.asset_query)
            results[check.name] = _run_suite(
                context,
                asset,
                check.suite,
                {
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [
                        *check.cell_columns,
                        *check.detail_columns,
                    ],
                },
                gx_run,
            )
        context.build_data_docs()
    finally:
        from dlrw.ingest.quality.gx_duckdb import release

        release(datasource)
    index = docs_dir / "index.html"
    return results, index if index.exists() else None


def _run_suite(
    context: AbstractDataContext,
    asset: Any,
    suite: Any,
    result_format: dict[str, Any],
    gx_run: Any,
) -> Any:
    import great_expectations as gx

    batch = asset.add_batch_definition_whole_table("all rows")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
    )
    return definition.run(result_format=result_format, run_id=gx_run)


# --- the run -----------------------------------------------------------------------------


def new_run_id(at: datetime) -> str:
    """Sortable by time (the report shows the newest), unique across concurrent runs."""
    return f"{at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_checks(
    settings: Settings,
    thresholds: Thresholds,
    now: datetime | None = None,
    docs_dir: Path | None = None,
    period: Period | None = None,
) -> CheckRun:
    """Run every check on the warehouse and store of ``settings``; raises ``DlrwError`` with
    one readable line when the warehouse is not there or not built. ``period`` ([since, until),
    naive UTC; until None: open) makes missing receipts and silent hours judge all of it."""
    started = time.monotonic()
    run_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    reference_now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    run_id = new_run_id(run_at)
    engine = open_marts(settings.warehouse_url)
    try:
        rel = locate_relations(engine)
        # GX loads slowly; only now that the warehouse is known to be built.
        from dlrw.ingest.quality.checks import figure_checks

        reference = _reference_times(engine, rel, reference_now, period)
        store = count_store(settings.store_dir)
        docs = docs_dir or data_docs_dir(settings)
        docs.mkdir(parents=True, exist_ok=True)
        context = _context(docs)
        figures = figure_checks(rel, reference, thresholds, store.counts)
        figure_rows = {
            check.name: _figure_rows(engine, check.asset_query)
            for check in figures
            if not check.skipped
        }
        results, index = _validate(context, engine.url, rel, figures, run_id, docs)
        findings: list[Finding] = []
        for check in figures:
            if check.skipped:
                findings.append(
                    Finding(
                        check.name, (("skipped", "all"),), None, None, True, detail=check.skipped
                    )
                )
                continue
            findings += _figure_findings(check, results[check.name], figure_rows[check.name])
        _store_results(engine, findings, run_id, run_at)
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"warehouse query failed: {error_line(exc)}") from exc
    finally:
        engine.dispose()
    checks = [check.name for check in figures]
    return CheckRun(run_id, run_at, checks, findings, index, store, time.monotonic() - started)
