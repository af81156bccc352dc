"""Deterministic JSON values that validate against a JSON Schema: tool arguments and structured
output for the embedded server.

``instance_for(schema, seed=...)`` walks the schema and builds one value that satisfies it: every
``required`` property (and the optional ones, so answers look full), ``enum`` / ``const``,
``type`` (one or a list), nested objects and arrays with their ``minItems`` / ``maxItems``,
string lengths and common ``format`` s, number ranges with ``multipleOf``, ``anyOf`` / ``oneOf``
(the first branch), ``allOf`` (branches merged), and ``$ref`` into ``$defs`` / ``definitions``
(as pydantic writes them). The same schema and seed always give the same value. Pure: no I/O.

Not supported (the value may then not validate): ``pattern``, ``not``, ``if`` / ``then``,
``dependentRequired``, ``patternProperties``, ``contains``, remote ``$ref``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["SchemaError", "instance_for"]

_WORDS: Final = (
    "river",
    "Zürich",
    "harbour",
    "lantern",
    "meadow",
    "signal",
    "orchard",
    "compass",
    "café",
    "summit",
)
_FORMATS: Final = {
    "date": "2024-05-17",
    "date-time": "2024-05-17T09:30:00Z",
    "time": "09:30:00Z",
    "email": "ada@example.com",
    "uri": "https://example.com/rivers",
    "url": "https://example.com/rivers",
    "uuid": "3f2b8c1e-7d4a-4e5f-9a6b-0c1d2e3f4a5b",
    "hostname": "example.com",
    "ipv4": "192.0.2.7",
    "ipv6": "2001:db8::7",
}
#: How deep ``$ref`` cycles and nesting may go before optional parts are left out.
_MAX_DEPTH: Final = 8


class SchemaError(ValueError):
    """The schema cannot be satisfied or read (an unresolvable ``$ref``, an empty ``enum``)."""


def instance_for(schema: Any, *, seed: int | str = 0) -> Any:
    """A value valid under ``schema``, the same every time for the same schema and ``seed``.

    Args:
        schema: a JSON Schema (a mapping, or ``True`` for "anything").
        seed: varies the choices (enum members, words, numbers) between calls.

    Raises:
        SchemaError: a ``$ref`` that does not resolve, or a schema no value can satisfy in the
            supported subset (an empty ``enum``, ``minimum`` above ``maximum``).
    """
    key = hashlib.sha256(str(seed).encode()).digest()
    root = schema if isinstance(schema, Mapping) else {}
    return _Builder(root, random.Random(int.from_bytes(key[:8], "big"))).build(schema, 0)


class _Builder:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self._root = root
        self._rng = rng

    def build(self, schema: Any, depth: int) -> Any:
        if schema is True or schema is None or not isinstance(schema, Mapping):
            return self._word()
        schema = self._resolve(schema)
        if "allOf" in schema:
            schema = self._merge(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise SchemaError("an empty enum admits no value")
            return self._rng.choice(options)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if branches:
                # Prefer a branch that is not "null", so answers carry content.
                usable = [b for b in branches if self._resolve(b).get("type") != "null"]
                return self.build((usable or branches)[0], depth + 1)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._word()

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema, Mapping) and "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise SchemaError(f"only local $ref values are supported, got {ref!r}")
            target: Any = self._root
            for part in ref.lstrip("#").strip("/").split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise SchemaError(f"$ref {ref!r} does not resolve")
                target = target[part]
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if isinstance(target, Mapping) else siblings
            seen += 1
            if seen > _MAX_DEPTH * 4:
                raise SchemaError(f"$ref {ref!r} refers to itself without end")
        return schema

    def _merge(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self._resolve(part)
            if "allOf" in part:
                part = self._merge(part)
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def _type(schema: Mapping[str, Any]) -> str | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            concrete = [k for k in kind if k != "null"]
            kind = concrete[0] if concrete else "null"
        if kind is None:
            if "properties" in schema or "required" in schema:
                return "object"
            if "items" in schema:
                return "array"
        return kind if isinstance(kind, str) else None

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = list(dict.fromkeys(schema.get("required") or ()))
        value: dict[str, Any] = {}
        for name in required:
            value[name] = self.build(properties.get(name, True), depth + 1)
        if depth < _MAX_DEPTH:
            limit = schema.get("maxProperties")
            for name, sub in properties.items():
                if limit is not None and len(value) >= limit:
                    break
                if name not in value:
                    value[name] = self.build(sub, depth + 1)
        return value

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", True)
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, len(prefix), 0 if depth >= _MAX_DEPTH else 2)
        if high is not None:
            count = min(count, int(high))
        values: list[Any] = []
        unique = bool(schema.get("uniqueItems"))
        for n in range(count):
            sub = prefix[n] if n < len(prefix) else items
            value = self.build(sub, depth + 1)
            attempts = 0
            while unique and value in values and attempts < 20:
                value = self.build(sub, depth + 1)
                attempts += 1
            values.append(value)
        return values

    def _word(self) -> str:
        return self._rng.choice(_WORDS)

    def _string(self, schema: Mapping[str, Any]) -> str:
        known = _FORMATS.get(str(schema.get("format", "")))
        if known is None:
            known = " ".join(self._word() for _ in range(self._rng.randint(1, 3)))
        text = known
        low = int(schema.get("minLength", 0))
        while len(text) < low:
            text += " " + self._word()
        high = schema.get("maxLength")
        return text[: int(high)] if high is not None else text

    def _bounds(self, schema: Mapping[str, Any], step: float) -> tuple[float, float]:
        low = float(schema.get("minimum", -1e9 if "maximum" in schema else 0))
        high = float(schema.get("maximum", low + 100))
        if "exclusiveMinimum" in schema:
            low = max(low, float(schema["exclusiveMinimum"]) + step)
        if "exclusiveMaximum" in schema:
            high = min(high, float(schema["exclusiveMaximum"]) - step)
        if "maximum" in schema and "minimum" not in schema and "exclusiveMinimum" not in schema:
            low = high - 100
        if low > high:
            raise SchemaError(f"no number lies between {low:g} and {high:g}")
        return low, high

    def _integer(self, schema: Mapping[str, Any]) -> int:
        low, high = self._bounds(schema, 1)
        lo, hi = int(-(-low // 1)), int(high // 1)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int) and multiple > 0:
            first = -(-lo // multiple) * multiple
            if first > hi:
                raise SchemaError(f"no multiple of {multiple} lies between {lo} and {hi}")
            steps = (hi - first) // multiple
            return first + multiple * self._rng.randint(0, min(steps, 50))
        if lo > hi:
            raise SchemaError(f"no integer lies between {low:g} and {high:g}")
        return self._rng.randint(lo, min(hi, lo + 100))

    def _number(self, schema: Mapping[str, Any]) -> float:
        low, high = self._bounds(schema, 1e-6)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int | float) and multiple > 0:
            first = -(-low // multiple) * multiple
            return float(round(first / multiple) * multiple)
        value = low + (min(high, low + 100) - low) * self._rng.random()
        rounded = round(value, 2)  # answers read better with short numbers, when they fit
        return rounded if low <= rounded <= high else value
