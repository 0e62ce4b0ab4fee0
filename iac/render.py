"""Render the root Terraform configuration and copy the modules it uses into one self-contained tree."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from iac import hcl
from iac.allowlist import Assignment, Rule, assign
from iac.config import Config, LoadedConfig

MODULE = "gcp-direct-access"


def resource_dir(name: str) -> Path:
    """`templates` or `modules`: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"iac is installed without its {name}/ directory (looked in {package})")


@cache
def _environment() -> jinja2.Environment:
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


@dataclass(frozen=True)
class Rendered:
    """The files of a rendered configuration (relative POSIX path -> bytes) and what they deploy."""

    files: dict[str, bytes]
    resources: int
    ranges: int
    entries: int
    manage_dns: bool
    create_bucket: bool
    assignment: Assignment

    @property
    def rules(self) -> int:
        return len(self.assignment.rules)


def template_values(loaded: LoadedConfig, assignment: Assignment) -> dict[str, Any]:
    """The data the templates see: plain values; structure and escaping are the templates' and hcl's job."""
    config = loaded.config
    backend = config.terraform.backend
    return {
        "project": config.project,
        "name": config.name,
        "domain": config.domain,
        "dns_zone": config.dns_zone,
        "manage_dns": config.dns_zone is not None,
        "origin_region": config.bucket.origin_region,
        "bucket": {
            "name": config.bucket.name,
            "create": config.bucket.create,
            "location": config.bucket.location,
        },
        "cdn": {"default_ttl": config.cdn.default_ttl, "client_ttl": config.cdn.client_ttl},
        "allowlist_rules": [{"priority": rule.priority, "ranges": list(rule.ranges)} for rule in assignment.rules],
        "cors": bucket_cors(config),
        "backend": None
        if backend is None
        else {
            "bucket": backend.gcs.bucket,
            "prefix": backend.gcs.prefix,
            "has_prefix": backend.gcs.prefix is not None,
        },
    }


def bucket_cors(config: Config) -> dict[str, Any] | None:
    """The created bucket's CORS rule, from the same `cors:` settings as every other target."""
    if config.cors is None or not config.bucket.create:
        return None
    from iac.cors.policy import encord_rule

    rule = encord_rule(config.cors.origins, config.cors.access, config.cors.max_age)
    return {
        "origins": list(rule.origins),
        "methods": list(rule.methods),
        "response_headers": list(rule.exposed_headers),
        "max_age": rule.max_age,
    }


def render(loaded: LoadedConfig, current: Sequence[Rule] | None = None, *, repack: bool = False) -> Rendered:
    """Everything `iac render` writes, in memory: nothing touches the disk here.

    `current` is the rule assignment deployed or rendered before (see `current_rules`): ranges that stay
    keep their rules. The same config and the same `current` always give the same bytes.
    """
    assignment = assign(loaded.allowlist.ranges, current, loaded.config.allowlist_max_rules, repack=repack)
    values = template_values(loaded, assignment)
    env = _environment()
    files: dict[str, bytes] = {}
    root = [("main.tf", "main.tf.j2"), ("outputs.tf", "outputs.tf.j2"), ("versions.tf", "versions.tf.j2")]
    if values["backend"] is not None:
        root.append(("backend.tf", "backend.tf.j2"))
    root.append((".gitignore", "gitignore.j2"))
    for target, template in root:
        files[target] = env.get_template(template).render(values).encode("utf-8")
    files.update(module_files(MODULE))

    config = loaded.config
    return Rendered(
        files=dict(sorted(files.items())),
        resources=_resource_count(config.bucket.create, values["manage_dns"]),
        ranges=len(loaded.allowlist.ranges),
        entries=loaded.allowlist.entries,
        manage_dns=values["manage_dns"],
        create_bucket=config.bucket.create,
        assignment=assignment,
    )


# How main.tf.j2 writes the module's identity and each allow rule, to read an earlier rendering back.
_MODULE_ATTRIBUTE = r'^  {name}\s*=\s*"([^"\\]*)"\s*$'
_RULE = re.compile(r"\{\s*priority\s*=\s*(\d+)\s*ranges\s*=\s*\[([^\]]*)\]\s*\}")
_QUOTED = re.compile(r'"([^"\\]*)"')


def current_rules(directory: Path, config: Config) -> tuple[Rule, ...] | None:
    """The allow rules of an earlier rendering of the same deployment (project and name) in `directory`.

    None when the directory holds no rendering of iac's, one of another deployment, or one that cannot
    be read back: the caller then looks elsewhere (the Terraform state) or packs afresh.
    """
    from iac.files import RENDER, written_by

    if not directory.is_dir() or "main.tf" not in written_by(directory, RENDER):
        return None
    try:
        text = (directory / "main.tf").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for attribute, expected in (("project_id", config.project), ("name", config.name)):
        match = re.search(_MODULE_ATTRIBUTE.format(name=attribute), text, re.MULTILINE)
        if match is None or match.group(1) != expected:
            return None
    start = text.find("  allowlist = {")
    if start < 0:
        return None
    rules = []
    for match in _RULE.finditer(text, start):
        ranges = _QUOTED.findall(match.group(2))
        if not ranges or not all(_is_network(r) for r in ranges):
            return None
        rules.append(Rule(int(match.group(1)), tuple(ranges)))
    return tuple(rules)


def _is_network(text: str) -> bool:
    try:
        return str(ipaddress.ip_network(text)) == text
    except ValueError:
        return False


def template(name: str, values: dict[str, Any]) -> bytes:
    return _environment().get_template(name).render(values).encode("utf-8")


@cache
def module_files(module: str) -> dict[str, bytes]:
    source = resource_dir("modules") / module
    return {
        f"modules/{module}/{path.relative_to(source).as_posix()}": path.read_bytes()
        for path in sorted(source.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(source).parts)
    }


_RESOURCE = re.compile(rb'^resource\s+"([a-z0-9_]+)"\s+"[^"]+"', re.MULTILINE)
# Resources the module creates only when the config asks for them.
_OPTIONAL = {"google_storage_bucket": "create_bucket", "google_dns_record_set": "manage_dns"}


def _resource_count(create_bucket: bool, manage_dns: bool) -> int:
    enabled = {"create_bucket": create_bucket, "manage_dns": manage_dns}
    count = 0
    for name, content in module_files(MODULE).items():
        if not name.endswith(".tf"):
            continue
        for match in _RESOURCE.finditer(content):
            flag = _OPTIONAL.get(match.group(1).decode())
            # The Cloud Armor policies are one for_each resource: an edge and a backend policy.
            weight = 2 if match.group(1) == b"google_compute_security_policy" else 1
            count += weight if flag is None or enabled[flag] else 0
    return count
