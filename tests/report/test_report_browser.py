"""The report opens in a real browser (headless Chromium) with every plot, on both warehouses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings
from dlrw.ingest.report import PLOT_IDS, TABLE_IDS
from dlrw.ingest.suppression import MIN_FAILURES
from dlrw.ingest.warehouse.connection import sqlalchemy_url

SCREENSHOTS = Path(os.environ.get("DLRW_DATA_DIR", "data")).resolve() / "report" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium flags: no network, no profile state, nothing running in the background.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
# Console output Chromium prints for page problems (JS errors, blocked or failed loads).
PAGE_ERROR = re.compile(
    r"CONSOLE\(\d+\)|Uncaught|Refused to|net::ERR_|Failed to load resource", re.IGNORECASE
)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `bash docker/chromium/install.sh`")
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def render_in_chromium(
    report: Path, tmp_path: Path, screenshot_copy: Path, window: str = "1400,4000"
) -> str:
    """Dump the DOM Chromium built and screenshot the page; return the DOM."""
    url = report.resolve().as_uri()
    dumped = _chromium(["--dump-dom", url], tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    errors = [line for line in dumped.stderr.splitlines() if PAGE_ERROR.search(line)]
    assert not errors, "page errors:\n" + "\n".join(errors)
    png = tmp_path / "report.png"
    shot = _chromium(
        [f"--screenshot={png}", f"--window-size={window}", "--hide-scrollbars", url],
        tmp_path / "profile-shot",
    )
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # One copy for people to look at: under the real data dir, not the test's private one.
    screenshot_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, screenshot_copy)
    return dumped.stdout


def _assert_complete(dom: str) -> None:
    for plot in PLOT_IDS:
        assert re.search(rf'<svg[^>]*data-plot="{plot}"', dom), f"plot {plot} missing"
    for table in TABLE_IDS:
        assert f'data-table="{table}"' in dom, f"table {table} missing"
    assert "SMS deliverability report" in dom
    assert "Worst operator" in dom and "Best route tier" in dom
    assert "No checks run yet" in dom  # no dq_results table in these warehouses
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:)?//', dom)
    assert "<script" not in dom


def _report(settings: Settings, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run_command(["report"], settings) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == settings.data_dir / "report" / "report.html"
    return path


@dataclass
class Report:
    warehouse: str
    path: Path


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def report(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Report:
    """`dlrw report` on the marts in each warehouse (fixtures duckdb_marts, postgres_marts)."""
    settings: Settings = request.getfixturevalue(f"{request.param}_marts")
    return Report(request.param, _report(settings, capsys))


def test_report_renders_every_plot_in_chromium(report: Report, tmp_path: Path) -> None:
    shot = SCREENSHOTS / f"report-{report.warehouse}.png"
    _assert_complete(render_in_chromium(report.path, tmp_path, shot))


def _sections_in_chromium(
    html: str, anchors: list[str], tmp_path: Path, screenshot: Path, window: str
) -> dict[str, str]:
    """The report's sections ``anchors`` alone under its own head (styles), so the screenshot
    shows them whole; returns each section's DOM as Chromium built it."""
    parts = []
    for anchor in anchors:
        start = html.index(f'<section id="{anchor}">')
        parts.append(html[start : html.index("</section>", start) + len("</section>")])
    page = tmp_path / "sections.html"
    page.write_text(html[: html.index("<main>") + 6] + "".join(parts) + "</main></body></html>")
    dom = render_in_chromium(page, tmp_path, screenshot, window=window)
    sections = {}
    for anchor in anchors:
        section = dom[dom.index(f'<section id="{anchor}">') :]
        sections[anchor] = section[: section.index("</section>")]
    return sections


def test_why_messages_fail_section_shows_causes_by_country_and_tier(
    report: Report, mart_frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    html = report.path.read_text()
    shot = SCREENSHOTS / f"causes-{report.warehouse}.png"
    section = _sections_in_chromium(html, ["causes"], tmp_path, shot, "1400,900")["causes"]
    assert "Why messages fail" in section
    for plot in ("failure-causes-by-country", "failure-causes-by-tier"):
        assert re.search(rf'<svg[^>]*data-plot="{plot}"', section)
    # Every failed message of the busiest-failing country and of each tier, by cause, as the
    # messages say (fct_messages, not the causes mart the report reads).
    failed = mart_frames["fct_messages"].query("outcome == 'failed'")
    by_country = failed.groupby("country").size().sort_values(ascending=False)
    top = str(by_country.index[0])
    for cause, n in failed[failed["country"] == top].groupby("failure_cause").size().items():
        share = n / by_country.iloc[0]
        assert f"<title>{top} · {cause}: {share:.1%} ({n:,} messages)</title>" in section
    for tier, group in failed.groupby("route_tier"):
        for cause, n in group.groupby("failure_cause").size().items():
            share = n / len(group)
            assert f"<title>tier {tier} · {cause}: {share:.1%} ({n:,} messages)</title>" in section
    sent = mart_frames["fct_messages"].groupby("country").size()
    assert f"{by_country.iloc[0]:,} failed · {by_country.iloc[0] / sent[top]:.1%} of sent" in (
        section
    )


def _permanent_runs(messages: pd.DataFrame) -> pd.Series:
    """Per number, its permanent failures since its latest other known outcome (README, "Dead
    numbers"), walking each number's messages from the newest."""
    runs = {}
    for number, group in messages.sort_values(["submitted_at", "message_id"]).groupby(
        "destination_hash"
    ):
        run = 0
        for outcome, cause in zip(
            group["outcome"][::-1], group["failure_cause"][::-1], strict=True
        ):
            if cause in ("unknown_subscriber", "dnd_or_opt_out"):
                run += 1
            elif outcome != "pending":
                break
        runs[number] = run
    return pd.Series(runs)


def test_report_shows_dead_numbers_operators_that_do_not_retry_and_the_campaign_funnel(
    report: Report, mart_frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    html = report.path.read_text()
    shot = SCREENSHOTS / f"dead-no-retry-funnel-{report.warehouse}.png"
    sections = _sections_in_chromium(
        html, ["dead-numbers", "no-retry", "funnel"], tmp_path, shot, "1400,1400"
    )
    # Dead numbers: the runs of permanent failures as the messages of each number say.
    messages = mart_frames["fct_messages"]
    runs = _permanent_runs(messages)
    dead = runs[runs >= MIN_FAILURES]
    assert len(dead) > 0 and len(runs[runs == 1]) > 0
    cards = sections["dead-numbers"]
    assert f'<div class="v">{len(dead):,}</div><div class="n">of {len(runs):,} numbers' in cards
    assert f'<div class="v">{int(dead.sum()):,}</div>' in cards
    assert f'<tr><td>1</td><td class="num">{(runs == 1).sum():,}</td>' in cards
    # The flagged operators are the mart's no_retry ones, each with its absent-subscriber
    # failures as the messages count them.
    retry = mart_frames["dim_operator_retry"]
    flagged = retry[retry["retry_verdict"] == "no_retry"]
    assert 0 < len(flagged) < len(retry)
    table = sections["no-retry"]
    assert table.count("<tr>") == 1 + len(flagged)
    absent = messages[messages["failure_cause"] == "absent_subscriber"].groupby("mcc_mnc").size()
    for row in flagged.itertuples():
        assert f'<td>{row.mcc_mnc}</td><td class="num">{row.sent:,}</td>' in table
        assert f'<td class="num">{absent[row.mcc_mnc]:,}</td><td class="num">0</td>' in table
    judged = (retry["retry_verdict"] != "too_little_evidence").sum()
    assert f"{len(flagged)} of the {judged} operators with enough evidence" in table
    # One funnel row per campaign, sent and delivered as the messages say.
    funnel = sections["funnel"]
    assert re.search(r'<svg[^>]*data-plot="campaign-funnel"', funnel)
    for campaign, group in messages.groupby("campaign_id"):
        sent, delivered = len(group), int(group["is_delivered"].sum())
        assert (
            f'<td>{campaign}</td><td class="num">{sent:,}</td><td class="num">{delivered:,}</td>'
            in funnel
        )


@pytest.mark.postgres
def test_report_shows_latest_data_quality_run(
    postgres_marts: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(sqlalchemy_url(postgres_marts.warehouse_url))
    with engine.begin() as conn:
        conn.execute(
            text("create table dq_results (run_id text, check_name text, status text, n int)")
        )
        conn.execute(
            text(
                "insert into dq_results values ('r1', 'old_check', 'fail', 1), "
                "('r2', 'no_reporting_gap', 'pass', 0), ('r2', 'receipts_arrive', 'fail', 3)"
            )
        )
    engine.dispose()
    html = _report(postgres_marts, capsys).read_text()
    assert 'data-table="dq-results"' in html
    assert "no_reporting_gap" in html and "receipts_arrive" in html
    assert "old_check" not in html  # only the latest run
