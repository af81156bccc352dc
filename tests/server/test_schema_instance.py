"""Schema instances: every generated value validates under its schema (checked by jsonschema),
and the same schema and seed always give the same value."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any, Literal

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from streamkit.server.schema_instance import SchemaError, instance_for


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str = Field(min_length=3, max_length=40)
    number: int = Field(ge=1, le=999)


class Person(BaseModel):
    name: str
    born: date
    colour: Colour
    kind: Literal["adult", "child"]
    score: float = Field(gt=0, lt=1)
    tags: list[str] = Field(min_length=2, max_length=4)
    home: Address
    other_homes: list[Address]
    nickname: str | None = None
    friends: list[Person] = []


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object"},
    {"type": "string", "minLength": 30},
    {"type": "string", "maxLength": 2},
    {"type": "string", "format": "email"},
    {"type": "integer", "minimum": 10, "maximum": 12},
    {"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 7},
    {"type": "integer", "multipleOf": 7, "minimum": 20},
    {"type": "number", "minimum": -1.5, "maximum": -1.25},
    {"type": "number", "maximum": -1000},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 5},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "uniqueItems": True, "minItems": 3},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
    {"type": ["null", "integer"]},
    {"const": {"fixed": True}},
    {"enum": ["only"]},
    {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 4}]},
    {"oneOf": [{"type": "integer", "minimum": 3, "maximum": 3}, {"type": "string"}]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]},
        ]
    },
    {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x"],
        "additionalProperties": False,
        "maxProperties": 1,
    },
    {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node",
    },
    Person.model_json_schema(),
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
@pytest.mark.parametrize("seed", [0, 1, "conversation:3"])
def test_instances_validate_and_repeat(schema: dict[str, Any], seed: int | str) -> None:
    value = instance_for(schema, seed=seed)
    jsonschema.validate(value, schema)
    assert instance_for(schema, seed=seed) == value


def test_pydantic_accepts_the_instance_of_its_own_schema() -> None:
    person = Person.model_validate(instance_for(Person.model_json_schema(), seed=5))
    assert person.home.number >= 1
    assert 2 <= len(person.tags) <= 4


def test_seeds_vary_the_choices() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10**6}}}
    assert len({instance_for(schema, seed=s)["n"] for s in range(20)}) > 1


@pytest.mark.parametrize(
    "schema",
    [
        {"enum": []},
        {"type": "integer", "minimum": 5, "maximum": 4},
        {"$ref": "#/$defs/missing"},
        {"$ref": "https://example.com/schema.json"},
    ],
)
def test_unsatisfiable_or_unreadable_schemas_are_schema_errors(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        instance_for(schema)


_leaf = st.one_of(
    st.just({"type": "string"}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.builds(
        lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
        st.integers(-1000, 1000),
        st.integers(0, 50),
    ),
    st.builds(
        lambda lo, span: {"type": "number", "minimum": lo, "maximum": lo + span},
        st.floats(-1e6, 1e6, allow_nan=False),
        st.floats(0, 10, allow_nan=False),
    ),
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).map(lambda e: {"enum": e}),
    st.builds(
        lambda lo, span: {"type": "string", "minLength": lo, "maxLength": lo + span},
        st.integers(0, 30),
        st.integers(0, 10),
    ),
)
_schemas = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.builds(
            lambda items, lo: {"type": "array", "items": items, "minItems": lo},
            children,
            st.integers(0, 4),
        ),
        st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=4).flatmap(
            lambda props: st.builds(
                lambda required: {
                    "type": "object",
                    "properties": props,
                    "required": required,
                    "additionalProperties": False,
                },
                st.sampled_from([[], sorted(props)]),
            )
        ),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
    ),
    max_leaves=12,
)


@given(_schemas, st.integers(0, 2**32))
def test_any_generated_schema_gets_a_valid_instance(schema: dict[str, Any], seed: int) -> None:
    jsonschema.validate(instance_for(schema, seed=seed), schema)
