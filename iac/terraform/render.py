"""Render the two root Terraform modules of a deployment, each with a copy of the module it uses, into one tree.

`serving/` holds everything that serves the bucket (its state holds the HMAC secret); `allowlist/` holds the
Cloud Armor allow rules alone, with their own state, so a rotation never reads the secret (`ROOTS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from iac.allowlist.baseline import check_adopted
from iac.allowlist.ranges import range_notes
from iac.allowlist.rules import Assignment, Rule, assign
from iac.config.cors import CorsConfig
from iac.config.load import LoadedConfig
from iac.config.models import Config
from iac.gcp.names import ResourceNames
from iac.terraform import hcl
from iac.terraform.layout import ALLOWLIST, ROOTS, SERVING
from iac.terraform.templates import module_files, template

# The module each root copies and calls.
MODULE = "gcp-direct-access"
ALLOWLIST_MODULE = "gcp-direct-access-allowlist"
MODULES = {SERVING: MODULE, ALLOWLIST: ALLOWLIST_MODULE}


@dataclass(frozen=True)
class Rendered:
    """The files of a rendered configuration (relative POSIX path -> bytes) and what they deploy."""

    files: dict[str, bytes]
    resources: int  # in both roots
    ranges: int
    entries: int
    manage_dns: bool
    create_bucket: bool
    assignment: Assignment
    imports: tuple[int, ...] = ()  # priorities of the rules allowlist/imports.tf adopts

    @property
    def rules(self) -> int:
        return len(self.assignment.rules)


def allowlist_prefix(prefix: str | None) -> str:
    """The allowlist root's state prefix, beside the serving state's (`prefix`) in the same bucket."""
    parent = (prefix or "").rstrip("/")
    return f"{parent}/{ALLOWLIST}" if parent else ALLOWLIST


def import_id(project: str, policy: str, priority: int) -> str:
    """The id Terraform imports a `google_compute_security_policy_rule` by."""
    return f"projects/{project}/global/securityPolicies/{policy}/priority/{priority}"


def template_values(loaded: LoadedConfig, assignment: Assignment) -> dict[str, Any]:
    """The data the templates see: plain values; structure and escaping are the templates' and hcl's job."""
    config = loaded.config
    backend = config.terraform.backend
    # Each range carries its entries' comments onto its line, so the rendering's diff reads like the config's.
    notes = range_notes(loaded.allowlist, loaded.notes)
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
        "hmac_key": {"generation": config.hmac_key.generation},
        "allowlist_rules": [_rule_values(rule, notes) for rule in assignment.rules],
        "cors": bucket_cors(config),
        "url_map": ResourceNames.of(config.name).url_map,
        "backend": None if backend is None else {"bucket": backend.gcs.bucket, "prefix": backend.gcs.prefix},
    }


def _rule_values(rule: Rule, notes: Mapping[str, str]) -> dict[str, Any]:
    """A rule for main.tf.j2: its priority, and its ranges each with its config comment (when it has one)."""
    ranges = [hcl.Commented(cidr, notes[cidr]) if cidr in notes else cidr for cidr in rule.ranges]
    return {"priority": rule.priority, "ranges": ranges}


def bucket_cors(config: Config) -> dict[str, Any] | None:
    """The created bucket's CORS rule: Encord's, from the `cors:` settings (their defaults when there are
    none), unless `bucket.cors: false`. An existing bucket's CORS is not managed here (`iac cors apply`)."""
    if not config.bucket.create or not config.bucket.cors:
        return None
    rule = (config.cors or CorsConfig()).rule()
    return {
        "origins": list(rule.origins),
        "methods": list(rule.methods),
        "response_headers": list(rule.exposed_headers),
        "max_age": rule.max_age,
    }


def bucket_cors_summary(config: Config) -> str:
    """One line on the bucket's CORS for the render summary: who sets it, or how to set it."""
    if config.bucket.create:
        if not config.bucket.cors:
            return "CORS: none (bucket.cors is false): Encord's web app cannot read the files in the browser"
        origins = (config.cors or CorsConfig()).origins
        return f"CORS: Encord's rule for {', '.join(origins)}, set by Terraform"
    targets = config.cors.targets if config.cors else []
    if any(t.provider == "gcp" and t.bucket == config.bucket.name for t in targets):
        return "CORS: an existing bucket, set by `iac cors apply` (it is in cors.targets)"
    return (
        "CORS: not managed here (an existing bucket): add {provider: gcp, bucket: "
        f"{config.bucket.name}}} to cors.targets and run `iac cors apply`, or Encord's web app cannot read it"
    )


def render(
    loaded: LoadedConfig,
    current: Sequence[Rule] | None = None,
    *,
    repack: bool = False,
    provisional: bool = False,
    imports: Sequence[int] = (),
) -> Rendered:
    """Everything `iac render` writes, in memory: nothing touches the disk here.

    `current` is the rule assignment deployed or rendered before (`iac.allowlist.baseline`): ranges that stay
    keep their rules. The same config and the same `current` always give the same bytes. `provisional`
    marks rules packed only to let `terraform init` run before the deployed rules are known: such a
    rendering is never taken as the current assignment. `imports` are the priorities of the rules the
    allowlist root adopts from a single-root rendering (import blocks in allowlist/imports.tf); a change that
    removes one of them is refused (`iac.allowlist.baseline.ImportedRuleRemoved`).
    """
    config = loaded.config
    adopted = tuple(sorted(set(imports)))
    assignment = assign(loaded.allowlist, current, config.allowlist_max_rules, repack=repack)
    check_adopted(adopted, assignment)
    values = {**template_values(loaded, assignment), "provisional": provisional}
    values["imports"] = [
        {"key": f"{key}-{priority}", "id": import_id(config.project, policy, priority)}
        for priority in adopted
        for key, policy in _policies(config.name)
    ]
    files: dict[str, bytes] = {".gitignore": template("gitignore.j2", {"root": None})}
    for root in ROOTS:
        names = [("main.tf", f"{root}/main.tf.j2"), ("outputs.tf", f"{root}/outputs.tf.j2")]
        names.append(("versions.tf", "versions.tf.j2"))
        if values["backend"] is not None:
            names.append(("backend.tf", "backend.tf.j2"))
        names.append((".gitignore", "gitignore.j2"))
        if root == ALLOWLIST and adopted:
            names.append(("imports.tf", "allowlist/imports.tf.j2"))
        root_values = {**values, "root": root, "backend": _backend(values["backend"], root)}
        for target, name in names:
            files[f"{root}/{target}"] = template(name, root_values)
        files.update({f"{root}/{path}": data for path, data in module_files(MODULES[root]).items()})

    return Rendered(
        files=dict(sorted(files.items())),
        resources=resource_count(create_bucket=config.bucket.create, manage_dns=values["manage_dns"])
        + 2 * len(assignment.rules),
        ranges=len(loaded.allowlist.ranges),
        entries=loaded.allowlist.entries,
        manage_dns=values["manage_dns"],
        create_bucket=config.bucket.create,
        assignment=assignment,
        imports=adopted,
    )


def _policies(name: str) -> list[tuple[str, str]]:
    """Both policies of a deployment: the allowlist module's key for each, and its name."""
    names = ResourceNames.of(name)
    return [("edge", names.edge_policy), ("backend", names.backend_policy)]


def _backend(backend: dict[str, Any] | None, root: str) -> dict[str, Any] | None:
    """The state backend of `root`: serving keeps the configured prefix, allowlist/ is beside it."""
    if backend is None or root == SERVING:
        return backend
    return {**backend, "prefix": allowlist_prefix(backend["prefix"])}


# --- what the module creates, for the summary ----------------------------------------------------------------

# A top-level block `resource "TYPE" "NAME" {` of the module (formatted by `terraform fmt`, so its closing
# brace is the first one at column 0), and the meta-arguments at the block's own level, two spaces in (a
# nested `dynamic` block's `for_each` is further in).
_RESOURCE = re.compile(r'^resource\s+"([a-z0-9_]+)"\s+"([^"]+)"\s*\{\s*$(.*?)^\}', re.MULTILINE | re.DOTALL)
_META_ARGUMENT = re.compile(r"^  (count|for_each)\s*=\s*(.*?)\s*$", re.MULTILINE)
_CONDITIONAL = re.compile(r"(.+?)\s*\?\s*(\d+)\s*:\s*(\d+)")
_LOCAL = re.compile(r"local\.([a-z_][a-z0-9_]*)")
_LOCALS = re.compile(r"^locals\s*\{\s*$(.*?)^\}", re.MULTILINE | re.DOTALL)
# The conditions the module's counts test, and the config fact (a `Rendered` field) each one is.
_CONDITIONS = {"var.bucket.create": "create_bucket", "var.dns_zone != null": "manage_dns"}


@dataclass(frozen=True)
class ModuleResource:
    """A resource block of the module and its instances: `count = CONDITION ? N : M` on a config fact
    (`flag`), a number, `for_each` over a map of the module's locals, or neither (one)."""

    address: str
    instances: int  # when `flag` holds, or always without a flag
    flag: str | None = None
    otherwise: int = 0  # when `flag` does not hold

    def count(self, flags: Mapping[str, bool]) -> int:
        return self.instances if self.flag is None or flags[self.flag] else self.otherwise


@cache
def module_resources(module: str = MODULE) -> tuple[ModuleResource, ...]:
    """Every resource block of modules/`module` with its instance count, read from the module once.

    An expression iac cannot count is an error (the module changed without this parse); the tests compare
    the result with python-hcl2's reading of the module, for every example.
    """
    sources = {name: data.decode("utf-8") for name, data in module_files(module).items() if name.endswith(".tf")}
    text = "\n".join(sources.values())
    found = []
    for name, source in sources.items():
        for match in _RESOURCE.finditer(source):
            address = f"{match.group(1)}.{match.group(2)}"
            meta = _META_ARGUMENT.findall(match.group(3))
            if not meta:
                found.append(ModuleResource(address, 1))
            elif len(meta) > 1:
                raise ValueError(f"{name}: {address} has more than one count or for_each")
            elif meta[0][0] == "count":
                found.append(_counted(name, address, meta[0][1]))
            else:
                found.append(ModuleResource(address, _for_each_size(name, address, meta[0][1], text)))
    return tuple(found)


def _counted(name: str, address: str, expression: str) -> ModuleResource:
    if expression.isdigit():
        return ModuleResource(address, int(expression))
    conditional = _CONDITIONAL.fullmatch(expression)
    if conditional is None or conditional.group(1) not in _CONDITIONS:
        raise ValueError(f"{name}: {address}: iac cannot count `count = {expression}` (see render._CONDITIONS)")
    yes, no = int(conditional.group(2)), int(conditional.group(3))
    return ModuleResource(address, yes, _CONDITIONS[conditional.group(1)], no)


def _for_each_size(name: str, address: str, expression: str, text: str) -> int:
    """The number of keys of the map `for_each = local.NAME` iterates over, from the module's `locals`."""
    local = _LOCAL.fullmatch(expression)
    if local is not None:
        for block in _LOCALS.finditer(text):
            # The map is two spaces in, its keys four spaces in, one a line.
            found = re.search(
                rf"^  {local.group(1)}\s*=\s*\{{\s*$(.*?)^  \}}", block.group(1), re.MULTILINE | re.DOTALL
            )
            if found is not None:
                return len(re.findall(r"^    [A-Za-z_][A-Za-z0-9_-]*\s*=", found.group(1), re.MULTILINE))
    raise ValueError(f"{name}: {address}: iac cannot count `for_each = {expression}`")


def resource_count(*, create_bucket: bool, manage_dns: bool) -> int:
    """The resource instances the serving module creates in the project for a config (the allow rules are the
    allowlist module's; Terraform's own `terraform_data`, which lives in the state only, is not one)."""
    flags = {"create_bucket": create_bucket, "manage_dns": manage_dns}
    return sum(resource.count(flags) for resource in module_resources(MODULE) if resource.address.startswith("google_"))
