"""iac.schema: the strict checks of the config's models, every problem at its key, in the words users know."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from iac.schema import Before, Bounds, Check, Invalid, Model, SchemaError, Tagged, field, fields_of, validate


def _lowercase(value: str) -> str:
    if value != value.lower():
        raise Invalid(f"must be lowercase: write {value.lower()!r}")
    return value


def _trimmed(value: object, context: list[str] | None) -> object:
    if context is not None and isinstance(value, str):
        context.append(value)
    return value.strip() if isinstance(value, str) else value


class Cat(Model):
    kind: Literal["cat"]
    lives: Annotated[int, Bounds(ge=1, le=9)] = 9


class Dog(Model):
    kind: Literal["dog"]
    name: Annotated[str, Check(_lowercase)]


class Inner(Model):
    flag: bool = False


class Outer(Model):
    name: Annotated[str, Check(_lowercase)]
    tags: list[Annotated[str, Before(_trimmed)]] = field(default_factory=list)
    inner: Inner = Inner()
    maybe: Inner | None = None
    mode: Literal["read", "read-write"] = "read"
    pets: list[Annotated[Cat | Dog, Tagged("kind")]] = field(default_factory=list)


def problems(data: object) -> list[tuple[tuple[object, ...], str, str]]:
    with pytest.raises(SchemaError) as raised:
        validate(Outer, data)
    return [(p["loc"], p["type"], p["msg"]) for p in raised.value.problems]


def test_a_valid_mapping_becomes_the_frozen_model_with_its_defaults() -> None:
    seen: list[str] = []
    outer = validate(Outer, {"name": "x", "tags": [" a ", "b"], "pets": [{"kind": "dog", "name": "rex"}]}, seen)
    assert outer == Outer(name="x", tags=["a", "b"], pets=[Dog(kind="dog", name="rex")])
    assert outer.inner == Inner() and outer.maybe is None and outer.mode == "read"
    assert seen == [" a ", "b"]  # the context reaches every Before check, once per value
    with pytest.raises(AttributeError, match="Outer is frozen"):
        outer.name = "y"  # type: ignore[misc]
    assert repr(Dog(kind="dog", name="rex")) == "Dog(kind='dog', name='rex')"
    assert Outer(name="x").tags is not Outer(name="x").tags  # a default list is made for each record
    with pytest.raises(TypeError, match="missing the field 'name'"):
        Dog(kind="dog")  # type: ignore[call-arg]
    assert list(fields_of(Outer)) == ["name", "tags", "inner", "maybe", "mode", "pets"]


def test_values_are_not_coerced() -> None:
    assert problems({"name": "x", "inner": {"flag": "yes"}}) == [
        (("inner", "flag"), "bool_type", "Input should be a valid boolean")
    ]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": True}]}) == [
        (("pets", 0, "cat", "lives"), "int_type", "Input should be a valid integer")
    ]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": "3"}]})[0][1] == "int_type"
    assert problems({"name": 3})[0][1:] == ("string_type", "Input should be a valid string")
    assert problems({"name": "x", "tags": ("a",)})[0][1:] == ("list_type", "Input should be a valid list")


def test_every_problem_is_reported_at_once_fields_first_then_unknown_keys() -> None:
    found = problems({"nme": "x", "inner": {"flag": 1, "extra": 2}, "mode": "rw", 5: 0})
    assert found == [
        (("name",), "missing", "Field required"),
        (("inner", "flag"), "bool_type", "Input should be a valid boolean"),
        (("inner", "extra"), "extra_forbidden", "Extra inputs are not permitted"),
        (("mode",), "literal_error", "Input should be 'read' or 'read-write'"),
        (("nme",), "extra_forbidden", "Extra inputs are not permitted"),
        ((5,), "invalid_key", "Keys should be strings"),
    ]


def test_checks_bounds_and_nested_models() -> None:
    assert problems({"name": "X"}) == [(("name",), "iac", "must be lowercase: write 'x'")]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": 10}]}) == [
        (("pets", 0, "cat", "lives"), "less_than_equal", "Input should be less than or equal to 9")
    ]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": 0}]})[0][2] == (
        "Input should be greater than or equal to 1"
    )
    assert problems({"name": "x", "inner": None})[0][1:] == (
        "model_type",
        "Input should be a valid dictionary or instance of Inner",
    )
    assert validate(Outer, {"name": "x", "maybe": None}).maybe is None


def test_a_tagged_union_names_its_tag_or_why_there_is_none() -> None:
    assert problems({"name": "x", "pets": [{"name": "rex"}]}) == [
        (("pets", 0), "union_tag_not_found", "Unable to extract tag using discriminator 'kind'")
    ]
    [(where, kind, message)] = problems({"name": "x", "pets": [{"kind": "cow"}]})
    assert (where, kind) == (("pets", 0), "union_tag_invalid")
    assert message == "Input tag 'cow' found using 'kind' does not match any of the expected tags: 'cat', 'dog'"
    assert problems({"name": "x", "pets": ["cat"]})[0][1] == "model_attributes_type"
    assert problems({"name": "x", "pets": [{"kind": "dog"}]}) == [
        (("pets", 0, "dog", "name"), "missing", "Field required")
    ]


def _refuse(value: object, context: object) -> object:
    raise Invalid("is no entry", "entry", {"value": value})


class Entries(Model):
    items: list[Annotated[str, Before(_refuse)]]


def test_a_before_check_may_refuse_a_value_with_its_own_kind_and_details() -> None:
    with pytest.raises(SchemaError) as raised:
        validate(Entries, {"items": [1, "b"]})
    assert [(p["loc"], p["type"], p["ctx"]) for p in raised.value.problems] == [
        (("items", 0), "entry", {"value": 1}),
        (("items", 1), "entry", {"value": "b"}),
    ]
