"""Apicurio's Confluent-compatible API on the shared local registry: what Kafka clients use."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _schema(*fields: dict[str, Any]) -> str:
    return json.dumps(
        {"type": "record", "name": "Probe", "namespace": "dlrw.test", "fields": fields}
    )


V1 = _schema({"name": "message_id", "type": "string"})
# A field with a default: a v2 reader can still read v1 records (BACKWARD).
V2 = _schema(
    {"name": "message_id", "type": "string"},
    {"name": "attempt", "type": "int", "default": 1},
)
# A field without one: a reader of it cannot read v1 records.
INCOMPATIBLE = _schema(
    {"name": "message_id", "type": "string"},
    {"name": "operator", "type": "string"},
)


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": CONTENT_TYPE}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_register_and_read_back(schema_registry_url: str) -> None:
    subject = f"test-{uuid.uuid4().hex[:10]}.sms.receipts-value"
    versions = f"{schema_registry_url}/subjects/{subject}/versions"

    first = _call("POST", versions, {"schema": V1})["id"]
    assert _call("POST", versions, {"schema": V1})["id"] == first  # the same schema, the same id
    second = _call("POST", versions, {"schema": V2})["id"]
    assert second != first

    assert json.loads(_call("GET", f"{schema_registry_url}/schemas/ids/{first}")["schema"]) == (
        json.loads(V1)
    )
    assert _call("GET", versions) == [1, 2]
    latest = _call("GET", f"{versions}/latest")
    assert (latest["subject"], latest["version"], latest["id"]) == (subject, 2, second)
    assert json.loads(latest["schema"]) == json.loads(V2)


def test_backward_compatibility_is_the_default(schema_registry_url: str) -> None:
    subject = f"test-{uuid.uuid4().hex[:10]}.sms.sends-value"
    versions = f"{schema_registry_url}/subjects/{subject}/versions"
    assert _call("GET", f"{schema_registry_url}/config")["compatibilityLevel"] == "BACKWARD"
    _call("POST", versions, {"schema": V1})

    with pytest.raises(urllib.error.HTTPError) as refused:
        _call("POST", versions, {"schema": INCOMPATIBLE})
    assert refused.value.code == 409
    assert _call("GET", versions) == [1]


def test_unknown_schema_id_is_not_found(schema_registry_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        _call("GET", f"{schema_registry_url}/schemas/ids/{2**31 - 1}")
    assert missing.value.code == 404
    assert json.load(missing.value)["error_code"] == 40403
