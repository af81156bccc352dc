"""Shared by the format decoders' property tests: arbitrary JSON, put anywhere in a payload."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

__all__ = ["DELETE", "JSON", "json_paths", "mutate"]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Put in place of a value: delete it instead.
DELETE = object()


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (the root included)."""
    paths = [prefix]
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        paths.extend(json_paths(inner, (*prefix, key)))
    return paths


def mutate(template: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``template`` with the value at ``path`` replaced (or deleted)."""
    copy = orjson.loads(orjson.dumps(template))
    if not path:
        return value
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy
