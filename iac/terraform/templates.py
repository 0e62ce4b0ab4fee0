"""The files iac ships beside its code: the Jinja2 templates and the Terraform modules.

Both renderings use them: `iac.terraform.render` (the root Terraform configuration and the module it copies) and
`iac.cors` (the Terraform of an S3 CORS configuration). They live at the top of a source checkout and inside
the installed package (see pyproject.toml), found by `resource_dir`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from iac.terraform import hcl


def resource_dir(name: str) -> Path:
    """`templates` or `modules`: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent  # iac/, beside iac/terraform/
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"iac is installed without its {name}/ directory (looked in {package})")


@cache
def _environment() -> jinja2.Environment:
    """The one Jinja2 environment: strict about undefined values, every value through `iac.terraform.hcl`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=hcl.finalize,
    )
    env.filters["hcl"] = hcl.value
    env.filters["identifier"] = hcl.identifier
    return env


def template(name: str, values: dict[str, Any]) -> bytes:
    """Template `name` (a path under templates/) rendered with `values`, as UTF-8."""
    return _environment().get_template(name).render(values).encode("utf-8")


@cache
def module_files(module: str) -> dict[str, bytes]:
    """The files of modules/`module`, keyed by their path in a rendering (`modules/<module>/...`)."""
    source = resource_dir("modules") / module
    return {
        f"modules/{module}/{path.relative_to(source).as_posix()}": path.read_bytes()
        for path in sorted(source.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(source).parts)
    }
