"""The config's messages where YAML read a value as something else than it seems (`12:30` as 750, `on` as true),
and what the schema expects at a key."""

from __future__ import annotations

import datetime
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from iac.allowlist.ranges import AllowlistEntryError
from iac.config.models import Config
from iac.config.schema import clip, fields_of, is_model, show
from iac.config.yamldoc import Location


def entry_problem(problem: AllowlistEntryError, text: str | None) -> str:
    """The message for a bad allowlist entry; `text` is the entry as written when YAML read it as no string."""
    if text is None or isinstance(problem.value, str):
        return f"{show(problem.value)} {problem.message}"
    if problem.value is None and not text.strip():
        return "is empty: remove the entry or write an IP address or CIDR"
    if isinstance(problem.value, int | float) and not isinstance(problem.value, bool) and ":" in text:
        # YAML 1.1 reads digits in colon-separated groups as a base-60 number (12:30 is 750).
        return f'{misread_as(text, problem.value)}: quote IPv6 addresses ("{clip(text)}")'
    return (
        f"{misread_as(text, problem.value)}: an allowlist entry is an IP address or CIDR (examples: 39.42.20.11, "
        "130.192.120.0/24, 2a00:1450:4001::/48)"
    )


def misread_as(text: str, value: object) -> str:
    """`text` (a plain scalar as written) and what YAML 1.1 made of it."""
    if isinstance(value, bool):
        what = f"the boolean {str(value).lower()}"
    elif isinstance(value, int | float):
        what = f"the number {value!r}"
    elif value is None:
        what = "null (no value)"
    elif isinstance(value, datetime.date):
        what = f"the date {value.isoformat()}"
    else:
        what = f"a {type(value).__name__}"
    return f"{clip(text)} was read by YAML as {clip(what)}"


def surprising(text: str, value: object) -> bool:
    """Whether YAML 1.1 read `text` as something its writer would hardly expect (`12:30` as 750, `on` as true)."""
    if isinstance(value, bool):
        return text.lower() not in ("true", "false")
    if isinstance(value, int | float):
        return text != str(value)
    return isinstance(value, datetime.date)


_KINDS = {int: "int", bool: "bool", str: "str"}


def expected_kind(location: Location) -> str | None:
    """ "int", "bool" or "str": what the config's schema takes at `location` (no tag of a cors target in it),
    or None for a list, a mapping or an unknown key."""
    annotations: list[Any] = [Config]
    for part in location:
        found = []
        for member in (m for annotation in annotations for m in _members(annotation)):
            if isinstance(part, int) and get_origin(member) is list:
                found.append(get_args(member)[0])
            elif isinstance(part, str) and is_model(member) and part in fields_of(member):
                found.append(fields_of(member)[part])
        annotations = found
    kinds = set()
    for member in (m for annotation in annotations for m in _members(annotation)):
        if get_origin(member) is Literal:
            member = type(get_args(member)[0])
        if member is not type(None):
            kinds.add(_KINDS.get(member))
    return kinds.pop() if len(kinds) == 1 else None


def _members(annotation: Any) -> list[Any]:
    """The types `annotation` allows, through Annotated, unions and Optional."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]
