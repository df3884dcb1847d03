"""Schema evolution rules: each version of an event schema must be able to read what its
predecessor wrote (backward compatibility), since the registry resolves every older writer to the
newest reader.

A pair is checked twice: structurally, by the Avro specification's resolution rules (added fields
need a default, a removed field must have had one, only the spec's type promotions), and in
practice, by writing a sample record with the old schema and reading it with fastavro under the
new one.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro

__all__ = ["PairResult", "SchemaFile", "check_directory", "check_pair", "load_schemas"]

# Writer type -> reader types it may be read as (Avro 1.11 specification, "Schema Resolution").
_PROMOTIONS: dict[str, set[str]] = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "double": {"double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


@dataclass(frozen=True)
class SchemaFile:
    """One ``.avsc`` file: its record name, ``dlrw.version`` and JSON form."""

    name: str
    version: int
    path: Path
    raw: dict[str, Any]


@dataclass(frozen=True)
class PairResult:
    """The verdict on one version and its predecessor; ``problems`` empty means compatible."""

    name: str
    old: int
    new: int
    problems: tuple[str, ...]

    @property
    def compatible(self) -> bool:
        return not self.problems

    def line(self) -> str:
        """One line for the terminal."""
        verdict = "compatible" if self.compatible else "INCOMPATIBLE: " + "; ".join(self.problems)
        return f"{self.name} v{self.old} -> v{self.new}: {verdict}"


def load_schemas(directory: Path) -> dict[str, list[SchemaFile]]:
    """The schemas in ``directory`` by record name, oldest version first."""
    found: dict[str, list[SchemaFile]] = {}
    for path in sorted(directory.glob("*.avsc")):
        raw = json.loads(path.read_text())
        version = int(raw["dlrw.version"])
        found.setdefault(raw["name"], []).append(SchemaFile(raw["name"], version, path, raw))
    for versions in found.values():
        versions.sort(key=lambda s: s.version)
    return found


def check_directory(directory: Path) -> list[PairResult]:
    """Every version in ``directory`` checked against its predecessor."""
    results = []
    for name, versions in sorted(load_schemas(directory).items()):
        for old, new in itertools.pairwise(versions):
            problems = check_pair(old.raw, new.raw)
            if old.version == new.version:
                problems = [f"two files claim version {new.version}", *problems]
            results.append(PairResult(name, old.version, new.version, tuple(problems)))
    return results


def check_pair(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` cannot read data written with ``old`` (empty when it can)."""
    problems = _Resolver().check(old, new, new.get("name", "record"))
    if problems:
        return problems
    try:
        _resolve_sample(old, new)
    except Exception as exc:  # fastavro raises many types when resolution fails
        return [f"fastavro cannot read an old record with the new schema: {exc}"]
    return []


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema["type"])
    return str(schema)


class _Resolver:
    """The specification's rules, walking writer (old) and reader (new) schemas together."""

    def __init__(self) -> None:
        self.old_names: dict[str, Any] = {}
        self.new_names: dict[str, Any] = {}

    def _named(self, schema: Any, names: dict[str, Any]) -> Any:
        if isinstance(schema, dict) and "name" in schema:
            names.setdefault(schema["name"], schema)
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return names.get(schema, schema)
        return schema

    def check(self, old: Any, new: Any, where: str) -> list[str]:
        old = self._named(old, self.old_names)
        new = self._named(new, self.new_names)
        if isinstance(old, list):
            # Every branch the old schema may have written must be readable.
            problems = []
            for branch in old:
                problems += self._to_reader(branch, new, where)
            return problems
        return self._to_reader(old, new, where)

    def _to_reader(self, old: Any, new: Any, where: str) -> list[str]:
        old = self._named(old, self.old_names)
        new = self._named(new, self.new_names)
        if isinstance(new, list):
            for branch in new:
                if not self._single(old, branch, where):
                    return []
            return [f"{where}: no branch of the new union reads old type {_type_name(old)}"]
        return self._single(old, new, where)

    def _single(self, old: Any, new: Any, where: str) -> list[str]:
        old = self._named(old, self.old_names)
        new = self._named(new, self.new_names)
        old_type, new_type = _type_name(old), _type_name(new)
        if isinstance(old, list):
            return self.check(old, new, where)
        if old_type in _PRIMITIVES or new_type in _PRIMITIVES:
            if new_type in _PROMOTIONS.get(old_type, {old_type}):
                return []
            return [f"{where}: type {old_type} cannot be read as {new_type}"]
        if old_type != new_type:
            return [f"{where}: type {old_type} cannot be read as {new_type}"]
        if old_type == "record":
            return self._record(old, new, where)
        if old_type == "enum":
            missing = [s for s in old["symbols"] if s not in new["symbols"]]
            if missing and "default" not in new:
                return [f"{where}: enum symbol(s) {', '.join(missing)} removed without a default"]
            return []
        if old_type == "array":
            return self.check(old["items"], new["items"], f"{where}[]")
        if old_type == "map":
            return self.check(old["values"], new["values"], f"{where}{{}}")
        if old_type == "fixed" and old["size"] != new["size"]:
            return [f"{where}: fixed size {old['size']} changed to {new['size']}"]
        return []

    def _record(self, old: dict[str, Any], new: dict[str, Any], where: str) -> list[str]:
        problems = []
        old_fields = {f["name"]: f for f in old["fields"]}
        for field in new["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            match = next((old_fields[n] for n in names if n in old_fields), None)
            if match is None:
                if "default" not in field:
                    problems.append(f"{where}.{field['name']}: added without a default")
                continue
            problems += self.check(match["type"], field["type"], f"{where}.{field['name']}")
        kept = {n for f in new["fields"] for n in [f["name"], *f.get("aliases", [])]}
        for name, field in old_fields.items():
            if name not in kept and "default" not in field:
                problems.append(f"{where}.{name}: removed, and it had no default")
        return problems


def _sample(schema: Any, names: dict[str, Any]) -> Any:
    """A value of ``schema`` with every optional part filled in."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"] or ["null"]
        return _sample(branches[0], names)
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        schema = names[schema]
    if isinstance(schema, dict):
        if "name" in schema:
            names.setdefault(schema["name"], schema)
        kind = schema["type"]
        if schema.get("logicalType") == "timestamp-millis":
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        if kind == "record":
            return {f["name"]: _sample(f["type"], names) for f in schema["fields"]}
        if kind == "enum":
            return schema["symbols"][0]
        if kind == "array":
            return [_sample(schema["items"], names)]
        if kind == "map":
            return {"k": _sample(schema["values"], names)}
        if kind == "fixed":
            return b"\x00" * schema["size"]
        return _sample(kind, names)
    return {
        "null": None,
        "boolean": True,
        "int": 7,
        "long": 7,
        "float": 1.5,
        "double": 1.5,
        "bytes": b"x",
        "string": "x",
    }[schema]


def _resolve_sample(old: dict[str, Any], new: dict[str, Any]) -> None:
    writer = fastavro.parse_schema(copy.deepcopy(old))
    reader = fastavro.parse_schema(copy.deepcopy(new))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer, _sample(old, {}))
    buffer.seek(0)
    fastavro.schemaless_reader(buffer, writer, reader)
    if buffer.tell() != len(buffer.getvalue()):
        raise ValueError("the new schema did not read the whole old record")
