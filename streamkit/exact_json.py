"""JSON text to values and back, exactly: orjson where it can, the standard library where not.

orjson is the fast path for every event. It cannot represent two things real streams carry:

- integers beyond 64 bits: orjson reads them as floats (losing digits) and cannot write them;
- a lone UTF-16 surrogate escape (``"\\ud83d"``): a server that splits an escaped surrogate
  pair across two chunks sends one half in each, which orjson rejects.

``loads`` falls back to the standard library only then (a run of 19 or more digits in the text,
or text orjson refuses), so the common case costs one regular-expression scan. ``dumps`` falls
back only when orjson raises. Both reject ``NaN`` and ``Infinity``, which JSON does not have.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

__all__ = ["JSONDecodeError", "dumps", "join_surrogates", "loads"]

#: Raised by ``loads`` for text that is not JSON (a ``ValueError``, as orjson's and json's are).
JSONDecodeError = json.JSONDecodeError

# 2**63 has 19 digits: a shorter run of digits always fits orjson's 64-bit integers.
_LONG_DIGITS: Final = re.compile(r"[0-9]{19,}")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes, *, lone_surrogates: bool = False) -> Any:
    """Parse JSON text exactly: big integers stay ``int``.

    Args:
        text: the JSON text.
        lone_surrogates: accept a lone surrogate escape, kept as that code point. Only for the
            envelope of a streamed piece (a chunk, an event), whose halves the fold joins: a
            complete value (tool arguments) with one is not valid text.

    Raises:
        JSONDecodeError: ``text`` is not JSON (or has a lone surrogate escape, unless allowed).
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if not lone_surrogates:
            raise
        return _slow_loads(text, exc)
    if _LONG_DIGITS.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        return _slow_loads(text, None)  # maybe an integer orjson turned into a float
    return value


def _slow_loads(text: str | bytes, error: orjson.JSONDecodeError | None) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        if error is not None:
            raise error from None  # orjson's message names the position as well
        raise JSONDecodeError(str(exc), text if isinstance(text, str) else "", 0) from exc


def dumps(value: Any) -> str:
    """``value`` as compact JSON text; exact for big integers and lone surrogates.

    Raises:
        TypeError: ``value`` holds something JSON cannot (a set, an object).
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)


def join_surrogates(text: str) -> str:
    """``text`` with each pair of surrogate halves made the one character they encode.

    Halves that arrived in separate pieces (see ``loads``) are two code points once joined; a
    lone half is kept as it is.
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
