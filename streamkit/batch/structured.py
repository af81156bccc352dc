"""Structured output for a batch: each answer validated, an invalid one asked again.

``structured(Model)`` or ``structured({"type": "object", ...})`` makes the ``validate=``
function of ``sk.batch``. It takes the answer's first tool call's arguments when there is one,
else its text (a JSON object, optionally inside a ```json fence), and validates it:

- a pydantic model (anything with ``model_validate_json``) gives the model instance;
- a JSON schema dict gives the parsed JSON, checked with ``jsonschema`` when it is installed,
  else with a small built-in subset (``type``, ``properties``, ``required``, ``enum``,
  ``items``, ``additionalProperties: false``) that covers what models are usually asked for.

A failure raises ``ValueError`` whose message says what is wrong; the batch shows it to the
model with its answer and asks again, a bounded number of times (as instructor does).
pydantic and jsonschema are imported only when used.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from streamkit.message import Message

__all__ = ["Validator", "answer_json", "structured"]

#: Checks one final message; returns the structured value, raises ``ValueError`` if invalid.
Validator = Callable[[Message], Any]

_FENCE = re.compile(r"^```(?:json)?\s*\n(?P<body>.*)\n```\s*$", re.DOTALL)


def answer_json(message: Message) -> str:
    """The JSON text of an answer: its first tool call's arguments, else its text unfenced."""
    if message.tool_calls:
        return message.tool_calls[0].raw_arguments
    text = message.text.strip()
    fenced = _FENCE.match(text)
    return fenced.group("body") if fenced else text


def structured(schema: Any) -> Validator:
    """A validator for a pydantic model class or a JSON schema dict (see the module docstring).

    Raises:
        TypeError: ``schema`` is neither.
    """
    if hasattr(schema, "model_validate_json"):
        return _pydantic(schema)
    if isinstance(schema, Mapping):
        return _json_schema(schema)
    raise TypeError(f"schema must be a pydantic model or a JSON schema dict, got {schema!r}")


def _pydantic(model: Any) -> Validator:
    def validate(message: Message) -> Any:
        try:
            return model.model_validate_json(answer_json(message))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ValueError(_short(str(exc))) from exc

    return validate


def _json_schema(schema: Mapping[str, Any]) -> Validator:
    try:
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        jsonschema = None

    def validate(message: Message) -> Any:
        try:
            value = orjson.loads(answer_json(message))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from exc
        if jsonschema is not None:
            try:
                jsonschema.validate(value, dict(schema))
            except jsonschema.ValidationError as exc:
                raise ValueError(_short(str(exc.message))) from exc
        else:
            problem = check_schema(value, schema)
            if problem:
                raise ValueError(problem)
        return value

    return validate


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def check_schema(value: Any, schema: Mapping[str, Any], path: str = "$") -> str | None:
    """The first way ``value`` breaks the built-in schema subset, or None when it conforms."""
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _TYPES:
        ok = isinstance(value, _TYPES[kind])
        if kind in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            return f"{path} must be of type {kind}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} must be one of {schema['enum']!r}, got {value!r}"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return f"{path} is missing the required property {name!r}"
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(properties))
            if extra:
                return f"{path} has unexpected properties {extra!r}"
        for name, sub in properties.items():
            if name in value and isinstance(sub, Mapping):
                problem = check_schema(value[name], sub, f"{path}.{name}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            problem = check_schema(item, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    return None


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
