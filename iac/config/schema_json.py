"""The config's JSON Schema (draft 2020-12), made from its models, for editors and `check-jsonschema`.

What the schema says is what the models declare: types, choices, bounds, required keys, unknown keys
(`additionalProperties: false`), defaults and each field's `Doc`. The checks written in Python (`Check`,
`Before`: names, addresses, rules across fields) have no JSON Schema form; only `validate` makes them.
"""

from __future__ import annotations

import inspect
import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from iac.config.models import Config
from iac.config.schema import Bounds, Doc, Model, Tagged, defaults_of, fields_of, is_model, tags

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_JSON_TYPES = {str: "string", int: "integer", bool: "boolean"}
# The file `iac init` writes beside the config, which the starter config's first line points editors at.
SCHEMA_FILE = "iac.schema.json"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"


def config_schema() -> dict[str, Any]:
    """The config's JSON Schema: what `iac schema` prints and `iac init` writes."""
    return json_schema(
        Config,
        title="iac.yaml: Encord Direct Access on Google Cloud",
        description=(
            "The config of iac (see docs/configuration.md): keys, types, choices and bounds. "
            "Names, addresses and the rules across fields (IP ranges, bucket names, CORS origins, "
            "bucket.location when bucket.create is true, ...) have no JSON Schema form: `iac validate` "
            "checks them."
        ),
    )


def schema_text() -> str:
    """The config's JSON Schema as the file `iac schema` and `iac init` write (indented, ending with a newline)."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"


def json_schema(model: type[Model], *, title: str, description: str) -> dict[str, Any]:
    """`model` as a JSON Schema document; the models it holds are in `$defs`, by class name."""
    definitions: dict[str, Any] = {}
    root = _object(model, definitions)
    root.pop("description", None)  # the document's own, below
    return {"$schema": DIALECT, "title": title, "description": description, **root, "$defs": definitions}


def _object(model: type[Model], definitions: dict[str, Any]) -> dict[str, Any]:
    properties = {}
    defaults = defaults_of(model)
    for name, annotation in fields_of(model).items():
        properties[name] = _property(annotation, definitions)
        if (default := _data(defaults.get(name))) is not None:
            properties[name]["default"] = default
    required = [name for name in fields_of(model) if name not in defaults]
    return {
        **({"description": inspect.cleandoc(model.__doc__)} if model.__doc__ else {}),
        "type": "object",
        "properties": properties,
        **({"required": required} if required else {}),
        "additionalProperties": False,
    }


def _property(annotation: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        tagged = [extra.key for extra in extras if isinstance(extra, Tagged)]
        found = _tagged(base, tagged[0], definitions) if tagged else _property(base, definitions)
        for extra in extras:
            if isinstance(extra, Bounds):
                found.update({"minimum": extra.ge} if extra.ge is not None else {})
                found.update({"maximum": extra.le} if extra.le is not None else {})
            elif isinstance(extra, Doc):
                found["description"] = extra.text
        return found
    if origin is Union or origin is types.UnionType:
        [member] = [arg for arg in get_args(annotation) if arg is not type(None)]
        return {"anyOf": [_property(member, definitions), {"type": "null"}]}
    if origin is Literal:
        choices = list(get_args(annotation))
        return {"const": choices[0]} if len(choices) == 1 else {"enum": choices}
    if origin is list:
        return {"type": "array", "items": _property(get_args(annotation)[0], definitions)}
    if is_model(annotation):
        return {"$ref": _define(annotation, definitions)}
    return {"type": _JSON_TYPES[annotation]}


def _define(model: type[Model], definitions: dict[str, Any]) -> str:
    if model.__name__ not in definitions:
        definitions[model.__name__] = {}  # taken before its fields are read: a model may hold itself
        definitions[model.__name__] = _object(model, definitions)
    return f"#/$defs/{model.__name__}"


def _tagged(union: Any, key: str, definitions: dict[str, Any]) -> dict[str, Any]:
    """A mapping whose `key` says which model it is: that model's schema applies (its own errors, not every one's)."""
    by_tag = tags(union, key)
    return {
        "type": "object",
        "properties": {key: {"enum": list(by_tag)}},
        "required": [key],
        "allOf": [
            {
                "if": {"properties": {key: {"const": tag}}, "required": [key]},
                "then": {"$ref": _define(model, definitions)},
            }
            for tag, model in by_tag.items()
        ],
    }


def _data(value: Any) -> Any:
    """A field's default as JSON gives it (a record as a mapping)."""
    if isinstance(value, Model):
        return {
            name: _data(getattr(value, name)) for name in fields_of(type(value)) if getattr(value, name) is not None
        }
    if isinstance(value, list):
        return [_data(item) for item in value]
    return value
