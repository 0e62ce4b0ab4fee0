"""iac's config checker (iac.config.schema) against pydantic checking the same schema: same values accepted, same
problems.

iac checks its config with its own small engine because importing pydantic costs more than the rest of
`iac render` (issue 17). That is honest only while it behaves as pydantic would with `strict=True,
extra="forbid"` models of the same schema. The pydantic models are built here from iac's own models (so a
key added to iac.config.models is covered at once), and hypothesis feeds both valid configs and broken ones (wrong
types, unknown and misspelt keys, out-of-bound numbers, bad choices, missing keys, at any depth).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from conftest import EXAMPLES, ROOT
from iac.config.cors import CorsConfig
from iac.config.models import Config
from iac.config.schema import (
    Before,
    Bounds,
    Check,
    Invalid,
    Model,
    Problem,
    SchemaError,
    Tagged,
    defaults_of,
    fields_of,
    is_model,
    show,
    tags,
    validate,
)

# --- pydantic models of the same schema ---------------------------------------------------------------------------

STRICT = pydantic.ConfigDict(strict=True, extra="forbid")


def _refusing(function: Callable[..., Any]) -> Callable[..., Any]:
    """A Check or Before function as a pydantic validator: its Invalid becomes pydantic's error of kind "check"."""

    def validator(*args: Any) -> Any:
        try:
            return function(*args)
        except Invalid as invalid:
            raise PydanticCustomError("check", "refused", {"message": invalid.message}) from None

    return validator


def pydantic_annotation(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        tagged = [extra.key for extra in extras if isinstance(extra, Tagged)]
        if tagged:
            members = tuple(pydantic_model(model) for model in get_args(base))
            inner: Any = Annotated[Union[members], pydantic.Field(discriminator=tagged[0])]  # noqa: UP007
        else:
            inner = pydantic_annotation(base)
        metadata: list[Any] = []
        for extra in extras:
            if isinstance(extra, Before):
                before = _refusing(extra.function)
                metadata.append(pydantic.BeforeValidator(lambda value, info, f=before: f(value, info.context)))
            elif isinstance(extra, Bounds):
                metadata.append(pydantic.Field(ge=extra.ge, le=extra.le))
            elif isinstance(extra, Check):
                check = _refusing(extra.function)
                metadata.append(pydantic.AfterValidator(lambda value, f=check: f(value)))
        return Annotated[(inner, *metadata)] if metadata else inner
    if origin is Union or origin is typing.get_origin(int | None):
        [member] = [arg for arg in get_args(annotation) if arg is not type(None)]
        return pydantic_annotation(member) | None
    if origin is list:
        return list[pydantic_annotation(get_args(annotation)[0])]  # type: ignore[misc]
    if is_model(annotation):
        return pydantic_model(annotation)
    assert origin is Literal or annotation in (str, int, bool), f"no pydantic form for {annotation!r}"
    return annotation


@cache
def pydantic_model(model: type[Model]) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {}
    defaults = defaults_of(model)
    for name, annotation in fields_of(model).items():
        translated = pydantic_annotation(annotation)
        if name not in defaults:
            fields[name] = (translated, ...)
            continue
        default = defaults[name]
        if isinstance(default, list):
            fields[name] = (translated, pydantic.Field(default_factory=lambda d=default: list(d)))
        elif isinstance(default, Model):
            made = pydantic_model(type(default))
            fields[name] = (translated, pydantic.Field(default_factory=lambda d=default, m=made: m(**data_of(d))))
        else:
            fields[name] = (translated, default)
    return pydantic.create_model(model.__name__, __config__=STRICT, **fields)


def data_of(value: Any) -> Any:
    """A record (iac's or pydantic's) as plain data, to compare what each made of a config."""
    if isinstance(value, Model):
        return {name: data_of(getattr(value, name)) for name in value._fields}
    if isinstance(value, pydantic.BaseModel):
        return {name: data_of(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list):
        return [data_of(item) for item in value]
    return value


# --- the two verdicts, in one vocabulary --------------------------------------------------------------------------

KINDS = {
    "string_type": "type",
    "int_type": "type",
    "bool_type": "type",
    "list_type": "type",
    "model_type": "type",
    "model_attributes_type": "type",
    "literal_error": "choice",
    "greater_than_equal": "bound",
    "less_than_equal": "bound",
    "check": "check",
    "missing": "missing",
    "extra_forbidden": "unknown-key",
    "invalid_key": "key-type",
    "union_tag_not_found": "tag",
    "union_tag_invalid": "tag",
}


def _shape(annotation: Any) -> tuple[str, Any]:
    """What an annotation holds, through Annotated and Optional: a model, a list, a tagged union, or a value."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extras = get_args(annotation)
            tagged = [extra.key for extra in extras if isinstance(extra, Tagged)]
            if tagged:
                return "tagged", tags(base, tagged[0])
            annotation = base
        elif origin is Union or origin is typing.get_origin(int | None):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        elif origin is list:
            return "list", get_args(annotation)[0]
        else:
            return ("model", annotation) if is_model(annotation) else ("value", None)


def untagged(location: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's location without the union tag it inserts (`targets.0.aws.bucket` -> `targets.0.bucket`)."""
    found: list[Any] = []
    annotation: Any = Config
    parts = list(location)
    while parts:
        kind, inner = _shape(annotation) if annotation is not None else ("value", None)
        if kind == "tagged":
            annotation = inner.get(parts.pop(0))
            continue
        part = parts.pop(0)
        found.append(part)
        annotation = fields_of(inner).get(part) if kind == "model" else inner if kind == "list" else None
    return tuple(found)


Verdict = tuple[Any, list[tuple[tuple[Any, ...], str]]]


def iac_verdict(data: Any) -> tuple[Verdict, list[Problem]]:
    try:
        config = validate(Config, data, context=[])
    except SchemaError as error:
        found = sorted(((p.location, p.kind) for p in error.problems), key=repr)
        return (None, found), error.problems
    return (data_of(config), []), []


def pydantic_verdict(data: Any) -> tuple[Verdict, list[dict[str, Any]]]:
    try:
        config = pydantic_model(Config).model_validate(data, context=[])
    except pydantic.ValidationError as error:
        errors = error.errors()
        found = sorted(((untagged(e["loc"]), KINDS.get(e["type"], e["type"])) for e in errors), key=repr)
        return (None, found), list(errors)
    return (data_of(config), []), []


def same_words(ours: list[Problem], theirs: list[dict[str, Any]]) -> None:
    """Where pydantic's words are iac's too (types, choices, bounds, refusals), the messages agree."""
    by_place = {(untagged(e["loc"]), KINDS.get(e["type"])): e for e in theirs}
    for problem in ours:
        error = by_place[(problem.location, problem.kind)]
        if problem.kind in ("type", "choice", "bound"):
            assert problem.message == f"{error['msg'][0].lower()}{error['msg'][1:]} (got {show(error['input'])})"
        elif problem.kind == "check":
            assert problem.message == f"{show(error['input'])} {error['ctx']['message']}"


def assert_same(data: Any) -> Verdict:
    ours, problems = iac_verdict(data)
    theirs, errors = pydantic_verdict(data)
    assert ours == theirs
    same_words(problems, errors)
    return ours


# --- configs: valid ones, from the values the examples use, and broken ones ---------------------------------------


def _collect(value: Any, path: tuple[str, ...], into: dict[tuple[str, ...], list[Any]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _collect(item, (*path, str(key)), into)
    elif isinstance(value, list):
        for item in value:
            _collect(item, (*path, "[]"), into)
    elif value not in into.setdefault(path, []):
        into[path].append(value)


@cache
def known_values() -> dict[tuple[str, ...], list[Any]]:
    """Every value the examples and the starter config give each key (`cors.targets.[].region`: its regions)."""
    found: dict[tuple[str, ...], list[Any]] = {}
    for path in [*sorted(EXAMPLES.glob("*/iac.yaml")), ROOT / "templates" / "starter.yaml"]:
        _collect(yaml.safe_load(Path(path).read_text(encoding="utf-8")), (), found)
    return found


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.text(max_size=4),
    st.lists(st.integers(0, 1), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 1), max_size=2),
)


def values(annotation: Any, path: tuple[str, ...], broken: bool) -> st.SearchStrategy[Any]:
    """Values for `annotation` at `path`; with `broken`, wrong ones too, at any depth."""
    good = _good_values(annotation, path, broken)
    if not broken:
        return good
    return st.integers(0, 7).flatmap(lambda n: good if n else JUNK)  # one value in eight of the wrong kind


def _good_values(annotation: Any, path: tuple[str, ...], broken: bool) -> st.SearchStrategy[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, Tagged):
                return st.one_of([models(model, path, broken) for model in get_args(base)])
            if isinstance(extra, Bounds):
                least = -5 if extra.ge is None else extra.ge - 2
                most = (least + 1000) if extra.le is None else extra.le + 2
                return st.integers(least, most) | st.integers() if broken else st.integers(extra.ge or 0, most - 2)
        return _good_values(base, path, broken)
    if origin is Union or origin is typing.get_origin(int | None):
        [member] = [arg for arg in get_args(annotation) if arg is not type(None)]
        return st.none() | values(member, path, broken)
    if origin is Literal:
        choices = st.sampled_from(get_args(annotation))
        return choices | st.text(max_size=6) if broken else choices
    if origin is list:
        return st.lists(values(get_args(annotation)[0], (*path, "[]"), broken), max_size=3)
    if is_model(annotation):
        return models(annotation, path, broken)
    seen = [value for value in known_values().get(path, []) if type(value) is annotation]
    if seen and not broken:
        return st.sampled_from(seen)
    if annotation is str:
        return st.sampled_from(seen) | st.text(max_size=8) if seen else st.text(max_size=8)
    if annotation is int:
        return st.sampled_from(seen) | st.integers(-5, 5) if seen else st.integers(-5, 5)
    assert annotation is bool, annotation
    return st.booleans()


def models(model: type[Model], path: tuple[str, ...], broken: bool) -> st.SearchStrategy[dict[Any, Any]]:
    # Deferred: a strategy's description would otherwise spell out the whole schema.
    return st.deferred(lambda: _models(model, path, broken))


def _models(model: type[Model], path: tuple[str, ...], broken: bool) -> st.SearchStrategy[dict[Any, Any]]:
    return _mutated(model, path) if broken else _mappings(model, path, broken)


def _mappings(model: type[Model], path: tuple[str, ...], broken: bool) -> st.SearchStrategy[dict[Any, Any]]:
    given = {name: values(annotation, (*path, name), broken) for name, annotation in fields_of(model).items()}
    defaults = defaults_of(model)
    required = {name: value for name, value in given.items() if name not in defaults}
    optional = {name: value for name, value in given.items() if name in defaults}
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def _mutated(draw: st.DrawFn, model: type[Model], path: tuple[str, ...]) -> dict[Any, Any]:
    """A mapping with one key dropped, misspelt or added (a string or not), or as it is."""
    mapping = draw(_mappings(model, path, broken=True))
    keys = sorted(mapping)
    mutation = draw(st.sampled_from([None, None, "drop", "misspell", "unknown", "number"]))
    if mutation == "drop" and keys:
        del mapping[draw(st.sampled_from(keys))]
    elif mutation == "misspell" and keys:
        key = draw(st.sampled_from(keys))
        mapping[key[:-1] + "x" + key[-1]] = mapping.pop(key)
    elif mutation == "unknown":
        mapping[draw(st.text(min_size=1, max_size=6))] = draw(JUNK)
    elif mutation == "number":
        mapping[draw(st.integers(0, 3))] = 1
    return mapping


SETTINGS = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(models(Config, (), broken=False))
def test_well_formed_configs_get_the_same_verdict(data: dict[str, Any]) -> None:
    assert_same(data)


@SETTINGS
@given(models(Config, (), broken=True))
def test_broken_configs_get_the_same_problems_at_the_same_places(data: dict[str, Any]) -> None:
    assert_same(data)


def _documented() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / "documented" / "iac.yaml").read_text(encoding="utf-8"))
    return loaded


@SETTINGS
@given(models(CorsConfig, ("cors",), broken=True))
def test_broken_cors_settings_get_the_same_problems_at_the_same_places(cors: dict[str, Any]) -> None:
    """The deepest part of the config (a list of models told apart by their provider), broken on its own."""
    assert_same({**_documented(), "cors": cors})


def test_the_examples_are_accepted_by_both() -> None:
    for path in sorted(EXAMPLES.glob("*/iac.yaml")):
        verdict, _ = assert_same(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert verdict is not None, path


@pytest.mark.parametrize(
    "change",
    [
        {"cdn": {"default_ttl": "3600"}},
        {"cdn": {"default_ttl": -1, "client_ttl": 10**9}},
        {"cors": {"access": "write", "max_age": True}},
        {"cors": {"targets": [{"provider": "aws", "bucket": "Bad Bucket", "regoin": "eu-west-2"}]}},
        {"cors": {"targets": [{"bucket": "x"}, {"provider": "gcs"}, "aws", {"provider": ["aws"]}]}},
        {"bucket": {"name": "encord-data", "create": "yes", 3: 4}},
        {"allowlist": ["10.0.0.1", 42, "39.42.20.11"], "terraform": {"backend": {"gcs": {}}}},
        {"project": None, "domain": 5, "bucket": [], "gcp": {"api_endpoint": "ftp://x"}},
    ],
)
def test_chosen_mistakes_get_the_same_problems(change: dict[str, Any]) -> None:
    verdict, found = assert_same({**_documented(), **change})
    assert verdict is None and found
