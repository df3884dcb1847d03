"""A second, private registry through `dlrw registry start|status|stop`, on a free port."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from dlrw.ingest.cli import run_command
from dlrw.ingest.config import Settings

SCHEMA = json.dumps(
    {"type": "record", "name": "Probe", "fields": [{"name": "message_id", "type": "string"}]}
)


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A socket that accepts connections on a free port and answers nothing."""
    with socket.socket() as server:
        server.bind(("localhost", 0))
        server.listen()
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


def _dlrw(capsys: pytest.CaptureFixture[str], settings: Settings, *args: str) -> tuple[int, str]:
    code = run_command(["registry", *args], settings)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out.strip()


def _register(url: str, subject: str) -> int:
    request = urllib.request.Request(
        f"{url}/subjects/{subject}/versions",
        data=json.dumps({"schema": SCHEMA}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["id"])


def test_registry_start_status_stop_restart(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://localhost:{_free_port()}/apis/ccompat/v7"
    settings = settings.model_copy(update={"schema_registry_url": url})
    data = settings.data_dir / "registry"
    try:
        code, out = _dlrw(capsys, settings, "start")
        assert code == 0
        match = re.fullmatch(
            rf"registry ready at {re.escape(url)} in [\d.]+s \(pid (\d+), data (.+)\)", out
        )
        assert match, out
        pid = match.group(1)
        assert match.group(2) == str(data)

        assert _dlrw(capsys, settings, "start") == (
            0,
            f"registry already running at {url} (pid {pid}, data {data})",
        )
        schema_id = _register(url, "probe-value")
        assert _dlrw(capsys, settings, "status") == (
            0,
            f"running: pid {pid}, {url}, 1 subjects, data {data}",
        )

        assert _dlrw(capsys, settings, "stop") == (0, f"registry stopped (pid {pid})")
        assert _dlrw(capsys, settings, "status") == (
            1,
            f"not running: no registry answers at {url}",
        )
        assert _dlrw(capsys, settings, "stop") == (
            0,
            f"registry not running (none started from {data})",
        )

        # The schemas are on disk: a restarted registry knows the same subject and id.
        code, out = _dlrw(capsys, settings, "start")
        assert code == 0, out
        with urllib.request.urlopen(f"{url}/subjects/probe-value/versions/1", timeout=30) as got:
            assert json.load(got)["id"] == schema_id
    finally:
        run_command(["registry", "stop"], settings)


def test_port_held_by_something_else(
    settings: Settings, capsys: pytest.CaptureFixture[str], listening_socket: socket.socket
) -> None:
    port = listening_socket.getsockname()[1]
    url = f"http://localhost:{port}/apis/ccompat/v7"
    code = run_command(
        ["registry", "start"], settings.model_copy(update={"schema_registry_url": url})
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.strip().splitlines() == [
        f"dlrw registry: error: port {port} is in use by something that is not a schema "
        "registry; stop it or set DLRW_SCHEMA_REGISTRY_URL to a free port"
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://localhost:8081/apis/ccompat/v7", "is not http://host:port/apis/ccompat/v7"),
        ("http://localhost/apis/ccompat/v7", "is not http://host:port/apis/ccompat/v7"),
        ("http://registry.example.com:8081/apis/ccompat/v7", "is not on this machine"),
        ("http://localhost:8081", "must end in /apis/ccompat/v7"),
    ],
)
def test_url_that_cannot_be_served_here(
    settings: Settings, capsys: pytest.CaptureFixture[str], url: str, reason: str
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": url})
    for action in ("start", "status"):
        code = run_command(["registry", action], settings)
        err = capsys.readouterr().err
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert f"DLRW_SCHEMA_REGISTRY_URL={url!r} {reason}" in err
