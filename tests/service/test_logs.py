"""``DLRW_LOG_FORMAT=json``: every line a command writes on stderr is one JSON object (time,
level, component, logger, message, fields), and no secret, token or phone number is in them."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.exc import ProgrammingError

from dlrw.ingest.config import Settings
from tests.cli import env_for, start_dlrw, stop
from tests.collect.conftest import FORM, SECRETS, run_collect, twilio_headers
from tests.pipeline.conftest import counts, publish, traffic
from tests.reliability.conftest import PrivatePostgres
from tests.service.conftest import wait_for

pytestmark = pytest.mark.broker

# One UK test number, as providers and attackers may write it.
_NUMBER_FORMS = ["+447700900123", "447700900123", "+44 7700 900123", "07700 900123"]
_WRONG_TOKEN = "wrong-token-9f8e7d"
_DIGITS = ["447700900123", "7700900123", "7700 900123"]


def _json_lines(text: str, component: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        entry = json.loads(line)  # fails on any line that is not one JSON object
        assert set(entry) == {"time", "level", "component", "logger", "message", "fields"}, line
        assert entry["component"] == component
        assert entry["time"].endswith("+00:00")
        entries.append(entry)
    return entries


def _assert_nothing_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
    for digits in _DIGITS:
        assert digits not in text


def _send(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_collect_logs_json_without_secrets_or_numbers(
    broker_settings: Settings, tmp_path: Path
) -> None:
    twilio = urlencode(
        {
            "MessageSid": "SM1342fe1b2c904d1ab04f0fc7a58abca9",
            "MessageStatus": "delivered",
            "To": _NUMBER_FORMS[0],
            "From": "+15017250604",
        }
    )
    with run_collect(broker_settings, tmp_path, DLRW_LOG_FORMAT="json", **SECRETS) as service:
        base = service.url + "/receipts/"
        statuses = [
            _send(base + "twilio", twilio.encode(), twilio_headers(twilio)),
            _send(base + "twilio", twilio.encode(), FORM | {"X-Twilio-Signature": _WRONG_TOKEN}),
            _send(base + f"infobip?token={_WRONG_TOKEN}", b"{}"),
            _send(
                base + "smpp",
                b"id:1 " + _NUMBER_FORMS[2].encode(),
                {"X-Dlrw-Secret": SECRETS["DLRW_COLLECT_SHARED_SECRET"]},
            ),
            _send(base + f"vonage?msisdn={_NUMBER_FORMS[1]}&sig={_WRONG_TOKEN}"),
            _send(base + "infobip", b"{}", {f"X-{i}": _NUMBER_FORMS[3] for i in range(120)}),
            _send(service.url + "/" + _NUMBER_FORMS[0]),
        ]
    assert statuses == [200, 403, 403, 400, 403, 431, 404]
    log = service.log()
    entries = _json_lines(log, "collect")
    _assert_nothing_secret(log, [*SECRETS.values(), _WRONG_TOKEN])
    requests = [e["fields"] for e in entries if "status" in e["fields"]]
    assert [(r["path"], r["status"]) for r in requests] == [
        ("/receipts/twilio", 200),
        ("/receipts/twilio", 403),
        ("/receipts/infobip", 403),
        ("/receipts/smpp", 400),
        ("/receipts/vonage", 403),
    ]
    assert all(r["duration_ms"] >= 0 and r["method"] in ("GET", "POST") for r in requests)
    # What the command printed itself is logged too.
    assert any(e["message"].startswith("dlrw collect: listening on") for e in entries)


def _rows(url: str) -> int:
    try:
        return sum(rows for rows, _ in counts(url).values())
    except ProgrammingError:  # no tables yet
        return 0


def _ingest(settings: Settings, stderr: Any, *args: str, **env: str) -> subprocess.Popen[str]:
    return start_dlrw(
        ["ingest", "--group", f"g-{settings.topic_prefix}", *args],
        env_for(settings, DLRW_LOG_FORMAT="json", **env),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def test_ingest_logs_json_from_both_processes_without_the_warehouse_password(
    broker_settings: Settings, own_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    # The private server trusts any password; the URL carries one all the same.
    url = own_postgres.url.replace("postgres@", "postgres:pw-s3cret-41@")
    settings = broker_settings.model_copy(update={"warehouse_url": url})
    publish(settings, traffic(200))
    log_path = tmp_path / "ingest.log"
    with open(log_path, "w") as stderr:
        ingest = _ingest(settings, stderr)
    try:
        wait_for("rows", lambda: _rows(url), lambda n: n == 200, ingest)
        own_postgres.stop()
        # The worker process checks its idle connection and says, once, the warehouse is gone.
        wait_for("warning", log_path.read_text, lambda text: "unavailable" in text, ingest, 30)
        own_postgres.start()
    finally:
        stop(ingest)
    text = log_path.read_text()
    entries = _json_lines(text, "ingest")
    assert any(
        e["logger"] == "dlrw.ingest.pipeline.outage" and e["level"] == "WARNING" for e in entries
    ), text
    _assert_nothing_secret(text, ["pw-s3cret-41", env_for(settings)["DLRW_HASH_KEY"]])


def test_a_failing_ingest_says_why_in_one_json_error_line(
    broker_settings: Settings, tmp_path: Path
) -> None:
    down = "postgresql://dlrw:pw-s3cret-41@127.0.0.1:1/dlrw"
    with open(tmp_path / "ingest.log", "w") as stderr:
        ingest = _ingest(broker_settings, stderr, "--once", DLRW_WAREHOUSE_URL=down)
    assert ingest.wait(120) == 3
    text = (tmp_path / "ingest.log").read_text()
    [entry] = _json_lines(text, "ingest")
    assert entry["level"] == "ERROR"
    assert entry["message"].startswith(
        "dlrw ingest: error: warehouse postgresql+psycopg2://dlrw:***@"
    )
    assert "pw-s3cret-41" not in text
