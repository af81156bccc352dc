"""Structured-output validators: pydantic models and JSON schemas, text or tool calls."""

from __future__ import annotations

import pytest

import streamkit as sk
from streamkit.batch import structured
from streamkit.batch.structured import answer_json, check_schema
from streamkit.events import Finish, StreamStart, TextDelta, ToolCallDelta, ToolCallEnd

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
    "additionalProperties": False,
}


def text_message(text: str) -> sk.Message:
    return sk.build_message([StreamStart("m1", "x"), TextDelta(text), Finish("stop", "stop")])


def tool_message(arguments: str) -> sk.Message:
    return sk.build_message(
        [
            StreamStart("m1", "x"),
            ToolCallDelta(0, id="c1", name="person", arguments=arguments),
            ToolCallEnd(0),
            Finish("tool_calls", "tool_calls"),
        ]
    )


def test_json_is_taken_from_a_fence_or_from_the_first_tool_call() -> None:
    assert answer_json(text_message('```json\n{"name": "Ada"}\n```')) == '{"name": "Ada"}'
    assert answer_json(tool_message('{"name": "Ada"}')) == '{"name": "Ada"}'


def test_a_json_schema_accepts_a_conforming_answer_and_names_what_is_wrong() -> None:
    validate = structured(SCHEMA)
    assert validate(text_message('{"name": "Ada", "age": 36}')) == {"name": "Ada", "age": 36}
    with pytest.raises(ValueError, match="name"):
        validate(text_message('{"age": 36}'))
    with pytest.raises(ValueError, match="not valid JSON"):
        validate(text_message("Ada, 36"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": 1}, "$.name must be of type string"),
        ({"name": "x", "age": True}, "$.age must be of type integer"),
        ({"name": "x", "extra": 1}, "unexpected properties ['extra']"),
        ([], "$ must be of type object"),
    ],
)
def test_the_built_in_schema_subset(value: object, problem: str) -> None:
    assert problem in (check_schema(value, SCHEMA) or "")


def test_a_pydantic_model_gives_its_instance() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        name: str
        age: int

    validate = structured(Person)
    person = validate(tool_message('{"name": "Ada", "age": 36}'))
    assert person == Person(name="Ada", age=36)
    with pytest.raises(ValueError, match="age"):
        validate(text_message('{"name": "Ada"}'))


def test_anything_else_is_not_a_schema() -> None:
    with pytest.raises(TypeError):
        structured(42)
