"""dlrw's side of a Confluent-compatible schema registry (``DLRW_SCHEMA_REGISTRY_URL``): the
event schemas registered under ``<topic>-value`` subjects, records framed with their ids, and the
schema an id on a record names.

Plain HTTP calls to the registry's Confluent API (Apicurio serves it at ``/apis/ccompat/v7``).
Every answer is kept for the life of the object that asked, so a process asks once per schema or
id, never per record.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastavro.schema import fingerprint, to_parsing_canonical_form

from dlrw.ingest.config import Settings
from dlrw.ingest.errors import DlrwError, ServiceUnavailable
from dlrw.models.events import EVENT_TYPES
from dlrw.models.wire import (
    Framing,
    IncompatibleSchema,
    SchemaVersion,
    UndecodableRecord,
    UnknownSchema,
    registry,
    registry_framed,
    single_object,
)

__all__ = [
    "COMPATIBILITY",
    "RegistryFraming",
    "RegistryRefused",
    "RegistryUnavailable",
    "SchemaIds",
    "SchemaRegistry",
    "framing",
    "register_all",
    "schema_ids_at",
    "subject",
]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# A new schema version must read what the one before wrote, as `dlrw schemas check` holds them to.
COMPATIBILITY = "BACKWARD"
TIMEOUT_S = 10.0
_NOT_FOUND = 40403  # the Confluent API's error code for a schema id it does not hold


class RegistryUnavailable(ServiceUnavailable):
    """The schema registry cannot be reached, or fails with a server error."""


class RegistryRefused(DlrwError):
    """The schema registry answered a request with a client error (e.g. 409: incompatible);
    ``error_code`` is the Confluent API's code for it, when the answer gave one."""

    def __init__(self, message: str, error_code: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True)
class SchemaRegistry:
    """The Confluent-compatible API at ``url``: the three calls dlrw makes of it."""

    url: str
    timeout_s: float = TIMEOUT_S

    def register(self, subject: str, schema: SchemaVersion) -> int:
        """Register ``schema`` under ``subject`` (a no-op if it is there) and return its id."""
        answer = self._call(
            "POST", f"/subjects/{_quoted(subject)}/versions", {"schema": schema_text(schema)}
        )
        return int(answer["id"])

    def set_compatibility(self, subject: str, level: str = COMPATIBILITY) -> None:
        """Set the compatibility the registry holds new versions of ``subject`` to."""
        self._call("PUT", f"/config/{_quoted(subject)}", {"compatibility": level})

    def schema(self, schema_id: int) -> dict[str, Any] | None:
        """The registry's answer for a schema id (``schema``, and ``schemaType`` unless Avro);
        None if it holds no such id."""
        try:
            answer: dict[str, Any] = self._call("GET", f"/schemas/ids/{schema_id}")
        except RegistryRefused as exc:
            if exc.error_code == _NOT_FOUND:
                return None
            raise
        return answer

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise RegistryUnavailable(
                    f"the schema registry at {self.url} failed {method} {path}: HTTP {exc.code}"
                ) from exc
            answer = _error_answer(exc)
            raise RegistryRefused(
                f"the schema registry at {self.url} refused {method} {path}: HTTP {exc.code} "
                f"{answer.get('message', '')}".rstrip(),
                answer.get("error_code"),
            ) from exc
        except (OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise RegistryUnavailable(
                f"the schema registry is not reachable at {self.url} "
                f"({reason or type(reason).__name__}); start it with `dlrw registry start` or "
                "set DLRW_SCHEMA_REGISTRY_URL"
            ) from exc


def _quoted(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _error_answer(exc: urllib.error.HTTPError) -> dict[str, Any]:
    """The JSON object of an error answer (``error_code``, ``message``), or {} if none."""
    try:
        body = json.loads(exc.read())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def schema_text(schema: SchemaVersion) -> str:
    """What gets registered for a schema version: its ``.avsc`` file, with docs and defaults."""
    return json.dumps(json.loads(schema.path.read_text()), separators=(",", ":"))


def subject(settings: Settings, event_type: str) -> str:
    """The subject an event type's schemas are registered under: its topic's value subject."""
    return f"{settings.topic(event_type)}-value"


def _register(registry_: SchemaRegistry, subject_: str, schema: SchemaVersion) -> int:
    registry_.set_compatibility(subject_)
    return registry_.register(subject_, schema)


class RegistryFraming:
    """A ``Framing`` in the schema registry wire format: registers each schema the first time
    it frames a body written with it, then reuses the id."""

    def __init__(self, registry_: SchemaRegistry, subjects: dict[str, str]) -> None:
        self.registry = registry_
        self.subjects = subjects
        self._ids: dict[bytes, int] = {}

    def __call__(self, schema: SchemaVersion, body: bytes) -> bytes:
        schema_id = self._ids.get(schema.fingerprint)
        if schema_id is None:
            subject_ = self.subjects[schema.event_type]
            schema_id = self._ids[schema.fingerprint] = _register(self.registry, subject_, schema)
        return registry_framed(schema_id, body)


def framing(settings: Settings) -> Framing:
    """How producers frame records under ``settings``: DLRW_WIRE_FORMAT."""
    if settings.wire_format == "single-object":
        return single_object
    subjects = {kind: subject(settings, kind) for kind in EVENT_TYPES}
    return RegistryFraming(SchemaRegistry(settings.schema_registry_url), subjects)


def register_all(settings: Settings) -> Iterator[tuple[str, SchemaVersion, int]]:
    """Register every version of every event schema, oldest first, each under its topic's
    subject; yields (subject, version, id) as each is registered."""
    registry_ = SchemaRegistry(settings.schema_registry_url)
    for kind in EVENT_TYPES:
        subject_ = subject(settings, kind)
        registry_.set_compatibility(subject_)
        for version in registry().versions[kind]:
            yield subject_, version, registry_.register(subject_, version)


class SchemaIds:
    """A ``SchemaLookup``: registry schema ids resolved to dlrw's schema versions, each id asked
    of the registry once. An id the registry does not hold raises ``UnknownSchema``; one whose
    schema is none of the versions in ``models/schemas`` raises ``IncompatibleSchema``."""

    def __init__(self, registry_: SchemaRegistry) -> None:
        self.registry = registry_
        self._known: dict[int, SchemaVersion | tuple[type[UndecodableRecord], str]] = {}

    def __call__(self, schema_id: int) -> SchemaVersion:
        found = self._known.get(schema_id)
        if found is None:
            found = self._known[schema_id] = self._resolve(schema_id)
        if isinstance(found, SchemaVersion):
            return found
        error, reason = found
        raise error(reason)

    def _resolve(self, schema_id: int) -> SchemaVersion | tuple[type[UndecodableRecord], str]:
        answer = self.registry.schema(schema_id)
        if answer is None:
            return UnknownSchema, f"schema id {schema_id} is not in the schema registry"
        kind = answer.get("schemaType", "AVRO")
        if kind != "AVRO":
            return IncompatibleSchema, f"schema id {schema_id} is a {kind} schema, not Avro"
        try:
            raw = json.loads(answer["schema"])
            found = fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")
        except Exception as exc:  # fastavro raises many types on a schema it cannot read
            return IncompatibleSchema, f"schema id {schema_id} is no Avro schema dlrw reads: {exc}"
        ours = registry().by_fingerprint.get(bytes.fromhex(found))
        if ours is None:
            name = raw.get("name", "?") if isinstance(raw, dict) else "?"
            return IncompatibleSchema, (
                f"schema id {schema_id} is registered as {name}, but as none of the schema "
                "versions dlrw reads (models/schemas)"
            )
        return ours


@cache
def schema_ids_at(url: str) -> SchemaIds:
    """The ``SchemaIds`` of the registry at ``url``, one per process."""
    return SchemaIds(SchemaRegistry(url))
