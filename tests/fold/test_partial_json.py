"""The partial-JSON parser: tool-call arguments still streaming, parsed as far as they go."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.fold.partial_json import parse_partial_json
from tests.strategies import JSON_VALUES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  \n", None),
        # objects, cut at every stage of a member
        ("{", {}),
        ('{"', {}),
        ('{"ci', {}),
        ('{"city"', {}),
        ('{"city" ', {}),
        ('{"city":', {}),
        ('{"city": ', {}),
        ('{"city": "', {"city": ""}),
        ('{"city": "Pa', {"city": "Pa"}),
        ('{"city": "Paris"', {"city": "Paris"}),
        ('{"city": "Paris",', {"city": "Paris"}),
        ('{"city": "Paris", "d', {"city": "Paris"}),
        ('{"city": "Paris"}', {"city": "Paris"}),
        ("{}", {}),
        # arrays and trailing commas
        ("[", []),
        ("[]", []),
        ('["a", "b', ["a", "b"]),
        ('["a",', ["a"]),
        ('["a", ', ["a"]),
        ("[1, 2,", [1, 2]),
        ('{"a": 1, ', {"a": 1}),
        # nesting closes every open level
        ('{"a": [1, {"b": [', {"a": [1, {"b": []}]}),
        ('{"a": {"b": {"c": "d', {"a": {"b": {"c": "d"}}}),
        ('[[[["deep', [[[["deep"]]]]),
        ('{"a": [1, {"b": nu', {"a": [1, {}]}),
        ('{"a": {}, "b": [], "c": {"d": []}}', {"a": {}, "b": [], "c": {"d": []}}),
        # numbers: one that reaches the end may still grow
        ("[1, 2", [1]),
        ('{"n": 12', {}),
        ('{"n": 12}', {"n": 12}),
        ('{"n": 12 ', {"n": 12}),
        ('{"n": -', {}),
        ('{"n": -0.5', {}),
        ('{"n": 1.', {}),
        ('{"n": 1.5e', {}),
        ('{"n": 1.5e+', {}),
        ('{"n": 1.5e+3,', {"n": 1500.0}),
        ('{"a": -0.5, "b": 0, "c": 1E2}', {"a": -0.5, "b": 0, "c": 100.0}),
        ("42", None),
        ("42 ", 42),
        # true / false / null and their prefixes
        ("[t", []),
        ("[tr", []),
        ("[tru", []),
        ("[true", [True]),
        ('{"ok": f', {}),
        ('{"ok": fals', {}),
        ('{"ok": false', {"ok": False}),
        ('{"v": n', {}),
        ('{"v": nul', {}),
        ('{"v": null', {"v": None}),
        ("tr", None),
        ("true", True),
        ("fa", None),
        ("false", False),
        ("nul", None),
        ("null", None),
        # strings: after a backslash, inside \u escapes, between surrogate halves
        ('"ab', "ab"),
        ('"ab\\', "ab"),
        ('"ab\\n', "ab\n"),
        ('"say \\"hi\\', 'say "hi'),
        ('"say \\"hi\\"', 'say "hi"'),
        ('"back\\\\', "back\\"),
        ('"\\u', ""),
        ('"x\\u0', "x"),
        ('"x\\u00', "x"),
        ('"x\\u00e', "x"),
        ('"x\\u00e9', "xé"),
        ('"x\\u00E9y"', "xéy"),
        ('"\\ud83d', ""),
        ('"\\ud83d\\', ""),
        ('"\\ud83d\\u', ""),
        ('"\\ud83d\\ude0', ""),
        ('"\\ud83d\\ude00', "😀"),
        ('"a😀b', "a😀b"),
        ('{"k\\u00e9y": 1, "k\\u00', {"kéy": 1}),
        ('{"text": "line\\nbreak \\t tab \\/ slash', {"text": "line\nbreak \t tab / slash"}),
        # whatever cannot continue valid JSON ends the parse like the end of the text does
        ('{"a": 1} trailing', {"a": 1}),
        ('{"a" x', {}),
        ('{"a": x', {}),
        ("[1, ]", [1]),
        ('{"a": "raw\ncontrol"', {"a": "raw"}),
        ('{"a": 01}', {}),
        ('{"a": 1e999}', {}),
        ('"\\x"', ""),
        ("}", None),
    ],
)
def test_parse_partial_json(text: str, expected: Any) -> None:
    assert parse_partial_json(text) == expected


def test_parse_partial_json_keeps_its_own_stack_for_deep_nesting() -> None:
    value = parse_partial_json("[" * 50_000)
    depth = 0
    while value:
        assert len(value) == 1
        value, depth = value[0], depth + 1
    assert depth == 49_999


def _is_prefix_of(partial: Any, final: Any) -> bool:
    """Whether ``partial`` could grow into ``final``: what a preview must never contradict."""
    if isinstance(final, dict):
        return isinstance(partial, dict) and all(
            k in final and _is_prefix_of(v, final[k]) for k, v in partial.items()
        )
    if isinstance(final, list):
        return (
            isinstance(partial, list)
            and len(partial) <= len(final)
            and all(_is_prefix_of(p, f) for p, f in zip(partial, final, strict=False))
        )
    if isinstance(final, str):
        return isinstance(partial, str) and final.startswith(partial)
    return partial == final and type(partial) is type(final)


@given(
    value=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=4),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 1]),
)
def test_every_prefix_of_a_json_object_parses_to_a_prefix_of_its_value(
    value: dict[str, Any], ascii_only: bool, indent: int | None
) -> None:
    # ensure_ascii writes astral characters as surrogate-pair escapes: cuts fall inside them.
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    final = orjson.loads(text)
    assert parse_partial_json(text) == final
    for cut in range(len(text)):
        partial = parse_partial_json(text[:cut])
        assert partial is None or _is_prefix_of(partial, final), text[:cut]
