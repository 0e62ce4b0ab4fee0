"""A strict schema of frozen records: what iac's config needs of a validation library, and no more.

The config's shape is fixed and small; pydantic, which checked it before, cost more to import than the rest
of `iac render` (issue 17). A model is a `Model` (a frozen record with keyword fields, like a frozen
keyword-only dataclass, without the code a dataclass generates per class at import), whose field
annotations say what a value must be:

- `str`, `int`, `bool` (strict: `"3600"` is no int, `1` no bool), `Literal[...]`, `list[T]`, `T | None`, and
  another model (a mapping of its fields; unknown keys are errors, a field without default is required);
- `Annotated[T, ...]` adds `Before(f)` (`f(value, context)` replaces the value before its type is checked),
  `Bounds(ge, le)`, `Check(f)` (`f(value)` after the type check), `Tagged(key)` (a union of models told
  apart by their `key` field, a `Literal`) and `Doc(text)` (what the field means; iac.config.schema_json shows it).

`validate` returns the model, or raises `SchemaError` with every problem found. A `Problem` says where (the
keys and list indexes that lead to the value), what kind of problem it is (`KINDS`) and, in iac's words, what
is wrong ("is required", "unknown key; did you mean 'name'?", "input should be a valid integer (got '3')").
A model built in code (`BucketConfig(name=...)`) is checked the same way: it raises SchemaError too.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    TypeGuard,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
)

T = TypeVar("T")
Location = tuple[str | int, ...]
_FAILED: Any = object()


class Invalid(Exception):
    """Raised by a `Check` or `Before` function: the value is wrong, `message` says why (it follows the value:
    "'X' must be lowercase"); `detail` travels with the problem for whoever words it with more context."""

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


# The kinds of problem: a value of the wrong type, not one of the choices, out of bounds, refused by a Check or
# Before function; a required key missing, a key the model does not have, a key that is not a string; a tagged
# model's tag missing or unknown.
KINDS = ("type", "choice", "bound", "check", "missing", "unknown-key", "key-type", "tag")


@dataclass(frozen=True)
class Problem:
    """One problem found: at `location` (keys and list indexes), of a `kind` in KINDS, with `message` in iac's
    words (it follows the location: `cdn.default_ttl: input should be ...`) and the `value` it is about.

    `expected`: the type a "type" problem wanted (`str`, `int`, a model, ...); `detail`: a refusing `Invalid`'s.
    """

    location: Location
    kind: str
    message: str
    value: Any = None
    expected: Any = None
    detail: Any = None


# A compiled check: (value, location, problems, context) -> the value it gives, or _FAILED with problems added.
_Validator = Callable[[Any, Location, list[Problem], Any], Any]


class SchemaError(Exception):
    """Every problem `validate` found, in the order it found them (fields in the order the model lists them)."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0] if problems else None
        where = ".".join(map(str, first.location)) if first is not None else ""
        shown = f": {where}: {first.message}" if first is not None else ""
        super().__init__(f"{len(problems)} problem(s){shown}")
        self.problems = problems


def clip(text: str) -> str:
    """`text` as a message shows it: at most 80 characters."""
    return text if len(text) <= 80 else text[:77] + "..."


def show(value: object) -> str:
    """A value as a message shows it: its repr, clipped."""
    return clip(repr(value))


class _Default:
    """A field's default made anew for each record (`field(default_factory=list)`)."""

    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is `default_factory()`, called for each record (a list, say)."""
    return typing.cast(T, _Default(default_factory))


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Model:
    """A frozen record: its fields are its class's annotated names, in order, each with its default if any.

    Built with keywords only (`Config(project=..., ...)`); equal when of one class with equal fields; its
    attributes cannot be set or deleted once built.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [name for name in inspect.get_annotations(cls) if not name.startswith("_")]
        cls._fields = (*(name for name in cls._fields if name not in own), *own)
        cls._defaults = {**cls._defaults, **{name: cls.__dict__[name] for name in own if name in cls.__dict__}}
        for name, default in cls._defaults.items():
            if isinstance(default, _Default) and name in cls.__dict__:
                delattr(cls, name)

    def __init__(self, **values: Any) -> None:
        """A record of `values`, checked as `validate` checks a mapping: SchemaError when one is wrong."""
        model = type(self)
        if values or len(model._defaults) < len(model._fields):
            problems: list[Problem] = []
            values = _checked_fields(model, values, (), problems, None)
            if problems:
                raise SchemaError(problems)
        _fill(self, values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{name}={getattr(self, name)!r}' for name in self._fields)})"


def _fill(record: Model, values: dict[str, Any]) -> None:
    """Set a new record's fields: `values` (already checked), the defaults for the others."""
    for name in record._fields:
        object.__setattr__(record, name, values[name] if name in values else _default(type(record), name))


def _default(model: type[Model], name: str) -> Any:
    default = model._defaults[name]
    return default.factory() if isinstance(default, _Default) else default


def defaults_of(model: type[Model]) -> dict[str, Any]:
    """The fields of `model` that have a default, with it (made anew, as a new record gets it)."""
    return {name: _default(model, name) for name in model._fields if name in model._defaults}


def _record(model: type[Model], values: dict[str, Any]) -> Model:
    """A record of values the checker has just checked (not checked again)."""
    record = object.__new__(model)
    _fill(record, values)
    return record


class Check:
    """`Annotated[T, Check(f)]`: `f(value)` runs after the type check; it returns the value or raises Invalid."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function


class Before:
    """`Annotated[T, Before(f)]`: `f(value, context)` replaces the value before its type is checked."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[[Any, Any], Any]) -> None:
        self.function = function


class Bounds:
    """`Annotated[int, Bounds(ge=0, le=9)]`: the least and the greatest value allowed."""

    __slots__ = ("ge", "le")

    def __init__(self, ge: int | None = None, le: int | None = None) -> None:
        self.ge = ge
        self.le = le


class Doc:
    """`Annotated[T, Doc(text)]`: what the field means, in the words of docs/configuration.md (the config
    reference shows it, and the JSON Schema gives it to editors)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Tagged:
    """`Annotated[A | B, Tagged(key)]`: the models are told apart by their `key` field, a Literal."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def validate(model: type[T], data: object, context: Any = None) -> T:
    """`data` (as YAML or JSON gives it) as a `model`; SchemaError with every problem otherwise."""
    problems: list[Problem] = []
    result = _validator(model)(data, (), problems, context)
    if problems:
        raise SchemaError(problems)
    return typing.cast(T, result)


def fields_of(model: Any) -> dict[str, Any]:
    """A model's fields and their annotations (resolved, `Annotated` kept), in the order the model lists them."""
    if model not in _FIELDS:
        hints = typing.get_type_hints(model, include_extras=True)
        _FIELDS[model] = {name: hints[name] for name in model._fields}
    return _FIELDS[model]


_FIELDS: dict[Any, dict[str, Any]] = {}


def is_model(annotation: object) -> TypeGuard[type[Model]]:
    return isinstance(annotation, type) and issubclass(annotation, Model)


def _wrong_type(location: Location, what: str, value: Any, expected: Any) -> Problem:
    return Problem(location, "type", f"input should be a valid {what} (got {show(value)})", value, expected)


def _validator(annotation: Any) -> _Validator:
    """The check of one annotation, built once (a list's items are checked by one closure, not re-read)."""
    if annotation not in _VALIDATORS:
        _VALIDATORS[annotation] = _build(annotation)
    return _VALIDATORS[annotation]


_VALIDATORS: dict[Any, _Validator] = {}


def _build(annotation: Any) -> _Validator:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _annotated(annotation)
    if origin is Union or origin is types.UnionType:
        return _optional(annotation)
    if origin is Literal:
        return _literal(get_args(annotation))
    if origin is list:
        return _list(_validator(get_args(annotation)[0]))
    if is_model(annotation):
        return _model(annotation)
    if annotation in _PLAIN:
        return _plain(*_PLAIN[annotation])
    raise TypeError(f"iac.config.schema has no check for {annotation!r}")


# Plain types: the type a value must have, and its name in a message. Strict: a bool is no int.
_PLAIN: dict[Any, tuple[type, str]] = {str: (str, "string"), int: (int, "integer"), bool: (bool, "boolean")}


def _plain(expected: type, what: str) -> _Validator:
    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        if isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
            return value
        problems.append(_wrong_type(location, what, value, expected))
        return _FAILED

    return check


def _literal(allowed: tuple[Any, ...]) -> _Validator:
    shown = [repr(value) for value in allowed]
    expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"

    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        if any(type(value) is type(choice) and value == choice for choice in allowed):
            return value
        problems.append(Problem(location, "choice", f"input should be {expected} (got {show(value)})", value))
        return _FAILED

    return check


def _list(item: _Validator) -> _Validator:
    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        if not isinstance(value, list):
            problems.append(_wrong_type(location, "list", value, list))
            return _FAILED
        before = len(problems)
        items = [item(entry, (*location, index), problems, context) for index, entry in enumerate(value)]
        return items if len(problems) == before else _FAILED

    return check


def _optional(annotation: Any) -> _Validator:
    members = [member for member in get_args(annotation) if member is not type(None)]
    if len(members) != 1 or len(members) == len(get_args(annotation)):
        raise TypeError(f"iac.config.schema: a union is `T | None` or Annotated[..., Tagged(key)], not {annotation!r}")
    inner = _validator(members[0])

    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        return None if value is None else inner(value, location, problems, context)

    return check


def _annotated(annotation: Any) -> _Validator:
    base, *extras = get_args(annotation)
    tagged = [extra for extra in extras if isinstance(extra, Tagged)]
    inner = _tagged(base, tagged[0].key) if tagged else _validator(base)
    befores = [extra.function for extra in extras if isinstance(extra, Before)]
    afters = [extra for extra in extras if isinstance(extra, Bounds | Check)]

    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        try:
            for before in befores:
                value = before(value, context)
        except Invalid as invalid:
            problems.append(_refused(location, value, invalid))
            return _FAILED
        value = inner(value, location, problems, context)
        if value is _FAILED:
            return _FAILED
        for after in afters:
            if isinstance(after, Bounds):
                problem = _out_of_bounds(after, value, location)
                if problem is not None:
                    problems.append(problem)
                    return _FAILED
                continue
            try:
                value = after.function(value)
            except Invalid as invalid:
                problems.append(_refused(location, value, invalid))
                return _FAILED
        return value

    return check


def _refused(location: Location, value: Any, invalid: Invalid) -> Problem:
    return Problem(location, "check", f"{show(value)} {invalid.message}", value, detail=invalid.detail)


def _out_of_bounds(bounds: Bounds, value: Any, location: Location) -> Problem | None:
    if bounds.ge is not None and value < bounds.ge:
        wanted = f"greater than or equal to {bounds.ge}"
    elif bounds.le is not None and value > bounds.le:
        wanted = f"less than or equal to {bounds.le}"
    else:
        return None
    return Problem(location, "bound", f"input should be {wanted} (got {show(value)})", value)


def tags(union: Any, key: str) -> dict[str, type[Any]]:
    """The models of a tagged union (`A | B`, each with `key: Literal["a"]`) by their tag, in the union's order."""
    found: dict[str, type[Any]] = {}
    for model in get_args(union):
        for tag in get_args(fields_of(model)[key]):
            found[tag] = model
    return found


def _tagged(union: Any, key: str) -> _Validator:
    by_tag = tags(union, key)
    listed = ", ".join(by_tag)

    models = tuple(by_tag.values())

    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        if isinstance(value, models):
            return value
        if not isinstance(value, dict):
            problems.append(_wrong_type(location, "dictionary or object to extract fields from", value, union))
            return _FAILED
        if key not in value:
            problems.append(Problem(location, "tag", f"needs a {key}: one of {listed}", value))
            return _FAILED
        tag = value[key]
        model = by_tag.get(tag) if isinstance(tag, str) else None
        if model is None:
            problems.append(Problem(location, "tag", f"unknown {key} {str(tag)!r}: use one of {listed}", value))
            return _FAILED
        return _validator(model)(value, location, problems, context)

    return check


def _model(model: type[Model]) -> _Validator:
    def check(value: Any, location: Location, problems: list[Problem], context: Any) -> Any:
        if isinstance(value, model):
            return value
        if not isinstance(value, dict):
            problems.append(_wrong_type(location, f"dictionary or instance of {model.__name__}", value, model))
            return _FAILED
        before = len(problems)
        given = _checked_fields(model, value, location, problems, context)
        return _record(model, given) if len(problems) == before else _FAILED

    return check


def _checked_fields(
    model: type[Model], value: dict[Any, Any], location: Location, problems: list[Problem], context: Any
) -> dict[str, Any]:
    """The fields of `value` (a mapping) checked for `model`: every problem added to `problems`."""
    checks = _field_checks(model)
    given: dict[str, Any] = {}
    for field, field_check in checks.items():
        if field in value:
            given[field] = field_check(value[field], (*location, field), problems, context)
        elif field not in model._defaults:
            problems.append(Problem((*location, field), "missing", "is required"))
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem((*location, key), "key-type", f"keys should be strings (got {show(key)})", key))
        elif key not in checks:
            problems.append(Problem((*location, key), "unknown-key", _unknown_key(key, list(checks)), item))
    return given


def _field_checks(model: type[Model]) -> dict[str, _Validator]:
    """Each field's check, built at the first use (the annotations resolve then)."""
    if model not in _FIELD_CHECKS:
        _FIELD_CHECKS[model] = {field: _validator(annotation) for field, annotation in fields_of(model).items()}
    return _FIELD_CHECKS[model]


_FIELD_CHECKS: dict[Any, dict[str, _Validator]] = {}


def _unknown_key(key: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(key, sorted(known), n=1)
    return (
        f"unknown key; did you mean {hint[0]!r}?"
        if hint
        else f"unknown key; known keys here: {', '.join(sorted(known))}"
    )
