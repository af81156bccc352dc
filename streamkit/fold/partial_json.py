"""Best-effort parsing of a JSON prefix: tool-call arguments that are still streaming.

``parse_partial_json('{"city": "Par')`` gives ``{"city": "Par"}``. Every result is a prefix of
the final value, so a display that shows it never has to take anything back. Pure; no Rx.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = ["parse_partial_json"]
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*+")
# A string whose closing quote may be missing. Each unit is one character or one whole escape; a
# surrogate escape counts only as a complete high-low pair, so the match stops before an escape
# that is cut short (``\``, ``\u00``, ``\ud83d`` without its low half).
_STRING: Final = re.compile(
    r'"(?:[^"\\\x00-\x1f]++'
    r'|\\["\\/bfnrt]'
    r"|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4}"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r')*+(")?'
)
_NUMBER_CHARS: Final = re.compile(r"[-+0-9.eE]+")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS: Final[Mapping[str, tuple[str, Any]]] = {
    "t": ("true", True),
    "f": ("false", False),
    "n": ("null", None),
}
_NOTHING: Final = object()  # no value could be read here

# What the parser expects next.
_VALUE: Final = 0  # a value (after ``:`` or ``,`` in an array, or at the top)
_VALUE_OR_CLOSE: Final = 1  # a value or ``]`` (just after ``[``)
_KEY: Final = 2  # a key (after ``,`` in an object)
_KEY_OR_CLOSE: Final = 3  # a key or ``}`` (just after ``{``)
_AFTER_VALUE: Final = 4  # ``,`` or the closing bracket


def parse_partial_json(text: str) -> Any:
    """Parse the beginning of a JSON text as far as it goes, closing what is still open.

    Meant for tool-call arguments that are still streaming: ``{"city": "Par`` gives
    ``{"city": "Par"}``. The rules keep every result a prefix of the final value, so a display
    never shows something that later changes into something else:

    - an open string is closed after its last complete character; an escape cut short (``\\``,
      ``\\u00``, or the first half of a surrogate pair such as ``\\ud83d``) is left out;
    - open arrays and objects are closed; a key without a value (``{"a": 1, "b"``, ``{"b":``) is
      left out, and so is a trailing comma;
    - a number at the very end is left out, since more digits may follow (``[1, 2`` gives
      ``[1]``); so is an unfinished ``true``, ``false`` or ``null``.

    Parsing stops at the first character that cannot continue valid JSON, and what was read
    before it is returned, as at the end of the text. Nesting depth is not limited by Python's
    recursion limit: the parser keeps its own stack.

    Args:
        text: the JSON text received so far.

    Returns:
        The value read so far, or ``None`` if no value could be read (``""``, ``"tr"``, ``"12"``).
    """
    root: Any = None
    stack: list[Any] = []  # the open arrays and objects, innermost last
    key = ""  # the key whose value comes next, in the innermost object
    expect = _VALUE
    end = len(text)
    pos = 0

    def attach(value: Any) -> None:
        nonlocal root
        if not stack:
            root = value
        elif isinstance(stack[-1], list):
            stack[-1].append(value)
        else:
            stack[-1][key] = value

    while True:
        pos = _skip_whitespace(text, pos)
        if pos >= end:
            break
        char = text[pos]
        if expect == _AFTER_VALUE:
            if not stack:
                break  # a complete value; whatever follows is not ours to read
            in_array = isinstance(stack[-1], list)
            if char == ",":
                expect = _VALUE if in_array else _KEY
            elif char == ("]" if in_array else "}"):
                stack.pop()
            else:
                break
            pos += 1
        elif expect in (_KEY, _KEY_OR_CLOSE):
            if char == "}" and expect == _KEY_OR_CLOSE:
                stack.pop()
                expect = _AFTER_VALUE
                pos += 1
                continue
            if char != '"':
                break
            name, pos, complete = _string(text, pos)
            if not complete:
                break
            pos = _skip_whitespace(text, pos)
            if pos >= end or text[pos] != ":":
                break
            key = name
            expect = _VALUE
            pos += 1
        else:
            if char == "]" and expect == _VALUE_OR_CLOSE:
                stack.pop()
                expect = _AFTER_VALUE
                pos += 1
            elif char in "[{":
                container: Any = [] if char == "[" else {}
                attach(container)
                stack.append(container)
                expect = _VALUE_OR_CLOSE if char == "[" else _KEY_OR_CLOSE
                pos += 1
            else:
                value, pos, complete = _scalar(text, pos)
                if value is _NOTHING:
                    break
                attach(value)
                if not complete:
                    break
                expect = _AFTER_VALUE
    return root


def _skip_whitespace(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def _string(text: str, pos: int) -> tuple[Any, int, bool]:
    """Read the string at ``pos``: (value, end, whether its closing quote was there)."""
    match = _STRING.match(text, pos)
    if match is None:
        return _NOTHING, pos, False
    complete = match.group(1) is not None
    literal = match.group() if complete else match.group() + '"'
    try:
        return orjson.loads(literal), match.end(), complete
    except orjson.JSONDecodeError:  # not expected: the pattern admits only valid units
        return _NOTHING, pos, False


def _scalar(text: str, pos: int) -> tuple[Any, int, bool]:
    """Read the string, number or literal at ``pos``: (value or _NOTHING, end, complete)."""
    char = text[pos]
    if char == '"':
        return _string(text, pos)
    if char in _LITERALS:
        word, value = _LITERALS[char]
        if text.startswith(word, pos):
            return value, pos + len(word), True
        return _NOTHING, pos, False
    match = _NUMBER_CHARS.match(text, pos)
    if match is None or match.end() == len(text) or not _NUMBER.fullmatch(match.group()):
        return _NOTHING, pos, False
    try:
        return orjson.loads(match.group()), match.end(), True
    except orjson.JSONDecodeError:  # e.g. 1e999, out of a double's range
        return _NOTHING, pos, False
