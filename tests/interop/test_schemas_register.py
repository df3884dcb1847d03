"""`dlrw schemas register`: every version of every event schema, oldest first, under its topic's
value subject, with the subject's compatibility BACKWARD; ids that name the same schemas back."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from dlrw.ingest.kafka.registry_client import SchemaIds, SchemaRegistry
from dlrw.models.wire import registry
from tests.cli import run_dlrw, user_env


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_every_version_is_registered_in_order(
    schema_registry_url: str, topic_prefix: Any, tmp_path: Path
) -> None:
    prefix = topic_prefix()
    env = user_env(tmp_path, DLRW_TOPIC_PREFIX=prefix, DLRW_SCHEMA_REGISTRY_URL=schema_registry_url)
    first = run_dlrw(["schemas", "register"], env, check=True).stdout.splitlines()
    again = run_dlrw(["schemas", "register"], env, check=True).stdout.splitlines()
    assert again == first  # a version already registered keeps its id

    lookup = SchemaIds(SchemaRegistry(schema_registry_url))
    expected = [
        (f"{prefix}{topic}-value", version)
        for kind, topic in (
            ("send", "sms.sends"),
            ("receipt", "sms.receipts"),
            ("conversion", "sms.conversions"),
        )
        for version in registry().versions[kind]
    ]
    assert len(first) == len(expected)
    for line, (subject, version) in zip(first, expected, strict=True):
        assert line.startswith(f"{subject} v{version.version} ({version.name}): id ")
        assert lookup(int(line.rsplit(" ", 1)[1])) is version
    for subject in dict(expected):
        versions = [v.version for s, v in expected if s == subject]
        assert _get(f"{schema_registry_url}/subjects/{subject}/versions") == versions
        assert _get(f"{schema_registry_url}/config/{subject}")["compatibilityLevel"] == "BACKWARD"


def test_an_unreachable_registry_is_one_line(tmp_path: Path) -> None:
    env = user_env(tmp_path, DLRW_SCHEMA_REGISTRY_URL="http://127.0.0.1:9/apis/ccompat/v7")
    done = run_dlrw(["schemas", "register"], env)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "schema registry is not reachable at http://127.0.0.1:9" in done.stderr
