"""iac.config.schema: the strict checks of the config's models, every problem at its key, in iac's words."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from iac.config.schema import Before, Bounds, Check, Invalid, Model, SchemaError, Tagged, field, fields_of, validate


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
    return [(p.location, p.kind, p.message) for p in raised.value.problems]


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
    assert list(fields_of(Outer)) == ["name", "tags", "inner", "maybe", "mode", "pets"]


def test_a_record_built_in_code_is_checked_as_a_mapping_is() -> None:
    assert Dog(kind="dog", name="rex").name == "rex"
    with pytest.raises(SchemaError) as raised:
        Dog(kind="dog", name="Rex")
    assert [(p.location, p.kind, p.message) for p in raised.value.problems] == [
        (("name",), "check", "'Rex' must be lowercase: write 'rex'")
    ]
    assert str(raised.value) == "1 problem(s): name: 'Rex' must be lowercase: write 'rex'"
    with pytest.raises(SchemaError, match="name: is required"):
        Dog(kind="dog")  # type: ignore[call-arg]
    with pytest.raises(SchemaError, match="colour: unknown key"):
        Dog(kind="dog", name="rex", colour="brown")  # type: ignore[call-arg]
    with pytest.raises(SchemaError, match=r"lives: input should be less than or equal to 9 \(got 10\)"):
        Cat(kind="cat", lives=10)
    assert Outer(name="x", pets=[Cat(kind="cat")]).pets == [Cat(kind="cat", lives=9)]  # records taken as they are


def test_values_are_not_coerced() -> None:
    assert problems({"name": "x", "inner": {"flag": "yes"}}) == [
        (("inner", "flag"), "type", "input should be a valid boolean (got 'yes')")
    ]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": True}]}) == [
        (("pets", 0, "lives"), "type", "input should be a valid integer (got True)")
    ]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": "3"}]})[0][1] == "type"
    assert problems({"name": 3})[0][1:] == ("type", "input should be a valid string (got 3)")
    assert problems({"name": "x", "tags": ("a",)})[0][1:] == ("type", "input should be a valid list (got ('a',))")


def test_every_problem_is_reported_at_once_fields_first_then_unknown_keys() -> None:
    found = problems({"nme": "x", "inner": {"flag": 1, "extra": 2}, "mode": "rw", 5: 0})
    assert found == [
        (("name",), "missing", "is required"),
        (("inner", "flag"), "type", "input should be a valid boolean (got 1)"),
        (("inner", "extra"), "unknown-key", "unknown key; known keys here: flag"),
        (("mode",), "choice", "input should be 'read' or 'read-write' (got 'rw')"),
        (("nme",), "unknown-key", "unknown key; did you mean 'name'?"),
        ((5,), "key-type", "keys should be strings (got 5)"),
    ]


def test_checks_bounds_and_nested_models() -> None:
    assert problems({"name": "X"}) == [(("name",), "check", "'X' must be lowercase: write 'x'")]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": 10}]}) == [
        (("pets", 0, "lives"), "bound", "input should be less than or equal to 9 (got 10)")
    ]
    assert problems({"name": "x", "pets": [{"kind": "cat", "lives": 0}]})[0][2] == (
        "input should be greater than or equal to 1 (got 0)"
    )
    assert problems({"name": "x", "inner": None})[0][1:] == (
        "type",
        "input should be a valid dictionary or instance of Inner (got None)",
    )
    assert validate(Outer, {"name": "x", "maybe": None}).maybe is None


def test_a_tagged_union_names_its_tag_or_why_there_is_none() -> None:
    assert problems({"name": "x", "pets": [{"name": "rex"}]}) == [(("pets", 0), "tag", "needs a kind: one of cat, dog")]
    assert problems({"name": "x", "pets": [{"kind": "cow"}]}) == [
        (("pets", 0), "tag", "unknown kind 'cow': use one of cat, dog")
    ]
    assert problems({"name": "x", "pets": ["cat"]})[0][1:] == (
        "type",
        "input should be a valid dictionary or object to extract fields from (got 'cat')",
    )
    # The location is where the value is: the tag tells the model, it is no key of the file.
    assert problems({"name": "x", "pets": [{"kind": "dog", "nme": "rex"}]}) == [
        (("pets", 0, "name"), "missing", "is required"),
        (("pets", 0, "nme"), "unknown-key", "unknown key; did you mean 'name'?"),
    ]


def _refuse(value: object, context: object) -> object:
    raise Invalid("is no entry", {"value": value})


class Entries(Model):
    items: list[Annotated[str, Before(_refuse)]]


def test_a_before_check_may_refuse_a_value_with_details_for_its_caller() -> None:
    with pytest.raises(SchemaError) as raised:
        validate(Entries, {"items": [1, "b"]})
    assert [(p.location, p.kind, p.message, p.detail) for p in raised.value.problems] == [
        (("items", 0), "check", "1 is no entry", {"value": 1}),
        (("items", 1), "check", "'b' is no entry", {"value": "b"}),
    ]


def test_the_configs_records_built_in_code_are_checked_too() -> None:
    from iac.config.cors import AwsCorsTarget
    from iac.config.models import BucketConfig

    with pytest.raises(SchemaError, match=r"name: 'NOT VALID!!' is not a valid Cloud Storage bucket name"):
        BucketConfig(name="NOT VALID!!")
    with pytest.raises(SchemaError, match="region: is required"):
        AwsCorsTarget(provider="aws", bucket="acme-s3-data")  # type: ignore[call-arg]
    assert BucketConfig(name="encord-data", location="EU").create is True
