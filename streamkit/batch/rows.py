"""Rows and their keys: pulling rows lazily, naming each one, fingerprinting its request.

A row is anything the caller's ``request`` function can turn into a chat body: a dict, a
dataclass, a DataFrame row. Its key names it in the result store, so it must be stable across
runs (an ``id`` column, not a position). The request hash fingerprints what is asked, so a row
whose prompt, model or options changed is asked again instead of being served a stale answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

import orjson

from streamkit.stats import estimate_tokens

__all__ = ["KeySpec", "aiter_rows", "estimate_request_tokens", "request_hash", "row_key"]

Row = TypeVar("Row")
#: How to find a row's key: a field/column name, or a function of the row.
KeySpec: TypeAlias = str | Callable[[Any], object]

#: Reserved for the answer when a request names no ``max_tokens`` (the provider's own default
#: is unknown here; a generous guess keeps a tokens/min limit from being overrun).
DEFAULT_MAX_TOKENS = 4096


def row_key(row: object, key: KeySpec) -> str:
    """The key of ``row``: ``row[key]`` (or ``row.key``) for a name, ``key(row)`` for a function.

    Numbers become their decimal text, so ``7`` and ``"7"`` are the same row.

    Raises:
        KeyError: the row has no such field.
        TypeError: the key is neither a string nor an integer.
    """
    if callable(key):
        value = key(row)
    elif isinstance(row, Mapping):
        if key not in row:
            raise KeyError(f"row has no key field {key!r} (fields: {sorted(map(str, row))})")
        value = row[key]
    elif hasattr(row, key):
        value = getattr(row, key)
    else:
        raise KeyError(f"row {type(row).__name__} has no key field {key!r}")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"a row key must be a str or an int, got {type(value).__name__}")
    return str(value)


def request_hash(body: Mapping[str, Any], *, format: str = "") -> str:
    """A short, stable fingerprint of a request body (keys sorted) and its wire format.

    ``stream`` and ``stream_options`` are left out: they change how the answer travels, not
    what it is.
    """
    significant = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    data = orjson.dumps([format, significant], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()[:32]


def estimate_request_tokens(body: Mapping[str, Any]) -> int:
    """What a request may cost in tokens: its input estimate plus its ``max_tokens``.

    The input is estimated from the JSON of its messages, system prompt and tools (one token per
    four characters), so it errs high; the limiter settles with the real usage afterwards.
    """
    parts = {k: body[k] for k in ("messages", "system", "tools", "input") if k in body}
    text = orjson.dumps(parts).decode()
    limit = body.get("max_tokens", body.get("max_completion_tokens", DEFAULT_MAX_TOKENS))
    out = limit if isinstance(limit, int) and not isinstance(limit, bool) else DEFAULT_MAX_TOKENS
    return estimate_tokens(text) + max(0, out)


async def aiter_rows(rows: Iterable[Row] | AsyncIterable[Row]) -> AsyncIterator[Row]:
    """Yield the rows of a sync or async iterable, one at a time, as they are asked for.

    Nothing is read ahead: a generator over a 10 GB file is read as the run goes.
    """
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row
