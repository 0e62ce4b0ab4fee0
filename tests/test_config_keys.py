"""Every config key that a rendered file or the documentation names exists in the config schema (iac/config/), so
a reader who looks a key up, or writes it into iac.yaml, finds it (`iac validate` rejects unknown keys)."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest

from conftest import DOCUMENTATION, EXAMPLE_NAMES, EXAMPLES, ROOT
from iac.config.models import Config
from iac.config.schema import fields_of, is_model

# A dotted key whose first part is a top-level config key, e.g. `bucket.create`, `cors.targets[].region`; not part
# of a longer name (`var.bucket.name`, `each.value.cors.x`, a path, a URL).
_TOP = "|".join(sorted(fields_of(Config), key=len, reverse=True))
KEY = re.compile(rf"(?<![\w.$/-])(?:{_TOP})(?:(?:\[\d*\])?\.[a-z_]+)+(?![\w-])")
# A comment in HCL: `#` or `//` to the end of the line (the modules write no `#` inside strings that matter here).
HCL_COMMENT = re.compile(r"(?:#|//)(.*)$", re.MULTILINE)
FILE_NAME = re.compile(r"\.(?:tf|tfvars|json|yaml|yml|md|py|xml|txt|j2)$")


def _models(annotation: Any) -> list[type[Any]]:
    """The config models an annotation holds, through Optional, list, Annotated and unions (cors targets)."""
    if is_model(annotation):
        return [annotation]
    if typing.get_origin(annotation) is typing.Annotated:
        return _models(typing.get_args(annotation)[0])
    return [model for arg in typing.get_args(annotation) for model in _models(arg)]


def key_exists(key: str) -> bool:
    models: list[type[Any]] = [Config]
    for part in re.sub(r"\[\d*\]", "", key).split("."):
        annotations = [fields_of(model)[part] for model in models if part in fields_of(model)]
        if not annotations:
            return False
        models = [model for annotation in annotations for model in _models(annotation)]
    return True


def keys_named(text: str) -> list[str]:
    return [key for key in KEY.findall(text) if not FILE_NAME.search(key)]


def keys_in_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".tf":
        text = "\n".join(HCL_COMMENT.findall(text))
    return keys_named(text)


def test_the_key_checker_knows_real_keys_from_made_up_ones() -> None:
    assert keys_named("set `bucket.create`, `cors.targets[].region` or cors.targets[2].account") == [
        "bucket.create",
        "cors.targets[].region",
        "cors.targets[2].account",
    ]
    assert keys_named("var.bucket.name, modules/bucket.tf, https://x/cdn.default_ttl, bucket.tf") == []
    assert all(map(key_exists, ["bucket.create", "cors.targets[].region", "terraform.backend.gcs.prefix"]))
    assert not any(map(key_exists, ["bucket.versioning", "cors.targets[].bucket_name", "cdn.max_ttl"]))


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_a_rendering_names_only_real_config_keys(example: str, cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("render", "-c", EXAMPLES / example / "iac.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    files = [p for p in sorted(out.rglob("*")) if p.is_file() and p.suffix in (".tf", ".md")]
    assert any(p.name == "bucket.tf" for p in files)
    named = {(str(p.relative_to(out)), key) for p in files for key in keys_in_file(p)}
    assert named, "the rendering names no config key: the checker would see nothing"
    assert [(file, key) for file, key in sorted(named) if not key_exists(key)] == []


@pytest.mark.parametrize("page", DOCUMENTATION, ids=lambda page: str(page.relative_to(ROOT)))
def test_the_documentation_names_only_real_config_keys(page: Path) -> None:
    named = keys_named(page.read_text(encoding="utf-8"))
    assert sorted({key for key in named if not key_exists(key)}) == []


def test_the_configuration_reference_names_the_keys() -> None:
    assert len(keys_named((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"))) > 10
